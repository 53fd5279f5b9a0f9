//! TCP connections for the native data plane: Nagle off, and every read
//! preceded by TCP_QUICKACK.
//!
//! Servers that leave Nagle's algorithm on (hyper- and werkzeug-based ones,
//! s3s-fs and moto among them) send a response's head and body in two
//! writes, and hold the body until the head is acknowledged. Linux delays
//! that acknowledgement by up to 40 ms on a reused connection, so every GET
//! on a kept-alive connection took 44 ms instead of 0.3 ms (measured on
//! s3s-fs). Asking for a quick ACK before each read removes the wait and
//! keeps connection reuse, which TLS endpoints need.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};
use ureq::Timeout;

#[derive(Debug, Default)]
pub struct QuickAckConnector;

/// A plain TCP transport (what ureq's own does) that asks for a quick ACK
/// before each read.
#[derive(Debug)]
pub struct QuickAckTransport {
    stream: TcpStream,
    buffers: LazyBuffers,
    /// The timeouts last set on the socket, to set them only when they change.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
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

impl Connector<()> for QuickAckConnector {
    type Out = QuickAckTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let stream = connect(details)?;
        stream.set_nodelay(true)?;
        let config = details.config;
        Ok(Some(QuickAckTransport {
            stream,
            buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()),
            read_timeout: None,
            write_timeout: None,
        }))
    }
}

fn quick_ack(stream: &TcpStream) {
    let on: libc::c_int = 1;
    #[allow(unsafe_code)]
    // Safety: the descriptor belongs to `stream`, open for the whole call,
    // and the option value is a c_int that outlives the call.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
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

impl Transport for QuickAckTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let (duration, reason) = limit(timeout.for_write())?;
        if duration != self.write_timeout {
            self.stream.set_write_timeout(duration)?;
            self.write_timeout = duration;
        }
        let output = &self.buffers.output()[..amount];
        self.stream
            .write_all(output)
            .map_err(|e| timed_out(e, reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let (duration, reason) = limit(timeout.for_read())?;
        if duration != self.read_timeout {
            self.stream.set_read_timeout(duration)?;
            self.read_timeout = duration;
        }
        // The kernel leaves quick-ACK mode on its own, so it is asked for
        // again before every read (one cheap system call).
        quick_ack(&self.stream);
        let amount = loop {
            match self.stream.read(self.buffers.input_append_buf()) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
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
