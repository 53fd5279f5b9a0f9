//! Signing a request: what the `aws-sigv4` crate does not decide for us.
//!
//! The crate (the AWS SDK's own signer) computes SigV4 with S3's settings:
//! the path signed exactly as sent (single encoding, no normalisation),
//! `x-amz-content-sha256` sent and signed, the signature in headers. This
//! module chooses which headers are signed and how their values look, and
//! adds the checksum headers.
//!
//! Header values, and why they are prepared here. SigV4 signs each value
//! trimmed, with inner runs of whitespace made one space, and the values of a
//! repeated name joined by `,`. botocore does exactly that
//! (`' '.join(value.split())`, so tabs too), and so do the servers that
//! re-sign with it (moto's IAM check). aws-sigv4's `trim_all` collapses runs
//! of spaces only: a tab is signed as a tab, so `"public,\tmax-age=60"`
//! would be refused by those servers. So every value is first normalised the
//! way botocore does it (Python's `str.split()` whitespace) and handed to the
//! crate already in canonical form, where its own trimming changes nothing.
//! What goes on the wire is the caller's value exactly, as botocore sends
//! it, so the server stores what it would store for botocore (moto keeps
//! trailing spaces, for one). A repeated name goes as one line, its values
//! trimmed and joined by `,`, which canonicalises to exactly what SigV4 signs
//! for repeated lines, on any server, however it joins repeated lines itself.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{
    sign as aws_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::checksum::Algorithm;

/// A key pair, and the session token of temporary credentials, as Python
/// reads them from boto3's provider for each request.
pub type Credentials = (String, String, Option<String>);

/// Sent but never signed: botocore's `SIGNED_HEADERS_BLACKLIST` (hop-by-hop
/// headers, and those a proxy or the HTTP stack may change).
const UNSIGNED_HEADERS: [&str; 14] = [
    "baggage",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "traceparent",
    "tracestate",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
];
/// Set by the signer itself.
const SIGNER_HEADERS: [&str; 4] = [
    "authorization",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
];

/// What the request's body is, for `x-amz-content-sha256`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// No body (GET): the SHA-256 of nothing.
    Empty,
    /// A body covered by its `x-amz-checksum-*` header instead of a SHA-256,
    /// so it can be streamed without being read twice.
    Unsigned,
}

impl Payload {
    /// The payload the engine sends with `method`.
    pub fn for_method(method: &str) -> Self {
        match method {
            "PUT" | "POST" => Payload::Unsigned,
            _ => Payload::Empty,
        }
    }
}

/// Python's `str.isspace()`, which `str.split()` splits on.
fn python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// botocore's `_header_value`: `' '.join(value.split())`.
fn canonical_value(value: &str) -> String {
    value
        .split(python_space)
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The headers as they go on the wire: names in lower case, in first-seen
/// order, each name once: a single value exactly as given, the values of a
/// repeated name trimmed and joined by `,`.
fn merge(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut merged: Vec<(String, Vec<&str>)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => merged.push((name, vec![value])),
        }
    }
    merged
        .into_iter()
        .map(|(name, values)| match values[..] {
            [value] => (name, value.to_owned()),
            _ => {
                let trimmed: Vec<&str> = values
                    .iter()
                    .map(|value| value.trim_matches(python_space))
                    .collect();
                (name, trimmed.join(","))
            }
        })
        .collect()
}

/// `host[:port]` of an `http(s)://` URL, default port left out (as botocore
/// and the HTTP stacks send it).
fn host_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let default = if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else {
        ":80"
    };
    Some(authority.strip_suffix(default).unwrap_or(authority))
}

/// Signs the request `method url` (`url` already percent-encoded, as sent)
/// with `headers`; returns every header to send: the caller's (merged, see
/// the module comment), `host`, `x-amz-date`, `x-amz-content-sha256`, the
/// session token if any, and `authorization`.
pub fn sign(
    credentials: &Credentials,
    region: &str,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    payload: Payload,
    time: SystemTime,
) -> PyResult<Vec<(String, String)>> {
    let mut wire = merge(headers);
    if let Some((name, _)) = wire
        .iter()
        .find(|(name, _)| SIGNER_HEADERS.contains(&name.as_str()))
    {
        return Err(PyValueError::new_err(format!(
            "the {name} header is set by the signer"
        )));
    }
    if !wire.iter().any(|(name, _)| name == "host") {
        let host = host_of(url).ok_or_else(|| PyValueError::new_err("not an http(s) URL"))?;
        wire.push(("host".into(), host.to_owned()));
    }
    let canonical: Vec<(&str, String)> = wire
        .iter()
        .map(|(name, value)| (name.as_str(), canonical_value(value)))
        .collect();

    let (access_key, secret_key, token) = credentials;
    let identity = AwsCredentials::new(
        access_key.as_str(),
        secret_key.as_str(),
        token.clone(),
        None,
        "cdn-manager",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.excluded_headers = Some(UNSIGNED_HEADERS.iter().map(|&h| h.into()).collect());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| PyValueError::new_err(format!("cannot sign: {e}")))?
        .into();
    let body = match payload {
        Payload::Empty => SignableBody::Bytes(&[]),
        Payload::Unsigned => SignableBody::UnsignedPayload,
    };
    let request = SignableRequest::new(
        method,
        url,
        canonical
            .iter()
            .map(|(name, value)| (*name, value.as_str())),
        body,
    )
    .and_then(|request| aws_sign(request, &params))
    .map_err(|e| PyValueError::new_err(format!("cannot sign the request: {e}")))?;
    let (instructions, _signature) = request.into_parts();
    let (signing, _query) = instructions.into_parts();
    wire.extend(
        signing
            .into_iter()
            .map(|header| (header.name().to_owned(), header.value().to_owned())),
    );
    Ok(wire)
}

/// The headers that carry a body's CRC, as the AWS SDKs send them: the
/// value (base64 of its big-endian bytes: four for a CRC32, eight for a
/// CRC64) and the algorithm's name, which some servers (moto) need to keep
/// the value.
pub fn checksum_headers(algorithm: Algorithm, crc: u64) -> [(String, String); 2] {
    let (name, value) = match algorithm {
        Algorithm::Crc32 => ("crc32", BASE64.encode((crc as u32).to_be_bytes())),
        Algorithm::Crc32c => ("crc32c", BASE64.encode((crc as u32).to_be_bytes())),
        Algorithm::Crc64Nvme => ("crc64nvme", BASE64.encode(crc.to_be_bytes())),
    };
    [
        (format!("x-amz-checksum-{name}"), value),
        (
            "x-amz-sdk-checksum-algorithm".into(),
            name.to_ascii_uppercase(),
        ),
    ]
}

/// The headers the native plane would send for `method url` with `headers`
/// at `unix_time` (seconds), `authorization` included: for checking the
/// signer against botocore's. PUT is signed as an unsigned payload, other
/// methods as an empty body.
#[pyfunction]
pub fn sign_request(
    credentials: Credentials,
    region: &str,
    method: &str,
    url: &str,
    headers: Vec<(String, String)>,
    unix_time: u64,
) -> PyResult<Vec<(String, String)>> {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(unix_time);
    sign(
        &credentials,
        region,
        method,
        url,
        &headers,
        Payload::for_method(method),
        time,
    )
}

#[cfg(test)]
#[path = "sign_tests.rs"]
mod tests;
