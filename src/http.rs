//! The native data plane: S3 GET, PUT and UploadPart over a pooled HTTP/1.1
//! client, signed in Rust, with the bytes streamed between the socket and the
//! download writer (or from the caller's buffer) while the GIL is released.
//!
//! It sends single requests only; the transfer flows in Python decide which,
//! retry them and verify the result, exactly as for the boto3 data plane.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use ureq::http::{self, Method};
use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::transport::{Connector, RustlsConnector};
use ureq::{Agent, BodyReader, SendBody};

use crate::buffer::BorrowedBytes;
use crate::control::Control;
use crate::error::CoreError;
use crate::resolve::CachingResolver;
use crate::sigv4::{self, canonical_query, uri_encode, Credentials, Timestamp};
use crate::tcp::{self, QuickAckConnector};
use crate::writer::PartSink;

pyo3::import_exception!(cdn_manager.s3errors, S3Error);
pyo3::import_exception!(cdn_manager.s3errors, TransportError);
pyo3::import_exception!(cdn_manager.s3errors, Truncated);

/// Bytes gathered from the socket before each write to the destination.
const READ_CHUNK: usize = 1 << 20;
/// Bytes of the body handed to the socket between progress reports.
const SEND_CHUNK: usize = 256 << 10;
/// Most of an error response's body read to find its code.
const ERROR_BODY_LIMIT: u64 = 64 << 10;

/// What the server is: where, and how to reach it.
#[pyclass(frozen)]
pub struct Engine {
    agent: Agent,
    scheme: String,
    /// `host[:port]` as sent in `Host` (default ports left out, as botocore does).
    authority: String,
    /// A path the endpoint URL itself carries, without a trailing `/`.
    base_path: String,
    region: String,
}

/// A request that cannot be sent as asked (e.g. a header value with a line
/// break): the caller's mistake, not the network's.
fn invalid_request(err: http::Error) -> PyErr {
    PyValueError::new_err(format!("invalid request: {err}"))
}

/// A transport failure, named as botocore names the same failure, so logs
/// and `reason` codes read alike on both data planes.
fn failure_kind(err: &ureq::Error) -> &'static str {
    use ureq::Timeout;
    match err {
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => "ConnectTimeoutError",
        ureq::Error::Timeout(_) => "ReadTimeoutError",
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => "EndpointConnectionError",
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => "SSLError",
        ureq::Error::Io(e) => io_failure_kind(e),
        _ => "ConnectionClosedError",
    }
}

fn io_failure_kind(err: &io::Error) -> &'static str {
    if let Some(inner) = err.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>()) {
        return failure_kind(inner);
    }
    match err.kind() {
        io::ErrorKind::ConnectionRefused | io::ErrorKind::AddrNotAvailable => {
            "EndpointConnectionError"
        }
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "ReadTimeoutError",
        _ => "ConnectionClosedError",
    }
}

/// Splits `scheme://authority/path` without pulling in a URL parser.
fn split_endpoint(endpoint: &str) -> PyResult<(String, String, String)> {
    let invalid = || PyValueError::new_err("endpoint must be an http(s) URL");
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(invalid)?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return Err(invalid()),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid());
    }
    let authority = authority
        .strip_suffix(default_port)
        .unwrap_or(authority)
        .to_ascii_lowercase();
    Ok((scheme, authority, path.trim_end_matches('/').to_owned()))
}

/// The certificates of a PEM bundle, to trust instead of the default roots.
fn load_roots(path: &Path) -> PyResult<RootCerts> {
    let pem = std::fs::read(path).map_err(|e| CoreError::io("read CA bundle", path, e))?;
    let certificates = parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(certificate)) => Some(Ok(certificate)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PyValueError::new_err(format!("{}: {e}", path.display())))?;
    if certificates.is_empty() {
        return Err(PyValueError::new_err(format!(
            "{}: no certificate in the CA bundle",
            path.display()
        )));
    }
    Ok(RootCerts::new_with_certs(&certificates))
}

/// The `<Code>` and `<Message>` of an S3 XML error body.
fn error_fields(body: &str) -> (Option<String>, Option<String>) {
    let field = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = start + body[start..].find(&format!("</{name}>"))?;
        Some(
            body[start..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        )
    };
    (field("Code"), field("Message"))
}

fn header_map(headers: &http::HeaderMap) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = HashMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    map
}

/// The request body: the caller's buffer, fed to the socket in chunks so
/// progress is reported and cancellation noticed as it goes.
struct BodySource<'a> {
    data: &'a [u8],
    sent: usize,
    control: &'a Control,
    /// Why the body stopped early (cancelled, or the progress callback
    /// raised): the request's error, rather than the broken-pipe it causes.
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
        self.control.record(n as i64)?;
        Ok(n)
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

/// One request on an object, before signing.
struct ObjectRequest<'a> {
    method: Method,
    bucket: &'a str,
    key: &'a str,
    query: &'a [(&'a str, &'a str)],
    headers: Vec<(String, String)>,
}

