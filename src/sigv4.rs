//! AWS Signature Version 4 for S3 requests sent by the native data plane.
//!
//! Signing is a handful of HMACs, microseconds a request, where a boto3
//! presign costs about half a millisecond. The key pair is passed in for
//! each request (read from the boto3 client's provider), so rotated or
//! refreshed credentials take effect at once.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// `x-amz-content-sha256` of a request whose body is covered by its own
/// checksum header instead.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `x-amz-content-sha256` of an empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A key pair, and the session token of temporary credentials.
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub token: Option<String>,
}

/// The request time in SigV4's two spellings.
pub struct Timestamp {
    /// `YYYYMMDD'T'HHMMSS'Z'`
    pub amz_date: String,
    /// `YYYYMMDD`
    pub date: String,
}

impl Timestamp {
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self::from_unix(secs)
    }

    pub fn from_unix(secs: u64) -> Self {
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days as i64);
        let date = format!("{year:04}{month:02}{day:02}");
        let amz_date = format!(
            "{date}T{:02}{:02}{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        );
        Timestamp { amz_date, date }
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

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

/// `key=value` pairs, encoded and sorted as SigV4 wants; also the query
/// string to send, so what is signed is exactly what goes on the wire.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
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

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One request to sign. `path` is already encoded (`uri_encode(.., false)`);
/// `headers` have lower-case names and hold every header to sign.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a mut Vec<(String, String)>,
    pub payload_hash: &'a str,
}

/// Adds `x-amz-date`, `x-amz-content-sha256`, the session token if any, and
/// `authorization` to the request's headers.
pub fn sign(request: Request<'_>, credentials: &Credentials, region: &str, time: &Timestamp) {
    let headers = request.headers;
    headers.push(("x-amz-date".into(), time.amz_date.clone()));
    headers.push((
        "x-amz-content-sha256".into(),
        request.payload_hash.to_owned(),
    ));
    if let Some(token) = &credentials.token {
        headers.push(("x-amz-security-token".into(), token.clone()));
    }
    headers.sort();
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{}\n", value.trim()))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method, request.path, request.query, request.payload_hash
    );
    let scope = format!("{}/{region}/s3/aws4_request", time.date);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        time.amz_date,
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", credentials.secret_key).as_bytes(),
        &time.date,
    );
    for part in [region, "s3", "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex(&hmac(&key, &string_to_sign));
    headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            credentials.access_key
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(Timestamp::from_unix(0).amz_date, "19700101T000000Z");
        // 2013-05-24T00:00:00Z, the S3 documentation's example time.
        assert_eq!(
            Timestamp::from_unix(1_369_353_600).amz_date,
            "20130524T000000Z"
        );
        // A leap day, and the second before a new year.
        assert_eq!(
            Timestamp::from_unix(1_709_210_096).amz_date,
            "20240229T123456Z"
        );
        assert_eq!(
            Timestamp::from_unix(1_798_761_599).amz_date,
            "20261231T235959Z"
        );
    }

    #[test]
    fn encoding_keeps_unreserved_only() {
        assert_eq!(uri_encode("a b/c~d.e_f-g", false), "a%20b/c~d.e_f-g");
        assert_eq!(uri_encode("a/b+c=", true), "a%2Fb%2Bc%3D");
        assert_eq!(uri_encode("é", false), "%C3%A9");
        assert_eq!(
            canonical_query(&[("uploadId", "x/y"), ("partNumber", "2")]),
            "partNumber=2&uploadId=x%2Fy"
        );
    }

    /// The "GET Object" example of the S3 SigV4 documentation
    /// (sig-v4-header-based-auth).
    #[test]
    fn documented_get_object_example() {
        let mut headers = vec![
            (
                "host".to_owned(),
                "examplebucket.s3.amazonaws.com".to_owned(),
            ),
            ("range".to_owned(), "bytes=0-9".to_owned()),
        ];
        let credentials = Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            token: None,
        };
        sign(
            Request {
                method: "GET",
                path: "/test.txt",
                query: "",
                headers: &mut headers,
                payload_hash: EMPTY_SHA256,
            },
            &credentials,
            "us-east-1",
            &Timestamp::from_unix(1_369_353_600),
        );
        let authorization = &headers.last().unwrap().1;
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }
}
