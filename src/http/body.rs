//! The body of a PUT or UploadPart: the caller's bytes fed to the socket in
//! chunks, so progress is reported, cancellation noticed and the bandwidth
//! limit kept as it goes, and sent again from the start when the request is.

use std::io::{self, Read};

use pyo3::prelude::*;

use crate::control::Control;

/// Bytes of the body handed to the socket between progress reports.
const SEND_CHUNK: usize = 256 << 10;

/// The caller's bytes as a request body.
pub struct BodySource<'a> {
    data: &'a [u8],
    sent: usize,
    control: &'a Control,
    /// Why the body stopped early (cancelled, or the progress callback
    /// raised): the request's error, rather than the broken pipe it causes.
    stopped: Option<PyErr>,
}

impl<'a> BodySource<'a> {
    /// `data`, none of it sent yet, reported to `control`.
    pub fn new(data: &'a [u8], control: &'a Control) -> Self {
        BodySource {
            data,
            sent: 0,
            control,
            stopped: None,
        }
    }

    /// Bytes handed to the socket so far (and reported as progress).
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// Why the body stopped early, if it did.
    pub fn stopped(&mut self) -> Option<PyErr> {
        self.stopped.take()
    }

    fn next_chunk(&mut self, buffer: &mut [u8]) -> PyResult<usize> {
        self.control.ensure_running()?;
        let n = buffer
            .len()
            .min(SEND_CHUNK)
            .min(self.data.len() - self.sent);
        buffer[..n].copy_from_slice(&self.data[self.sent..self.sent + n]);
        self.sent += n;
        self.control.record_moved(n)?;
        Ok(n)
    }

    /// Back to the first byte, for the same body sent again; the progress
    /// reported is taken back.
    pub fn rewind(&mut self) -> PyResult<()> {
        self.control.record(-(self.sent as i64))?;
        self.sent = 0;
        Ok(())
    }
}

impl Read for BodySource<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.next_chunk(buffer).map_err(|err| {
            self.stopped = Some(err);
            io::Error::other("request body stopped")
        })
    }
}