impl Engine {
    fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    fn transport_error(&self, err: &ureq::Error) -> PyErr {
        TransportError::new_err((failure_kind(err), format!("{}: {err}", self.origin())))
    }

    fn send(
        &self,
        credentials: &Credentials,
        request: ObjectRequest<'_>,
        body: Option<&mut BodySource<'_>>,
    ) -> PyResult<http::Response<ureq::Body>> {
        let ObjectRequest {
            method,
            bucket,
            key,
            query,
            mut headers,
        } = request;
        let path = format!(
            "{}/{}/{}",
            self.base_path,
            uri_encode(bucket, true),
            uri_encode(key, false)
        );
        let query = canonical_query(query);
        headers.push(("host".into(), self.authority.clone()));
        let payload_hash = match body {
            Some(_) => sigv4::UNSIGNED_PAYLOAD,
            None => sigv4::EMPTY_SHA256,
        };
        sigv4::sign(
            sigv4::Request {
                method: method.as_str(),
                path: &path,
                query: &query,
                headers: &mut headers,
                payload_hash,
            },
            credentials,
            &self.region,
            &Timestamp::now(),
        );
        let mut uri = format!("{}://{}{path}", self.scheme, self.authority);
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&query);
        }
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in &headers {
            builder = builder.header(name, value);
        }
        let result = match body {
            Some(source) => {
                let request = builder
                    .body(SendBody::from_reader(source))
                    .map_err(invalid_request)?;
                self.agent.run(request)
            }
            None => {
                let request = builder.body(()).map_err(invalid_request)?;
                self.agent.run(request)
            }
        };
        let mut response = result.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(ERROR_BODY_LIMIT)
            .read_to_string()
            .unwrap_or_default();
        let (code, message) = error_fields(&text);
        Err(S3Error::new_err((
            status.as_u16(),
            code.unwrap_or_else(|| status.as_u16().to_string()),
            message.unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned()),
        )))
    }
}

fn credentials((access_key, secret_key, token): (String, String, Option<String>)) -> Credentials {
    Credentials {
        access_key,
        secret_key,
        token,
    }
}

