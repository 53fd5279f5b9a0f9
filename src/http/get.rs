//! GET: the request, and the response whose body is streamed into a
//! download's `PartSink` with the GIL released.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use ureq::http::Method;
use ureq::BodyReader;

use super::errors::{read_error, truncated};
use super::header::header_map;
use super::request::ObjectRequest;
use super::sign::Credentials;
use super::tcp::{self, Until};
use super::Engine;
use crate::control::Control;
use crate::writer::PartSink;

/// Bytes gathered from the socket before each write to the destination.
const READ_CHUNK: usize = 1 << 20;

/// What to GET: `bucket/key`, bytes `start..end` of it if `byte_range` is
/// given, only while its ETag is `if_match` if that is given.
pub struct Get<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub byte_range: Option<(u64, u64)>,
    pub if_match: Option<String>,
}

/// GETs `get`, asking for the stored checksum; the body is left unread.
/// The wait for the answer gives way once `control` is cancelled.
pub fn get(
    engine: &Engine,
    py: Python<'_>,
    credentials: Credentials,
    get: Get<'_>,
    control: Option<Py<Control>>,
) -> PyResult<Response> {
    let mut headers = vec![("x-amz-checksum-mode".to_owned(), "ENABLED".to_owned())];
    if let Some((start, end)) = get.byte_range {
        if end <= start {
            return Err(PyValueError::new_err("empty byte range"));
        }
        headers.push(("range".into(), format!("bytes={start}-{}", end - 1)));
    }
    if let Some(etag) = get.if_match {
        headers.push(("if-match".into(), etag));
    }
    let request = ObjectRequest {
        method: Method::GET,
        bucket: get.bucket,
        key: get.key,
        query: Vec::new(),
        headers,
    };
    let response = py.detach(|| {
        tcp::watching(control, Until::Answered, || {
            Ok(engine.send(&credentials, &request, None)?)
        })
    })?;
    Ok(Response {
        origin: engine.endpoint.origin(),
        headers: header_map(response.headers()),
        body: Mutex::new(BodyState::Idle(Body {
            unread: response.body().content_length(),
            reader: response.into_body().into_reader(),
        })),
    })
}

struct Body {
    reader: BodyReader<'static>,
    /// Bytes of the announced length not read yet.
    unread: Option<u64>,
}

/// Where a response's body is. The lock around it is only ever held for a
/// moment, never while the GIL is let go or taken: a reader takes the body
/// out for the length of its read, so `close()` never waits for it.
enum BodyState {
    Idle(Body),
    Reading,
    Closed,
}

/// A GET response whose body has not been read yet.
#[pyclass(frozen)]
pub struct Response {
    /// `scheme://authority` of the server, for error messages.
    origin: String,
    headers: HashMap<String, String>,
    body: Mutex<BodyState>,
}

impl Response {
    fn take_body(&self) -> PyResult<Body> {
        let mut state = self.body.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *state, BodyState::Reading) {
            BodyState::Idle(body) => Ok(body),
            other => {
                let why = match other {
                    BodyState::Reading => "the response is being read by another call",
                    _ => "the response was closed",
                };
                *state = other;
                Err(PyValueError::new_err(why))
            }
        }
    }

    /// Puts the body back after a read, unless the response was closed
    /// meanwhile: then it is dropped here (with its connection).
    fn return_body(&self, body: Body) {
        let mut state = self.body.lock().unwrap_or_else(|e| e.into_inner());
        if let BodyState::Reading = *state {
            *state = BodyState::Idle(body);
            return;
        }
        drop(state);
        drop(body);
    }
}

/// Reads exactly `length` bytes of `body` into `sink`. Under a bandwidth
/// limit each chunk is paid for before it is read: the socket's receive
/// buffer (kept small then, see `tcp.rs`) fills and the server stops
/// sending until the limit allows more. Paid after, the kernel kept
/// receiving into every connection's buffer while its reader slept, and
/// the wire ran ahead of the limit (issue 27: 1.35x for 40 downloads at
/// once).
fn stream_body(origin: &str, body: &mut Body, sink: &mut PartSink, length: u64) -> PyResult<()> {
    let Body { reader, unread } = body;
    let size = READ_CHUNK.min(length as usize).max(1);
    let mut buffer = sink.buffer(size);
    let mut remaining = length;
    let expecting = tcp::expect_body(length as usize);
    while remaining > 0 {
        let want = remaining.min(buffer.len() as u64) as usize;
        if let Some(control) = sink.control() {
            control.get().pay(want)?;
        }
        let mut filled = 0;
        while filled < want {
            expecting.update((remaining - filled as u64) as usize);
            match reader.read(&mut buffer[filled..want]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    sink.append_owned(buffer, filled)?;
                    return Err(read_error(origin, &e));
                }
            }
        }
        buffer = sink.append_owned(buffer, filled)?;
        remaining -= filled as u64;
        *unread = unread.map(|n| n.saturating_sub(filled as u64));
        if filled < want {
            return Err(truncated(remaining));
        }
    }
    drop(expecting);
    if *unread == Some(0) {
        // Read to the end, so ureq hands the connection back to its pool
        // instead of closing it (a new connection per part).
        let _ = reader.read(&mut buffer[..1]);
    }
    Ok(())
}

#[pymethods]
impl Response {
    /// Response headers, names in lower case.
    #[getter]
    fn headers(&self) -> HashMap<String, String> {
        self.headers.clone()
    }

    /// Streams exactly `length` body bytes into `sink`; raises `Truncated`
    /// if the body ends early.
    fn read_into(&self, py: Python<'_>, sink: &Bound<'_, PartSink>, length: u64) -> PyResult<()> {
        let mut sink = sink.borrow_mut();
        let sink: &mut PartSink = &mut sink;
        let watched = sink.control().map(|control| control.clone_ref(py));
        let mut body = self.take_body()?;
        let result = py.detach(|| {
            tcp::watching(watched, Until::Answered, || {
                stream_body(&self.origin, &mut body, sink, length)
            })
        });
        self.return_body(body);
        result
    }

    /// Drops the connection if the body was not read to its end. During a
    /// read it returns at once; the read's connection is dropped when it ends.
    fn close(&self) {
        let old = {
            let mut state = self.body.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *state, BodyState::Closed)
        };
        drop(old);
    }
}
