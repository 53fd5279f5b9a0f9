//! HEAD: an object's headers, with the stored checksum asked for. The plan
//! of a push proves each listed object this way when the listing carries no
//! ETag (s3s-fs), so it is sent thousands of times in a row: botocore spent
//! about 3 ms of CPU on each (event hooks, signing, parsing; 5 ms amid a
//! push's threads), this one 0.2 ms, most of it without the GIL.

use std::collections::HashMap;

use pyo3::prelude::*;
use ureq::http::Method;

use super::header::header_map;
use super::request::ObjectRequest;
use super::sign::Credentials;
use super::Engine;

/// HEADs `bucket/key`; returns the response headers, names in lower case.
pub fn head(
    engine: &Engine,
    py: Python<'_>,
    credentials: Credentials,
    bucket: &str,
    key: &str,
) -> PyResult<HashMap<String, String>> {
    let request = ObjectRequest {
        method: Method::HEAD,
        bucket,
        key,
        query: Vec::new(),
        headers: vec![("x-amz-checksum-mode".to_owned(), "ENABLED".to_owned())],
    };
    let headers = py.detach(|| {
        let mut response = engine.send(&credentials, &request, None)?;
        // Ended (a HEAD answer has no body), so the connection is reused.
        let _ = response.body_mut().read_to_vec();
        Ok::<_, PyErr>(header_map(response.headers()))
    })?;
    Ok(headers)
}
