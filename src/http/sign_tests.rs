//! Signing vectors in the style of the AWS SigV4 test suite, for the request
//! shapes the native plane sends. Two kinds of expected values: the S3
//! documentation's own examples, and botocore 1.43's `S3SigV4Auth` output for
//! the same inputs (the signer every S3-compatible server is tested against;
//! `tests/test_signing.py` re-checks these against the installed botocore).

use super::*;
use crate::http::request::object_url;

/// 2025-12-02T01:02:03Z
const TIME: u64 = 1_764_637_323;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn key() -> Credentials {
    (
        "AKIDEXAMPLE".into(),
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        None,
    )
}

fn temporary() -> Credentials {
    (
        "ASIAEXAMPLE".into(),
        "secret/with+slash".into(),
        Some("FwoGZXIvYXdzEJr//////////token==".into()),
    )
}

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The `authorization` the signer sends for this request at `TIME`.
fn authorization(
    credentials: &Credentials,
    region: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> String {
    let sent = sign(
        credentials,
        region,
        method,
        url,
        &owned(headers),
        Payload::for_method(method),
        at(TIME),
    )
    .unwrap();
    header(&sent, "authorization")[0].to_owned()
}

fn botocore(signed_headers: &str, signature: &str, scope: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={scope}/s3/aws4_request, \
         SignedHeaders={signed_headers}, Signature={signature}"
    )
}

const GET_HEADERS: &str = "host;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date";
const CHECKSUM_MODE: (&str, &str) = ("x-amz-checksum-mode", "ENABLED");
const LOCAL: &str = "http://127.0.0.1:9000";
const US: &str = "AKIDEXAMPLE/20251202/us-east-1";

/// The S3 documentation's "GET Object" example (sig-v4-header-based-auth):
/// an empty-body GET with a range, signed headers in canonical order.
#[test]
fn documented_get_object_example() {
    let credentials = (
        "AKIAIOSFODNN7EXAMPLE".into(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        None,
    );
    let sent = sign(
        &credentials,
        "us-east-1",
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        &owned(&[("Range", "bytes=0-9")]),
        Payload::Empty,
        at(1_369_353_600),
    )
    .unwrap();
    assert_eq!(
        header(&sent, "authorization"),
        [
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        ]
    );
    assert_eq!(header(&sent, "host"), ["examplebucket.s3.amazonaws.com"]);
    assert_eq!(header(&sent, "x-amz-date"), ["20130524T000000Z"]);
    assert_eq!(
        header(&sent, "x-amz-content-sha256"),
        ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]
    );
}

#[test]
fn keys_with_spaces_unicode_and_reserved_characters() {
    let cases = [
        (
            "dir/a b c.txt",
            "/cdn-test/dir/a%20b%20c.txt",
            "9e232a344ebbbff3f6dc9f73f77d6ce9af91fe937eeb15ed13263dcf9de69a5d",
        ),
        (
            "ünïcødé/文件.bin",
            "/cdn-test/%C3%BCn%C3%AFc%C3%B8d%C3%A9/%E6%96%87%E4%BB%B6.bin",
            "8603f73d9c2f3d70fcff137ad6934cf20c9a1a1caf42aa6e6f8dd1217d8b8d24",
        ),
        (
            "a+b%c~d=e",
            "/cdn-test/a%2Bb%25c~d%3De",
            "d5b6da6bd20c35cea86bca2b837c89955bb9fdefa928e69b6eb4e714642c0229",
        ),
    ];
    for (key_name, path, signature) in cases {
        let url = object_url(LOCAL, "", "cdn-test", key_name, &[]);
        assert_eq!(url, format!("{LOCAL}{path}"));
        assert_eq!(
            authorization(&key(), "us-east-1", "GET", &url, &[CHECKSUM_MODE]),
            botocore(GET_HEADERS, signature, US),
            "{key_name}"
        );
    }
}

