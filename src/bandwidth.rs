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
    fn takers_queue_behind_one_another_debt() {
        let bandwidth = Bandwidth::new(NonZeroU64::new(1_000).unwrap());
        let start = Instant::now();
        let first = bandwidth.reserve(1_125);
        let second = bandwidth.reserve(1_000);
        assert!(first.duration_since(start).as_secs_f64() > 0.9);
        assert!(second.duration_since(start).as_secs_f64() > 1.9);
    }
}
