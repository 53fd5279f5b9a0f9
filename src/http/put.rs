//! PUT and UploadPart: the caller's bytes sent as the body (`body.rs`),
//! with their CRC in the checksum headers.

use std::collections::HashMap;

use pyo3::prelude::*;
use ureq::http::Method;

use super::body::BodySource;
use super::header::header_map;
use super::request::ObjectRequest;
use super::sign::{checksum_headers, Credentials};
use super::tcp::{self, Until};
use super::Engine;
use crate::buffer::Bytes;
use crate::checksum::Algorithm;
use crate::control::Control;

/// Bodies from this size on are sent only once the server has agreed to
/// take them (`Expect: 100-continue`, as botocore sends every file body).
/// A server that refuses a request by its head (a signature scoped for
/// another region, a key without the permission) may answer at once and
/// close: a sender still writing a body too large for the socket buffers
/// then fails with a broken pipe and never reads the answer (Garage: 4 MB
/// bodies did, 1 MB ones fitted), so the region it names was never learnt.
/// Below this size the wait for the go-ahead (a round trip) would cost
/// more than it saves. Through a forward proxy bodies go without it
/// (`Engine::expect_continue`).
const EXPECT_CONTINUE_FROM: usize = 1 << 20;

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
    if engine.expect_continue && data.len() >= EXPECT_CONTINUE_FROM {
        headers.push(("expect".into(), "100-continue".into()));
    }
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
    let mut source = BodySource::new(data, control);
    let result = py.detach(|| {
        tcp::watching(Some(watched), until, || {
            let mut response = engine.send(&credentials, &request, Some(&mut source))?;
            // Drained (it is empty), so the connection goes back to the pool.
            let _ = response.body_mut().read_to_vec();
            Ok(header_map(response.headers()))
        })
    });
    if result.is_err() {
        control.record(-(source.sent() as i64))?;
    }
    // A body stopped early fails the request with why it stopped, rather
    // than with the broken pipe it causes.
    result.map_err(|err| source.stopped().unwrap_or(err))
}