#[test]
fn ranged_get_with_if_match() {
    let url = object_url("http://localhost:9000", "", "cdn-test", "big.bin", &[]);
    let headers = [
        CHECKSUM_MODE,
        ("range", "bytes=5242880-10485759"),
        ("if-match", "\"9b2cf535f27731c974343645a3985328-3\""),
    ];
    assert_eq!(
        authorization(&key(), "eu-west-3", "GET", &url, &headers),
        botocore(
            "host;if-match;range;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date",
            "d38821dc52555643d7920d443db2241443278848f712dcaeb7a24648a331006f",
            "AKIDEXAMPLE/20251202/eu-west-3"
        )
    );
}

#[test]
fn upload_part_query_and_checksum_headers() {
    let url = object_url(
        LOCAL,
        "",
        "cdn-test",
        "big.bin",
        &[("uploadId", "abc/DEF+="), ("partNumber", "3")],
    );
    assert_eq!(
        url,
        format!("{LOCAL}/cdn-test/big.bin?partNumber=3&uploadId=abc%2FDEF%2B%3D")
    );
    let checksum = checksum_headers(Algorithm::Crc32, 0);
    let mut headers: Vec<(&str, &str)> = checksum
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("x-amz-checksum-crc32", "AAAAAA=="),
            ("x-amz-sdk-checksum-algorithm", "CRC32")
        ]
    );
    headers.push(("content-length", "5242880"));
    assert_eq!(
        authorization(&key(), "us-east-1", "PUT", &url, &headers),
        botocore(
            "content-length;host;x-amz-checksum-crc32;x-amz-content-sha256;x-amz-date;\
             x-amz-sdk-checksum-algorithm",
            "14815f0fc59cbf41513172be89e04f871d4f048fe43d830922fbaff254b353eb",
            US
        )
    );
}

#[test]
fn checksums_are_base64_of_big_endian_bytes() {
    // CRC32C of "hello world" is 0xc99465aa.
    assert_eq!(
        checksum_headers(Algorithm::Crc32c, 0xc994_65aa),
        [
            ("x-amz-checksum-crc32c".into(), "yZRlqg==".into()),
            ("x-amz-sdk-checksum-algorithm".into(), "CRC32C".into())
        ]
    );
}

/// Inner runs of spaces and tabs are signed as one space (as botocore and
/// SigV4 do), while the values go on the wire exactly as given.
#[test]
fn values_with_inner_spaces_and_tabs() {
    let url = object_url(LOCAL, "", "cdn-test", "page.html", &[]);
    let headers = [
        ("x-amz-checksum-crc32c", "yZRlqg=="),
        ("x-amz-sdk-checksum-algorithm", "CRC32C"),
        ("content-type", "text/plain;  charset=utf-8"),
        ("cache-control", "public,\tmax-age=60"),
        ("x-amz-meta-note", "  two  spaces \t and\ttabs  "),
        ("content-length", "11"),
    ];
    assert_eq!(
        authorization(&key(), "us-east-1", "PUT", &url, &headers),
        botocore(
            "cache-control;content-length;content-type;host;x-amz-checksum-crc32c;\
             x-amz-content-sha256;x-amz-date;x-amz-meta-note;x-amz-sdk-checksum-algorithm",
            "f788fc1c32e76d0e93a79bb05d579dff1bf5355b113e3bc9240e6d0ff4f63012",
            US
        )
    );
    let sent = sign(
        &key(),
        "us-east-1",
        "PUT",
        &url,
        &owned(&headers),
        Payload::Unsigned,
        at(TIME),
    )
    .unwrap();
    assert_eq!(header(&sent, "cache-control"), ["public,\tmax-age=60"]);
    assert_eq!(
        header(&sent, "content-type"),
        ["text/plain;  charset=utf-8"]
    );
    assert_eq!(
        header(&sent, "x-amz-meta-note"),
        ["  two  spaces \t and\ttabs  "]
    );
    assert_eq!(header(&sent, "x-amz-content-sha256"), ["UNSIGNED-PAYLOAD"]);
}