#[pymethods]
impl Engine {
    /// A client for the S3 endpoint `endpoint`, keeping up to
    /// `max_connections` idle connections for reuse. TLS certificates are
    /// checked against Mozilla's roots (as botocore's certifi does), or
    /// against the PEM file `ca_bundle` only.
    #[new]
    #[pyo3(signature = (endpoint, region, connect_timeout, read_timeout, max_connections, ca_bundle = None))]
    fn new(
        endpoint: &str,
        region: String,
        connect_timeout: f64,
        read_timeout: f64,
        max_connections: usize,
        ca_bundle: Option<PathBuf>,
    ) -> PyResult<Self> {
        let (scheme, authority, base_path) = split_endpoint(endpoint)?;
        let mut tls = TlsConfig::builder();
        if let Some(path) = ca_bundle {
            tls = tls.root_certs(load_roots(&path)?);
        }
        let connect = Some(Duration::from_secs_f64(connect_timeout));
        let read = Some(Duration::from_secs_f64(read_timeout));
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            // Chosen by the caller: a proxy makes the manager use boto3.
            .proxy(None)
            .timeout_resolve(connect)
            .timeout_connect(connect)
            .timeout_per_read(read)
            .timeout_per_write(read)
            .max_idle_connections(max_connections)
            .max_idle_connections_per_host(max_connections)
            .user_agent(concat!("cdn-manager/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build();
        let connector = ().chain(QuickAckConnector).chain(RustlsConnector::default());
        let agent = Agent::with_parts(config, connector, CachingResolver::default());
        Ok(Engine {
            agent,
            scheme,
            authority,
            base_path,
            region,
        })
    }

    /// GETs `bucket/key` (bytes `start..end` of it if `byte_range` is
    /// given), asking for the stored checksum; the body is left unread.
    #[pyo3(signature = (credentials, bucket, key, byte_range = None, if_match = None))]
    fn get(
        &self,
        py: Python<'_>,
        credentials: (String, String, Option<String>),
        bucket: &str,
        key: &str,
        byte_range: Option<(u64, u64)>,
        if_match: Option<String>,
    ) -> PyResult<Response> {
        let credentials = self::credentials(credentials);
        let mut headers = vec![("x-amz-checksum-mode".to_owned(), "ENABLED".to_owned())];
        if let Some((start, end)) = byte_range {
            if end <= start {
                return Err(PyValueError::new_err("empty byte range"));
            }
            headers.push(("range".into(), format!("bytes={start}-{}", end - 1)));
        }
        if let Some(etag) = if_match {
            headers.push(("if-match".into(), etag));
        }
        let request = ObjectRequest {
            method: Method::GET,
            bucket,
            key,
            query: &[],
            headers,
        };
        let response = py.detach(|| self.send(&credentials, request, None))?;
        let headers = header_map(response.headers());
        Ok(Response {
            origin: self.origin(),
            headers,
            body: Mutex::new(Some(Body {
                unread: response.body().content_length(),
                reader: response.into_body().into_reader(),
            })),
        })
    }

    /// PUTs `body` (any contiguous buffer, not copied) at `bucket/key`, or
    /// as part `number` of multipart upload `upload_id` when `part` is
    /// given; returns the response headers. Progress goes to `control`, and
    /// is taken back if the request fails.
    #[pyo3(signature = (credentials, bucket, key, body, headers, control, part = None))]
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        py: Python<'_>,
        credentials: (String, String, Option<String>),
        bucket: &str,
        key: &str,
        body: &Bound<'_, PyAny>,
        mut headers: Vec<(String, String)>,
        control: Py<Control>,
        part: Option<(String, u32)>,
    ) -> PyResult<HashMap<String, String>> {
        let credentials = self::credentials(credentials);
        let body = BorrowedBytes::new(body)?;
        let data = body.as_slice();
        let control = control.get();
        let number = part.as_ref().map(|(_, n)| n.to_string());
        let query: Vec<(&str, &str)> = match (&part, &number) {
            (Some((upload_id, _)), Some(number)) => {
                vec![
                    ("partNumber", number.as_str()),
                    ("uploadId", upload_id.as_str()),
                ]
            }
            _ => Vec::new(),
        };
        headers.push(("content-length".into(), data.len().to_string()));
        let mut source = BodySource {
            data,
            sent: 0,
            control,
            stopped: None,
        };
        let request = ObjectRequest {
            method: Method::PUT,
            bucket,
            key,
            query: &query,
            headers,
        };
        let result = py.detach(|| self.send(&credentials, request, Some(&mut source)));
        match result {
            Ok(mut response) => {
                // Drained (it is empty), so the connection goes back to the pool.
                let _ = response.body_mut().read_to_vec();
                Ok(header_map(response.headers()))
            }
            Err(err) => {
                control.record(-(source.sent as i64))?;
                Err(source.stopped.take().unwrap_or(err))
            }
        }
    }
}

/// A GET response whose body has not been read yet.
#[pyclass(frozen)]
pub struct Response {
    /// `scheme://authority` of the server, for error messages.
    origin: String,
    headers: HashMap<String, String>,
    body: Mutex<Option<Body>>,
}

struct Body {
    reader: BodyReader<'static>,
    /// Bytes of the announced length not read yet.
    unread: Option<u64>,
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
        let mut body = self.body.lock().expect("response lock poisoned");
        let body = body
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("the response was closed"))?;
        let reader = &mut body.reader;
        let unread = &mut body.unread;
        py.detach(|| -> PyResult<()> {
            let mut buffer = vec![0; READ_CHUNK.min(length as usize).max(1)];
            let mut remaining = length;
            let expecting = tcp::expect_body(length as usize);
            while remaining > 0 {
                let want = remaining.min(buffer.len() as u64) as usize;
                let mut filled = 0;
                while filled < want {
                    expecting.update((remaining - filled as u64) as usize);
                    match reader.read(&mut buffer[filled..want]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            sink.append(&buffer[..filled])?;
                            return Err(TransportError::new_err((
                                io_failure_kind(&e),
                                format!("{}: reading the body: {e}", self.origin),
                            )));
                        }
                    }
                }
                sink.append(&buffer[..filled])?;
                remaining -= filled as u64;
                *unread = unread.map(|n| n.saturating_sub(filled as u64));
                if filled < want {
                    return Err(Truncated::new_err(format!(
                        "body ended {remaining} bytes short"
                    )));
                }
            }
            drop(expecting);
            if *unread == Some(0) {
                // Read to the end, so ureq hands the connection back to its
                // pool instead of closing it (a new connection per part).
                let _ = reader.read(&mut buffer[..1]);
            }
            Ok(())
        })
    }

    /// Drops the connection if the body was not read to its end.
    fn close(&self) {
        self.body.lock().expect("response lock poisoned").take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split_into_scheme_authority_and_path() {
        let split = |e| split_endpoint(e).unwrap();
        assert_eq!(
            split("http://127.0.0.1:9000"),
            ("http".into(), "127.0.0.1:9000".into(), String::new())
        );
        assert_eq!(
            split("HTTPS://S3.Example.com:443/base/"),
            ("https".into(), "s3.example.com".into(), "/base".into())
        );
        for bad in ["ftp://x", "127.0.0.1:9000", "http://", "http://user@host"] {
            assert!(split_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_bodies_give_code_and_message() {
        let body = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>\
                    <Message>The key &quot;a&amp;b&quot; does not exist</Message></Error>";
        assert_eq!(
            error_fields(body),
            (
                Some("NoSuchKey".into()),
                Some("The key \"a&b\" does not exist".into())
            )
        );
        assert_eq!(error_fields(""), (None, None));
    }
}
