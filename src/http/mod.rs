//! The native data plane: S3 GET, HEAD, PUT and UploadPart over a pooled
//! HTTP/1.1 client, signed in Rust, with the bytes streamed between the
//! socket and the download writer (or from the caller's buffer) while the
//! GIL is released.
//!
//! It sends single requests only; the transfer flows in Python decide which,
//! retry them and verify the result, exactly as for the boto3 data plane.
//!
//! - `endpoint.rs`: the endpoint URL, TLS roots, proxy, and the agent
//! - `proxy.rs`: plain-HTTP requests through a proxy, in absolute form
//! - `request.rs`: one request: URL, signing, sending, the answer
//! - `sign.rs`: what the SigV4 signer is given, and the checksum headers
//! - `get.rs`: GET, and the `Response` whose body is streamed into a sink
//! - `head.rs`: HEAD, an object's headers
//! - `list.rs`: ListObjectsV2, one page of keys
//! - `put.rs`: PUT and UploadPart
//! - `body.rs`: the body they stream from the caller's bytes
//! - `header.rs`: response headers, as one map
//! - `errors.rs`: how a request fails, as Python exceptions
//! - `tcp.rs`, `resolve.rs`: connections and name lookups under ureq

mod body;
mod endpoint;
mod errors;
mod get;
mod head;
mod header;
mod list;
mod proxy;
mod put;
mod request;
mod resolve;
mod sign;
mod tcp;

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::sync::RwLock;

use pyo3::prelude::*;
use ureq::Agent;

use crate::bandwidth;
use crate::control::Control;
use endpoint::{AgentSettings, Endpoint};
pub use get::Response;
pub use sign::sign_request;

/// What the server is: where, and how to reach it.
#[pyclass(frozen)]
pub struct Engine {
    agent: Agent,
    endpoint: Endpoint,
    /// The region every request is signed for, if the user gave one: a
    /// server naming another is then an error, not a hint.
    configured: Option<String>,
    /// Whether large bodies wait for the server's `100 Continue` (see
    /// `put.rs`): not through a forward proxy (`proxy.rs`), which may add
    /// headers to that answer (tinyproxy adds `Via`), and ureq-proto refuses
    /// a `100 Continue` with headers.
    expect_continue: bool,
    /// Otherwise, per bucket, the region its server named (AWS buckets live
    /// in many regions; Garage and R2 have their own names).
    learnt: RwLock<HashMap<String, String>>,
}

/// The region signed for when none is configured or learnt yet.
const DEFAULT_REGION: &str = "us-east-1";

impl Engine {
    fn region_of(&self, bucket: &str) -> String {
        if let Some(region) = &self.configured {
            return region.clone();
        }
        self.learnt
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
            .cloned()
            .unwrap_or_else(|| DEFAULT_REGION.to_owned())
    }

    fn learn(&self, bucket: &str, region: String) {
        self.learnt
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(bucket.to_owned(), region);
    }
}

