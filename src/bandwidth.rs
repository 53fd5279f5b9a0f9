//! A manager's bandwidth limit: one token bucket shared by every part of
//! every transfer of the manager, uploads and downloads alike (docs/design.md
//! says why one bucket rather than one per direction).
//!
//! Bytes are paid for as they cross the wire (`Control::record_moved`, the
//! one place both data planes' bytes pass through, is the only taker). A taker may overdraw the
//! bucket, by a chunk larger than the bucket, say, and then waits until the
//! debt is repaid: the long-run rate is exact whatever the chunk size, and the
//! bucket's size only bounds how far ahead of the rate a manager can get after
//! a pause.

use std::num::NonZeroU64;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// Seconds of traffic a full bucket holds, the most a manager gets ahead of
/// the limit after a pause: an eighth of a second keeps the rate over any
/// few seconds within a few per cent of the limit. (From 8 MiB/s up it also
/// holds a whole 1 MiB read; below, a read overdraws it, which costs nothing
/// in accuracy.)
const BURST_SECONDS: f64 = 0.125;

/// Longest sleep between looks at the transfer's cancellation flag (and, on
/// the main thread, at Ctrl-C): a cancelled transfer never waits out its debt.
const SLICE: Duration = Duration::from_millis(50);

/// The receive buffer (SO_RCVBUF) of each of the `connections` a manager
/// limited to `rate` bytes a second may open: together they hold what a
/// full bucket holds, an eighth of a second of the limit, and each at least
/// 64 KiB. The reader pays before it reads, so that is about all a manager
/// receives ahead of its limit; Linux's own tuning (the default) grows a
/// busy connection's buffer to megabytes, all of it ahead of the limit, and
/// a buffer of a whole bucket per connection was worse still (measured:
/// 1.9x the limit on the wire for 40 downloads in parallel). The price: one
/// connection carries at most about its buffer per round trip (64 KiB at
/// 50 ms: 1.3 MiB/s), so a limit above that over a long round trip is
/// reached with several connections only.
pub fn receive_buffer(rate: u64, connections: usize) -> usize {
    let share = rate as f64 * BURST_SECONDS / connections.max(1) as f64;
    (share as usize).max(64 << 10)
}

/// At most `bytes_per_second` bytes a second through every transfer that
/// shares it.
#[pyclass(frozen)]
pub struct Bandwidth {
    rate: f64,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    /// Bytes that may pass now; negative while takers are waiting one out.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Bandwidth {
    /// Pays for `n` bytes, waiting (in slices, without the GIL: call it
    /// detached) until the bucket is out of debt. Between slices it asks
    /// `running` whether the taker still runs, and fails with its error
    /// (a cancelled transfer's) if not.
    pub fn spend(&self, n: u64, running: impl Fn() -> PyResult<()>) -> PyResult<()> {
        let ready = self.reserve(n);
        loop {
            let now = Instant::now();
            if now >= ready {
                return Ok(());
            }
            running()?;
            thread::sleep((ready - now).min(SLICE));
        }
    }

    /// Takes `n` tokens; returns when the bucket will have repaid them.
    fn reserve(&self, n: u64) -> Instant {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let earned = now.duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + earned).min(self.rate * BURST_SECONDS) - n as f64;
        bucket.at = now;
        if bucket.tokens >= 0.0 {
            now
        } else {
            now + Duration::from_secs_f64(-bucket.tokens / self.rate)
        }
    }
}

#[pymethods]
impl Bandwidth {
    /// A limit of `bytes_per_second` (at least 1), starting with a full
    /// bucket.
    #[new]
    fn new(bytes_per_second: NonZeroU64) -> Self {
        let rate = bytes_per_second.get() as f64;
        Bandwidth {
            rate,
            bucket: Mutex::new(Bucket {
                tokens: rate * BURST_SECONDS,
                at: Instant::now(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_an_eighth_of_a_second_through_then_charges_the_rate() {
        let bandwidth = Bandwidth::new(NonZeroU64::new(8_000).unwrap());
        let start = Instant::now();
        assert!(bandwidth.reserve(1_000) <= Instant::now());
        let ready = bandwidth.reserve(4_000);
        let owed = ready.duration_since(start).as_secs_f64();
        assert!((0.49..0.6).contains(&owed), "{owed}");
    }

    #[test]
    fn connections_share_an_eighth_of_a_second_of_receive_buffers() {
        assert_eq!(receive_buffer(80 << 20, 40), 256 << 10);
        assert_eq!(receive_buffer(10 << 20, 40), 64 << 10);
        assert_eq!(receive_buffer(1 << 10, 0), 64 << 10);
    }

    #[test]
    fn takers_queue_behind_one_another_debt() {
        let bandwidth = Bandwidth::new(NonZeroU64::new(1_000).unwrap());
        let start = Instant::now();
        let first = bandwidth.reserve(1_125);
        let second = bandwidth.reserve(1_000);
        assert!(first.duration_since(start).as_secs_f64() > 0.9);
        assert!(second.duration_since(start).as_secs_f64() > 1.9);
    }
}
