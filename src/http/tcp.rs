//! TCP connections for the native data plane: Nagle off, and (with socket
//! tuning on, Linux only: see `platform.rs`) every read preceded by
//! TCP_QUICKACK and large bodies read in batches.
//!
//! Servers that leave Nagle's algorithm on (hyper- and werkzeug-based ones,
//! s3s-fs and moto among them) send a response's head and body in two
//! writes, and hold the body until the head is acknowledged. Linux delays
//! that acknowledgement by up to 40 ms on a reused connection, so every GET
//! on a kept-alive connection took 44 ms instead of 0.3 ms (measured on
//! s3s-fs). Asking for a quick ACK before each read removes the wait and
//! keeps connection reuse, which TLS endpoints need.
//!
//! A large body is read in batches: while a reader on this thread expects
//! many more body bytes ([`expect_body`]), the socket's SO_RCVLOWAT makes
//! each read wait for a batch instead of waking for every few kilobytes.
//! Fewer, larger window updates let a busy server send in larger bursts.
//!
//! Under a bandwidth limit every connection's receive buffer is capped
//! (SO_RCVBUF, `bandwidth::receive_buffer`): the reader pays for each chunk
//! before reading it, and the kernel then holds little more than that ahead
//! of the limit, where its autotuned buffer held megabytes per connection.
//!
//! While a transfer's request is on this thread ([`watching`]), every wait on
//! the socket is cut into slices of [`WATCH_SLICE`], and the transfer's
//! `Control` is asked between them: a cancelled transfer (Ctrl-C, SIGTERM,
//! a cancelled task) stops waiting for a server that holds its answer, or
//! does not read its body, instead of waiting out the read timeout. A PUT
//! that makes an object still waits for its answer once its body is sent:
//! the server may have stored it, and the caller reports what completed.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
};
use ureq::Timeout;

use rustix::net::sockopt::set_socket_recv_buffer_size;

use crate::control::Control;
use crate::platform;

/// The longest a watched socket wait lasts before the transfer is asked
/// whether it still runs: well under the second a cancellation must take.
const WATCH_SLICE: Duration = Duration::from_millis(100);

/// The transfer whose request is on this thread, and why it stopped.
struct Watched {
    control: Py<Control>,
    until: Until,
    stopped: Option<PyErr>,
}

/// Until when a request's waits may give way to a cancellation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Its answer: dropping the request changes nothing its caller counts
    /// on (a GET; a part, which makes no object until the upload completes).
    Answered,
    /// Its body is sent: from then on the server may act on it (a PUT that
    /// makes an object), and only its answer tells the caller whether it did.
    Sent,
}

thread_local! {
    /// Body bytes the response reader on this thread has yet to deliver.
    static BODY_EXPECTED: Cell<usize> = const { Cell::new(0) };
    static WATCHED: RefCell<Option<Watched>> = const { RefCell::new(None) };
}

/// Runs `run` with the socket waits on this thread watched by `control`
/// (if given) `until` the request is answered or sent: such a wait gives
/// way once the transfer is cancelled, and the request then fails with why
/// (`Cancelled`, or the `KeyboardInterrupt` a signal raised on the main
/// thread) instead of the I/O error that ended it.
pub fn watching<T>(
    control: Option<Py<Control>>,
    until: Until,
    run: impl FnOnce() -> PyResult<T>,
) -> PyResult<T> {
    let Some(control) = control else {
        return run();
    };
    let _guard = Unwatch(WATCHED.replace(Some(Watched {
        control,
        until,
        stopped: None,
    })));
    let result = run();
    let stopped = WATCHED.with_borrow_mut(|w| w.as_mut().and_then(|w| w.stopped.take()));
    match (result, stopped) {
        (Err(_), Some(why)) => Err(why),
        (result, _) => result,
    }
}

/// Puts back the watch a nested `watching` replaced (none, as a rule).
/// Not attached to Python when it drops: pyo3 defers releasing the control.
struct Unwatch(Option<Watched>);

impl Drop for Unwatch {
    fn drop(&mut self) {
        WATCHED.set(self.0.take());
    }
}

