//! How a request fails, and the one place those failures become Python
//! exceptions (`cdn_manager._planes.failures`, `cdn_manager.errors`).

use std::io;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pyo3::import_exception!(cdn_manager._planes.failures, S3Error);
pyo3::import_exception!(cdn_manager._planes.failures, TransportError);
pyo3::import_exception!(cdn_manager._planes.failures, Truncated);
pyo3::import_exception!(cdn_manager.errors, ConfigError);
pyo3::import_exception!(cdn_manager.errors, WrongRegion);

/// Most of an error response's body read to find its code.
pub const ERROR_BODY_LIMIT: u64 = 64 << 10;

/// Why a request did not get a successful answer.
#[derive(Debug)]
pub enum RequestError {
    /// The request cannot be sent as asked (e.g. a header value with a line
    /// break): the caller's mistake, not the network's.
    Invalid(String),
    /// The server could not be reached, or the connection failed.
    Transport { origin: String, error: ureq::Error },
    /// The server answered with an error.
    Status {
        status: u16,
        code: Option<String>,
        message: Option<String>,
        /// The region the server signs for, if it says (in `<Region>`).
        region: Option<String>,
    },
    /// The server refused the configured region and named its own.
    WrongRegion {
        bucket: String,
        configured: String,
        server: String,
    },
}

impl RequestError {
    /// The error an S3 error answer (`status`, XML `body`) stands for.
    pub fn from_answer(status: ureq::http::StatusCode, body: &str) -> Self {
        RequestError::Status {
            status: status.as_u16(),
            code: xml_field(body, "Code"),
            message: xml_field(body, "Message")
                .or_else(|| status.canonical_reason().map(str::to_owned)),
            region: xml_field(body, "Region"),
        }
    }

    /// The region to sign for instead, when the server refused the scope of
    /// the signature or redirected the request and named its own region (as
    /// S3 and Garage do). Only these answers count: Garage names its region
    /// in every error, and answers a bad signature with `AccessDenied`.
    pub fn other_region(&self, signed_for: &str) -> Option<&str> {
        match self {
            RequestError::Status {
                status,
                code,
                region: Some(region),
                ..
            } if (*status == 301
                || matches!(
                    code.as_deref(),
                    Some("AuthorizationHeaderMalformed" | "PermanentRedirect")
                ))
                && !region.is_empty()
                && region != signed_for =>
            {
                Some(region)
            }
            _ => None,
        }
    }
}

impl From<RequestError> for PyErr {
    fn from(err: RequestError) -> PyErr {
        match err {
            RequestError::Invalid(message) => PyValueError::new_err(message),
            RequestError::Transport { origin, error } => {
                TransportError::new_err((failure_kind(&error), format!("{origin}: {error}")))
            }
            RequestError::Status {
                status,
                code,
                message,
                ..
            } => S3Error::new_err((
                status,
                code.unwrap_or_else(|| status.to_string()),
                message.unwrap_or_default(),
            )),
            RequestError::WrongRegion {
                bucket,
                configured,
                server,
            } => WrongRegion::new_err((bucket, configured, server)),
        }
    }
}

/// A failure while reading a response body.
pub fn read_error(origin: &str, err: &io::Error) -> PyErr {
    TransportError::new_err((
        io_failure_kind(err),
        format!("{origin}: reading the body: {err}"),
    ))
}

/// A body that ended `remaining` bytes before its announced end.
pub fn truncated(remaining: u64) -> PyErr {
    Truncated::new_err(format!("body ended {remaining} bytes short"))
}

/// A proxy the native plane cannot use; `why` never holds the proxy's
/// user name or password.
pub fn proxy_error(why: String) -> PyErr {
    ConfigError::new_err(why)
}

/// A transport failure, named as botocore names the same failure, so logs
/// and `reason` codes read alike on both data planes.
fn failure_kind(err: &ureq::Error) -> &'static str {
    use ureq::Timeout;
    match err {
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => "ConnectTimeoutError",
        ureq::Error::Timeout(_) => "ReadTimeoutError",
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => "EndpointConnectionError",
        ureq::Error::ConnectProxyFailed(_) => "ProxyConnectionError",
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

/// The text of `<name>` in an S3 XML error body, entities decoded.
fn xml_field(body: &str, name: &str) -> Option<String> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::http::StatusCode;

    #[test]
    fn error_bodies_give_code_and_message() {
        let body = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>\
                    <Message>The key &quot;a&amp;b&quot; does not exist</Message></Error>";
        let RequestError::Status { code, message, .. } =
            RequestError::from_answer(StatusCode::NOT_FOUND, body)
        else {
            unreachable!()
        };
        assert_eq!(code.as_deref(), Some("NoSuchKey"));
        assert_eq!(message.as_deref(), Some("The key \"a&b\" does not exist"));
        let RequestError::Status { code, message, .. } =
            RequestError::from_answer(StatusCode::FORBIDDEN, "")
        else {
            unreachable!()
        };
        assert_eq!((code, message.as_deref()), (None, Some("Forbidden")));
    }

    #[test]
    fn a_refused_scope_names_the_region_to_sign_for() {
        // Garage's answer when it is set up with `s3_region = "garage"`.
        let body = "<Error><Code>AuthorizationHeaderMalformed</Code><Message>Authorization \
                    header malformed, unexpected scope: 20261202/us-east-1/s3/aws4_request\
                    </Message><Resource>/b/k</Resource><Region>garage</Region></Error>";
        let err = RequestError::from_answer(StatusCode::BAD_REQUEST, body);
        assert_eq!(err.other_region("us-east-1"), Some("garage"));
        assert_eq!(err.other_region("garage"), None);
        let denied = body.replace("AuthorizationHeaderMalformed", "AccessDenied");
        let err = RequestError::from_answer(StatusCode::FORBIDDEN, &denied);
        assert_eq!(err.other_region("us-east-1"), None);
        // AWS's answer for a bucket in another region.
        let moved = body.replace("AuthorizationHeaderMalformed", "PermanentRedirect");
        let err = RequestError::from_answer(StatusCode::MOVED_PERMANENTLY, &moved);
        assert_eq!(err.other_region("us-east-1"), Some("garage"));
    }
}
