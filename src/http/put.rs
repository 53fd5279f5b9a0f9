//! PUT and UploadPart: the body streamed from the caller's bytes, with its
//! CRC in the checksum headers.

use std::collections::HashMap;
use std::io::{self, Read};

use pyo3::prelude::*;
use ureq::http::Method;

use super::get::header_map;
use super::request::ObjectRequest;
use super::sign::{checksum_headers, Credentials};
use super::tcp::{self, Until};
use super::Engine;
use crate::buffer::Bytes;
use crate::checksum::Algorithm;
use crate::control::Control;

/// Bytes of the body handed to the socket between progress reports.
const SEND_CHUNK: usize = 256 << 10;

/// The request body: bytes fed to the socket in chunks so progress is
/// reported, cancellation noticed and the bandwidth limit kept as it goes.
pub struct BodySource<'a> {
    data: &'a [u8],
    sent: usize,
    control: &'a Control,
    /// Why the body stopped early (cancelled, or the progress callback
    /// raised): the request's error, rather than the broken pipe it causes.
    stopped: Option<PyErr>,
}

impl BodySource<'_> {
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

/// PUTs `body` at `bucket/key` (as part `number` of multipart upload
/// `upload_id` when `part` is given) with its CRC; returns the response
/// headers. An immutable `bytes` body is sent in place, any other buffer
/// from a copy taken first (see `buffer.rs`).
#[allow(clippy::too_many_arguments)]
pub fn put(
    engine: &Engine,
    py: Python<'_>,
    credentials: Credentials,
    bucket: &str,
    key: &str,
    body: &Bound<'_, PyAny>,
    checksum: (String, u64),
    mut headers: Vec<(String, String)>,
    control: Py<Control>,
    part: Option<(String, u32)>,
) -> PyResult<HashMap<String, String>> {
    let watched = control.clone_ref(py);
    let control = control.get();
    let (algorithm, crc) = checksum;
    headers.extend(checksum_headers(Algorithm::parse(&algorithm)?, crc));
    let contents = Bytes::new(body)?.contents(py);
    let data = contents.as_slice();
    headers.push(("content-length".into(), data.len().to_string()));
    // A part makes no object: only an object's PUT must hear its answer.
    let until = if part.is_some() {
        Until::Answered
    } else {
        Until::Sent
    };
    let query = match part {
        Some((upload_id, number)) => {
            vec![("partNumber", number.to_string()), ("uploadId", upload_id)]
        }
        None => Vec::new(),
    };
    let request = ObjectRequest {
        method: Method::PUT,
        bucket,
        key,
        query,
        headers,
    };
    let mut source = BodySource {
        data,
        sent: 0,
        control,
        stopped: None,
    };
    let result = py.detach(|| {
        tcp::watching(Some(watched), until, || {
            let mut response = engine.send(&credentials, &request, Some(&mut source))?;
            // Drained (it is empty), so the connection goes back to the pool.
            let _ = response.body_mut().read_to_vec();
            Ok(header_map(response.headers()))
        })
    });
    if result.is_err() {
        control.record(-(source.sent as i64))?;
    }
    // A body stopped early fails the request with why it stopped, rather
    // than with the broken pipe it causes.
    result.map_err(|err| source.stopped.take().unwrap_or(err))
}