#[pymethods]
impl Engine {
    /// A client for the S3 endpoint `endpoint`, keeping up to
    /// `max_connections` idle connections for reuse. TLS certificates are
    /// checked against Mozilla's roots (as botocore's certifi does), or
    /// against the PEM file `ca_bundle` only. Every request goes through the
    /// HTTP(S) proxy `proxy` if given (`ConfigError` if it cannot): in
    /// absolute form to a plain-HTTP endpoint, tunnelled with CONNECT to an
    /// https one.
    /// `socket_tuning` turns on the Linux socket options of `tcp.rs`.
    /// `max_bandwidth` (bytes a second), the manager's limit if it has one,
    /// keeps each connection's receive buffer small (`tcp.rs`).
    #[new]
    #[pyo3(signature = (
        endpoint, region, connect_timeout, read_timeout, max_connections,
        ca_bundle = None, proxy = None, socket_tuning = true, max_bandwidth = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        endpoint: &str,
        region: Option<String>,
        connect_timeout: f64,
        read_timeout: f64,
        max_connections: usize,
        ca_bundle: Option<PathBuf>,
        proxy: Option<&str>,
        socket_tuning: bool,
        max_bandwidth: Option<NonZeroU64>,
    ) -> PyResult<Self> {
        let endpoint = Endpoint::parse(endpoint)?;
        let expect_continue = proxy.is_none() || endpoint.scheme == "https";
        let agent = endpoint::build_agent(AgentSettings {
            connect_timeout,
            read_timeout,
            max_connections,
            ca_bundle: ca_bundle.as_deref(),
            proxy,
            socket_tuning,
            receive_buffer: max_bandwidth
                .map(|rate| bandwidth::receive_buffer(rate.get(), max_connections)),
        })?;
        Ok(Engine {
            agent,
            endpoint,
            configured: region,
            expect_continue,
            learnt: RwLock::new(HashMap::new()),
        })
    }

    /// The region requests on `bucket` are signed for: the configured one,
    /// else the one its server named, else `us-east-1`.
    fn region_for(&self, bucket: &str) -> String {
        self.region_of(bucket)
    }

    /// Asks the server which region `bucket` is signed for (a listing of no
    /// keys, with `credentials`), learning it if none is configured, and
    /// returns it. Raises `WrongRegion` if the configured region is refused
    /// with the server's own named; any other answer (even a refusal of
    /// the listing) means the region was accepted.
    fn locate(
        &self,
        py: Python<'_>,
        credentials: sign::Credentials,
        bucket: &str,
    ) -> PyResult<String> {
        py.detach(|| self.probe_region(&credentials, bucket))?;
        Ok(self.region_of(bucket))
    }

    /// GETs `bucket/key` (bytes `start..end` of it if `byte_range` is
    /// given), asking for the stored checksum; the body is left unread. The
    /// wait for the answer gives way once `control` is cancelled.
    #[pyo3(signature = (credentials, bucket, key, byte_range = None, if_match = None, control = None))]
    #[allow(clippy::too_many_arguments)]
    fn get(
        &self,
        py: Python<'_>,
        credentials: sign::Credentials,
        bucket: &str,
        key: &str,
        byte_range: Option<(u64, u64)>,
        if_match: Option<String>,
        control: Option<Py<Control>>,
    ) -> PyResult<Response> {
        let request = get::Get {
            bucket,
            key,
            byte_range,
            if_match,
        };
        get::get(self, py, credentials, request, control)
    }

    /// HEADs `bucket/key`, asking for the stored checksum; returns the
    /// response headers, names in lower case.
    fn head(
        &self,
        py: Python<'_>,
        credentials: sign::Credentials,
        bucket: &str,
        key: &str,
    ) -> PyResult<HashMap<String, String>> {
        head::head(self, py, credentials, bucket, key)
    }

    /// GETs one ListObjectsV2 page of `bucket` with the query `params`
    /// (`(name, value)`, names as S3 spells them: `list-type`, `prefix`,
    /// `delimiter`, `continuation-token`, `max-keys`, `encoding-type`,
    /// `start-after`); returns the XML body.
    fn list<'py>(
        &self,
        py: Python<'py>,
        credentials: sign::Credentials,
        bucket: &str,
        params: Vec<(String, String)>,
    ) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        list::list(self, py, credentials, bucket, params)
    }

    /// PUTs `body` at `bucket/key` with its CRC `checksum` (`(algorithm,
    /// value)`), or part `(upload_id, number)` of a multipart upload when
    /// `part` is given; returns the response headers. Progress goes to
    /// `control`, and is taken back if the request fails.
    #[pyo3(signature = (credentials, bucket, key, body, checksum, headers, control, part = None))]
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        py: Python<'_>,
        credentials: sign::Credentials,
        bucket: &str,
        key: &str,
        body: &Bound<'_, PyAny>,
        checksum: (String, u64),
        headers: Vec<(String, String)>,
        control: Py<Control>,
        part: Option<(String, u32)>,
    ) -> PyResult<HashMap<String, String>> {
        put::put(
            self,
            py,
            credentials,
            bucket,
            key,
            body,
            checksum,
            headers,
            control,
            part,
        )
    }
}