/// Whether socket waits on this thread, for the answer or to send, are
/// watched.
fn watched(answer: bool) -> bool {
    WATCHED.with_borrow(|w| {
        w.as_ref()
            .is_some_and(|w| !answer || w.until == Until::Answered)
    })
}

/// Whether the watched transfer still runs; if not, notes why and returns
/// the I/O error that ends the wait. The watch is out of its cell while
/// Python runs (a signal handler), so nothing it calls can find it borrowed.
fn still_running() -> io::Result<()> {
    let Some(mut watched) = WATCHED.take() else {
        return Ok(());
    };
    let result = watched.control.get().ensure_running();
    let outcome = result.map_err(|err| {
        watched.stopped = Some(err);
        io::Error::other("transfer cancelled")
    });
    WATCHED.set(Some(watched));
    outcome
}

/// The timeout of the next read or write of a wait that may last
/// `duration`, until `deadline`: all of it, or a slice when watched.
fn slice(duration: Option<Duration>, deadline: Option<Instant>, watched: bool) -> Option<Duration> {
    if !watched {
        return duration;
    }
    let left = deadline.map_or(WATCH_SLICE, |d| d.saturating_duration_since(Instant::now()));
    Some(left.clamp(Duration::from_millis(1), WATCH_SLICE))
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// Tells reads on this thread that a response body has `bytes` more to
/// deliver (0 when no body is being read); returned to 0 when the guard drops.
pub fn expect_body(bytes: usize) -> BodyGuard {
    BODY_EXPECTED.set(bytes);
    BodyGuard
}

pub struct BodyGuard;

impl BodyGuard {
    pub fn update(&self, bytes: usize) {
        BODY_EXPECTED.set(bytes);
    }
}

impl Drop for BodyGuard {
    fn drop(&mut self) {
        BODY_EXPECTED.set(0);
    }
}

/// Opens the TCP connections of an agent (unless an earlier connector, a
/// proxy's, already did), tuned or plain.
#[derive(Debug)]
pub struct TunedConnector {
    /// Quick ACKs (where the system has them).
    tuning: bool,
    /// Batched body reads too (plain HTTP only, where the system has them).
    batch_reads: bool,
    /// SO_RCVBUF of every connection, under a bandwidth limit.
    receive_buffer: Option<usize>,
}

impl TunedConnector {
    pub fn new(tuning: bool, batch_reads: bool) -> Self {
        let available = platform::tuning_available();
        TunedConnector {
            tuning: tuning && available,
            batch_reads: batch_reads && available && platform::low_water_reads_batch(),
            receive_buffer: None,
        }
    }

    /// Connections that receive at most `size` bytes ahead of their reader
    /// (`bandwidth::receive_buffer`), if given.
    pub fn receive_buffer(mut self, size: Option<usize>) -> Self {
        self.receive_buffer = size;
        self
    }
}

/// A plain TCP transport (what ureq's own does) that can ask for a quick ACK
/// before each read and batch body reads.
#[derive(Debug)]
pub struct TunedTransport {
    stream: TcpStream,
    buffers: LazyBuffers,
    /// The timeouts last set on the socket, to set them only when they change.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    quick_ack: bool,
    /// Whether reads may wait for a batch: not under TLS, whose layer
    /// buffers bytes this transport cannot see.
    batch_reads: bool,
    /// SO_RCVLOWAT as last set.
    low_water: usize,
    /// Body bytes ureq may hold unread: reads never wait for those.
    input_capacity: usize,
}

fn connect(details: &ConnectionDetails) -> Result<TcpStream, ureq::Error> {
    let timeout = details.timeout.not_zero().map(|t| *t);
    let mut last = None;
    for addr in &details.addrs {
        let attempt = match timeout {
            Some(timeout) => TcpStream::connect_timeout(addr, timeout),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == io::ErrorKind::TimedOut => ureq::Error::Timeout(Timeout::Connect),
        Some(e) => ureq::Error::Io(e),
        None => ureq::Error::HostNotFound,
    })
}

impl<In: Transport> Connector<In> for TunedConnector {
    type Out = Either<In, TunedTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(transport) = chained {
            return Ok(Some(Either::A(transport)));
        }
        let stream = connect(details)?;
        stream.set_nodelay(true)?;
        if let Some(size) = self.receive_buffer {
            set_socket_recv_buffer_size(&stream, size).map_err(io::Error::from)?;
        }
        let config = details.config;
        Ok(Some(Either::B(TunedTransport {
            stream,
            buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()),
            read_timeout: None,
            write_timeout: None,
            quick_ack: self.tuning,
            batch_reads: self.batch_reads && details.uri.scheme_str() == Some("http"),
            low_water: 1,
            input_capacity: config.input_buffer_size(),
        })))
    }
}

