//! One request on an object: its URL, signing, sending, and the answer
//! turned into a response or a `RequestError`.

use std::time::SystemTime;

use ureq::http::{self, Method};
use ureq::SendBody;

use super::body::BodySource;
use super::errors::{RequestError, ERROR_BODY_LIMIT};
use super::sign::{self, Credentials, Payload};
use super::Engine;

/// Percent-encodes everything but RFC 3986's unreserved characters (and `/`
/// unless `encode_slash`), as SigV4 and S3 expect.
pub fn uri_encode(input: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for &byte in input.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `key=value` pairs, encoded and sorted as SigV4 canonicalises them, so
/// the query sent is the one signed.
pub fn query_string(params: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The path-style URL of `bucket/key` on the endpoint `origin` (with its
/// `base_path`), with `query`.
pub fn object_url(
    origin: &str,
    base_path: &str,
    bucket: &str,
    key: &str,
    query: &[(&str, &str)],
) -> String {
    let mut url = format!(
        "{origin}{base_path}/{}/{}",
        uri_encode(bucket, true),
        uri_encode(key, false)
    );
    let query = query_string(query);
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    url
}

/// One request on an object, before signing.
pub struct ObjectRequest<'a> {
    pub method: Method,
    pub bucket: &'a str,
    pub key: &'a str,
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(String, String)>,
}

impl Engine {
    /// Sends `request` (with the body read from `body`, if any), signed for
    /// the bucket's region. When the server refuses the signature's scope or
    /// redirects, naming its own region (Garage with `s3_region = "garage"`,
    /// an AWS bucket elsewhere), the request is signed again for that region
    /// and sent once more, and that region is kept for the bucket, as
    /// botocore's redirector does, unless a region is configured: then the
    /// answer is a `WrongRegion` error naming both.
    pub(super) fn send(
        &self,
        credentials: &Credentials,
        request: &ObjectRequest<'_>,
        mut body: Option<&mut BodySource<'_>>,
    ) -> Result<http::Response<ureq::Body>, RequestError> {
        let query: Vec<(&str, &str)> = request
            .query
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let url = object_url(
            &self.endpoint.origin(),
            &self.endpoint.base_path,
            request.bucket,
            request.key,
            &query,
        );
        let region = self.region_of(request.bucket);
        let result = self.send_once(credentials, &region, &url, request, body.as_deref_mut());
        let other = match &result {
            Err(err) => err.other_region(&region).map(str::to_owned),
            Ok(_) => None,
        };
        let Some(other) = other else {
            return result;
        };
        if self.configured.is_some() {
            return Err(RequestError::WrongRegion {
                bucket: request.bucket.to_owned(),
                configured: region,
                server: other,
            });
        }
        if let Some(source) = body.as_deref_mut() {
            source
                .rewind()
                .map_err(|e| RequestError::Invalid(format!("cannot resend the body: {e}")))?;
        }
        let retried = self.send_once(credentials, &other, &url, request, body);
        let refused_again = matches!(&retried, Err(err) if err.other_region(&other).is_some());
        if !refused_again {
            self.learn(request.bucket, other);
        }
        retried
    }

    /// Lists no keys of `bucket`, so that `send` learns or checks its
    /// region; what the listing itself answers does not matter.
    pub(super) fn probe_region(
        &self,
        credentials: &Credentials,
        bucket: &str,
    ) -> Result<(), RequestError> {
        let request = ObjectRequest {
            method: Method::GET,
            bucket,
            key: "",
            query: vec![("list-type", "2".to_owned()), ("max-keys", "0".to_owned())],
            headers: Vec::new(),
        };
        match self.send(credentials, &request, None) {
            Ok(_) | Err(RequestError::Status { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    fn send_once(
        &self,
        credentials: &Credentials,
        region: &str,
        url: &str,
        request: &ObjectRequest<'_>,
        body: Option<&mut BodySource<'_>>,
    ) -> Result<http::Response<ureq::Body>, RequestError> {
        let method = request.method.as_str();
        let headers = sign::sign(
            credentials,
            region,
            method,
            url,
            &request.headers,
            Payload::for_method(method),
            SystemTime::now(),
        )
        .map_err(|e| RequestError::Invalid(e.to_string()))?;
        let mut builder = http::Request::builder()
            .method(request.method.clone())
            .uri(url);
        for (name, value) in &headers {
            builder = builder.header(name, value);
        }
        let invalid = |e: http::Error| RequestError::Invalid(format!("invalid request: {e}"));
        let result = match body {
            Some(source) => {
                let request = builder
                    .body(SendBody::from_reader(source))
                    .map_err(invalid)?;
                self.agent.run(request)
            }
            None => self.agent.run(builder.body(()).map_err(invalid)?),
        };
        let mut response = result.map_err(|error| RequestError::Transport {
            origin: self.endpoint.origin(),
            error,
        })?;
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
        Err(RequestError::from_answer(status, &text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_unreserved_only() {
        assert_eq!(uri_encode("a b/c~d.e_f-g", false), "a%20b/c~d.e_f-g");
        assert_eq!(uri_encode("a/b+c=", true), "a%2Fb%2Bc%3D");
        assert_eq!(uri_encode("é", false), "%C3%A9");
        assert_eq!(
            query_string(&[("uploadId", "x/y"), ("partNumber", "2")]),
            "partNumber=2&uploadId=x%2Fy"
        );
    }

    #[test]
    fn object_urls_are_path_style() {
        assert_eq!(
            object_url("http://127.0.0.1:9000", "/base", "b", "dir/a b+c%.txt", &[]),
            "http://127.0.0.1:9000/base/b/dir/a%20b%2Bc%25.txt"
        );
        assert_eq!(
            object_url("https://h", "", "b", "k", &[("uploadId", "u=1")]),
            "https://h/b/k?uploadId=u%3D1"
        );
    }
}
