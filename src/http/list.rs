//! ListObjectsV2: one page of a bucket's keys, as the server's XML.
//!
//! The native plane lists so that a command that only lists (`ls`), or a
//! sync that lists before it moves bytes, never needs boto3 (0.15 s to
//! import). The XML is parsed in Python (`_planes/pages.py`), as
//! botocore parses it, into the same page dictionary.

use std::io::Read;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use ureq::http::Method;

use super::errors::read_error;
use super::request::ObjectRequest;
use super::sign::Credentials;
use super::Engine;

/// Largest listing page read: a page holds at most 1,000 keys of at most
/// 1,024 bytes each, escaped, with their other fields.
const PAGE_LIMIT: u64 = 64 << 20;

/// The query parameters a listing may carry.
const PARAMETERS: [&str; 7] = [
    "list-type",
    "prefix",
    "delimiter",
    "continuation-token",
    "max-keys",
    "encoding-type",
    "start-after",
];

/// GETs one ListObjectsV2 page of `bucket` with the query `params` (names
/// among `PARAMETERS`); returns the body.
pub fn list<'py>(
    engine: &Engine,
    py: Python<'py>,
    credentials: Credentials,
    bucket: &str,
    params: Vec<(String, String)>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut query = Vec::with_capacity(params.len());
    for (name, value) in params {
        let Some(known) = PARAMETERS.iter().find(|p| **p == name) else {
            return Err(PyValueError::new_err(format!(
                "unknown listing parameter {name:?}"
            )));
        };
        query.push((*known, value));
    }
    let request = ObjectRequest {
        method: Method::GET,
        bucket,
        key: "",
        query,
        headers: Vec::new(),
    };
    let origin = engine.endpoint.origin();
    let body = py.detach(|| {
        let response = engine.send(&credentials, &request, None)?;
        let mut body = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(PAGE_LIMIT)
            .read_to_end(&mut body)
            .map_err(|e| read_error(&origin, &e))?;
        Ok::<_, PyErr>(body)
    })?;
    Ok(PyBytes::new(py, &body))
}