/// How many bytes a read waits for: only bytes certain to come, since
/// whatever ureq already holds (up to `held` bytes) may be all that is left
/// of the body, and no more than fit in the buffer.
fn batch_size(expected: usize, held: usize, free: usize) -> usize {
    expected.saturating_sub(held).min(free).max(1)
}

/// The deadline of the next I/O, or the timeout error if it has passed.
fn limit(timeout: NextTimeout) -> Result<(Option<Duration>, Timeout), ureq::Error> {
    if timeout.after.is_zero() {
        return Err(ureq::Error::Timeout(timeout.reason));
    }
    Ok((timeout.not_zero().map(|t| *t), timeout.reason))
}

fn timed_out(err: io::Error, reason: Timeout) -> ureq::Error {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ureq::Error::Timeout(reason),
        _ => ureq::Error::Io(err),
    }
}

impl TunedTransport {
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if timeout != self.write_timeout {
            self.stream.set_write_timeout(timeout)?;
            self.write_timeout = timeout;
        }
        Ok(())
    }
}

impl Transport for TunedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let (duration, reason) = limit(timeout.for_write())?;
        let deadline = duration.map(|d| Instant::now() + d);
        let watched = watched(false);
        let mut sent = 0;
        while sent < amount {
            self.set_write_timeout(slice(duration, deadline, watched))?;
            match self.stream.write(&self.buffers.output()[sent..amount]) {
                Ok(0) => return Err(ureq::Error::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted || (is_timeout(&e) && watched) => {
                    if is_timeout(&e) && passed(deadline) {
                        return Err(ureq::Error::Timeout(reason));
                    }
                    still_running()?;
                }
                Err(e) => return Err(timed_out(e, reason)),
            }
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let (duration, reason) = limit(timeout.for_read())?;
        let deadline = duration.map(|d| Instant::now() + d);
        let watched = watched(true);
        let free = self.buffers.input_append_buf().len();
        let low_water = if self.batch_reads {
            batch_size(BODY_EXPECTED.get(), self.input_capacity, free)
        } else {
            1
        };
        if low_water != self.low_water {
            platform::set_low_water(&self.stream, low_water);
            self.low_water = low_water;
        }
        let amount = loop {
            let timeout = slice(duration, deadline, watched);
            if timeout != self.read_timeout {
                self.stream.set_read_timeout(timeout)?;
                self.read_timeout = timeout;
            }
            if self.quick_ack {
                // The kernel leaves quick-ACK mode on its own, so it is asked
                // for again before every read (one cheap system call).
                platform::quick_ack(&self.stream);
            }
            match self.stream.read(self.buffers.input_append_buf()) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted || (is_timeout(&e) && watched) => {
                    if is_timeout(&e) && passed(deadline) {
                        return Err(ureq::Error::Timeout(reason));
                    }
                    still_running()?;
                }
                other => break other.map_err(|e| timed_out(e, reason))?,
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // A pooled connection is fit for reuse if reading would block: the
        // server has neither closed it nor sent anything unasked.
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut probe = [0];
        let open = matches!(
            self.stream.read(&mut probe),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        );
        open && self.stream.set_nonblocking(false).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::batch_size;

    #[test]
    fn reads_wait_only_for_bytes_certain_to_come() {
        // No body being read, or its tail: wake on the first byte.
        assert_eq!(batch_size(0, 128, 64), 1);
        assert_eq!(batch_size(100, 128, 64), 1);
        assert_eq!(batch_size(128, 128, 64), 1);
        // Far from the end: as much as fits, never more than will come.
        assert_eq!(batch_size(1000, 128, 64), 64);
        assert_eq!(batch_size(160, 128, 64), 32);
        assert_eq!(batch_size(1000, 128, 0), 1);
    }
}