/// A repeated name is signed as SigV4 says (values trimmed, joined by `,`)
/// and sent as one line that canonicalises to the same.
#[test]
fn repeated_headers_are_merged() {
    let url = object_url(LOCAL, "", "cdn-test", "k", &[]);
    let headers = [
        ("x-amz-meta-a", "1"),
        ("X-Amz-Meta-A", " 2   3 "),
        ("x-amz-meta-a", "\t4"),
        ("content-length", "0"),
    ];
    assert_eq!(
        authorization(&key(), "us-east-1", "PUT", &url, &headers),
        botocore(
            "content-length;host;x-amz-content-sha256;x-amz-date;x-amz-meta-a",
            "83aeb08975b6e1fe08f9a16bfa54546057b7040223d53fcc4fef8687b5710e42",
            US
        )
    );
    let sent = sign(
        &key(),
        "us-east-1",
        "PUT",
        &url,
        &owned(&headers),
        Payload::Unsigned,
        at(TIME),
    )
    .unwrap();
    assert_eq!(header(&sent, "x-amz-meta-a"), ["1,2   3,4"]);
}

#[test]
fn session_tokens_are_sent_and_signed() {
    let url = object_url("https://s3.example.com:443", "", "cdn-test", "k", &[]);
    let headers = [
        ("cache-control", "public,  max-age=60"),
        ("content-length", "1"),
    ];
    let sent = sign(
        &temporary(),
        "garage",
        "PUT",
        &url,
        &owned(&headers),
        Payload::Unsigned,
        at(TIME),
    )
    .unwrap();
    assert_eq!(header(&sent, "host"), ["s3.example.com"]);
    assert_eq!(
        header(&sent, "x-amz-security-token"),
        ["FwoGZXIvYXdzEJr//////////token=="]
    );
    assert_eq!(
        header(&sent, "authorization"),
        [botocore(
            "cache-control;content-length;host;x-amz-content-sha256;x-amz-date;\
             x-amz-security-token",
            "f8e76c1cfd90c4532f03d526e133f02b6a62aa42bd12856d9f3c575dd2ebcf45",
            "ASIAEXAMPLE/20251202/garage"
        )]
    );
}

#[test]
fn endpoints_with_a_port_and_a_base_path() {
    let url = object_url(
        "https://s3.example.com:8443",
        "/base",
        "cdn-test",
        " lead",
        &[],
    );
    assert_eq!(
        authorization(&temporary(), "us-east-1", "GET", &url, &[CHECKSUM_MODE]),
        botocore(
            "host;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date;x-amz-security-token",
            "e4181dcefd77f26ce1ed40aeae0f156fe421eaa1472ebc32b1d72bbfdb5a24de",
            "ASIAEXAMPLE/20251202/us-east-1"
        )
    );
}

#[test]
fn hop_by_hop_headers_are_sent_unsigned_and_signer_headers_refused() {
    let url = object_url(LOCAL, "", "b", "k", &[]);
    let sent = sign(
        &key(),
        "us-east-1",
        "GET",
        &url,
        &owned(&[("user-agent", "x/1"), ("expect", "100-continue")]),
        Payload::Empty,
        at(TIME),
    )
    .unwrap();
    assert_eq!(header(&sent, "user-agent"), ["x/1"]);
    assert!(header(&sent, "authorization")[0]
        .contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    for name in SIGNER_HEADERS {
        let refused = sign(
            &key(),
            "us-east-1",
            "GET",
            &url,
            &owned(&[(name, "x")]),
            Payload::Empty,
            at(TIME),
        );
        assert!(refused.is_err(), "{name}");
    }
}

#[test]
fn canonical_values_follow_pythons_split() {
    assert_eq!(canonical_value("  a \t\t b  "), "a b");
    assert_eq!(canonical_value("a\u{a0}b"), "a b");
    assert_eq!(canonical_value(""), "");
    assert_eq!(canonical_value("x"), "x");
}
