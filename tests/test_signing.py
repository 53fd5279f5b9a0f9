"""The native plane signs as botocore does: the same request at the same
second gets the same Authorization, whatever the key, query or header values;
uploads with awkward header values pass an IAM-enforcing server that re-signs
with botocore (moto), storing what botocore would store; and a server that
names its own region gets requests signed for it, as botocore's redirector
does."""

from __future__ import annotations

import dataclasses
import datetime
import http.server
import re
import threading
import zlib
from typing import Any
from unittest import mock
from urllib.parse import quote

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from cdn_manager import _core

from conftest import BUCKET, SMALL_PARTS, Server, admin_client

#: 2026-12-02T03:04:05Z
NOW = 1_796_180_645
KEY = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)
TEMPORARY = ("ASIAEXAMPLE", "secret/with+slash=", "FwoGZXIvYXdzEJr//////////tok+en==")
NATIVE = dataclasses.replace(SMALL_PARTS, data_plane="native")

#: Header values that botocore and the native plane must sign alike.
AWKWARD = {
    "two inner spaces": ("cache-control", "public,  max-age=60"),
    "a tab": ("cache-control", "public,\tmax-age=60"),
    "content type with spaces": ("content-type", "text/plain;  charset=utf-8"),
    "spaces at the ends": ("cache-control", "  no-cache  "),
    "tabs and spaces mixed": ("x-amz-meta-note", "a \t b\t\tc   d"),
}


def botocore_headers(
    credentials: tuple[str, str, str | None],
    region: str,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
) -> dict[str, str]:
    """What botocore's S3 signer sets on this request at ``NOW``: unsigned
    payload for PUT (as the native plane sends), an empty body's hash else."""
    request = AWSRequest(method=method, url=url)
    for name, value in headers:
        request.headers[name] = value  # repeated names are added, not replaced
    if method == "PUT":
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    signer = botocore.auth.S3SigV4Auth(Credentials(*credentials), "s3", region)
    now = datetime.datetime.fromtimestamp(NOW, datetime.UTC).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=now):
        signer.add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


def url_for(endpoint: str, key: str, query: str = "") -> str:
    """A path-style object URL, the key encoded as botocore encodes it."""
    url = f"{endpoint}/{BUCKET}/{quote(key, safe='/~')}"
    return f"{url}?{query}" if query else url


CASES: dict[str, tuple[Any, ...]] = {
    "plain get": (KEY, "us-east-1", "GET", url_for("http://127.0.0.1:9000", "a.txt"), []),
    "key with spaces": (KEY, "us-east-1", "GET", url_for("http://h:1", "dir/a b c"), []),
    "unicode key": (KEY, "us-east-1", "GET", url_for("http://h:1", "ünï/文件 ✓.bin"), []),
    "key with + % ~ =": (KEY, "us-east-1", "GET", url_for("http://h:1", "a+b%c~d=e"), []),
    "ranged get": (
        KEY,
        "eu-central-1",
        "GET",
        url_for("http://localhost:9000", "big.bin"),
        [
            ("x-amz-checksum-mode", "ENABLED"),
            ("range", "bytes=0-5242879"),
            ("if-match", '"0cc175b9c0f1b6a831c399e269772661-2"'),
        ],
    ),
    "upload part": (
        KEY,
        "us-east-1",
        "PUT",
        url_for("http://127.0.0.1:9000", "big.bin", "partNumber=12&uploadId=a%2Fb%2Bc%3D%3D"),
        [
            ("x-amz-checksum-crc32", "DUoRhQ=="),
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ("content-length", "5242880"),
        ],
    ),
    "repeated header": (
        KEY,
        "us-east-1",
        "PUT",
        url_for("http://h:1", "k"),
        [("x-amz-meta-a", "1"), ("X-Amz-Meta-A", "  2   3 "), ("x-amz-meta-a", "\t4")],
    ),
    "session token over https": (
        TEMPORARY,
        "garage",
        "PUT",
        url_for("https://s3.example.com", "k"),
        [("content-type", "application/octet-stream"), ("content-length", "3")],
    ),
    "endpoint with a base path": (
        TEMPORARY,
        "us-east-1",
        "GET",
        url_for("https://s3.example.com:8443/base", " lead"),
        [("x-amz-checksum-mode", "ENABLED")],
    ),
    **{
        f"value with {name}": (KEY, "us-east-1", "PUT", url_for("http://h:1", "k"), [header])
        for name, header in AWKWARD.items()
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_native_signature_is_botocores(case: str) -> None:
    credentials, region, method, url, headers = CASES[case]
    expected = botocore_headers(credentials, region, method, url, headers)
    sent = _core.sign_request(credentials, region, method, url, headers, NOW)
    names = [name for name, _ in sent]
    assert len(names) == len(set(names)), "each header name is sent once"
    got = dict(sent)
    for name in ("authorization", "x-amz-date", "x-amz-content-sha256"):
        assert got[name] == expected[name], name
    assert got.get("x-amz-security-token") == expected.get("x-amz-security-token")


def test_values_go_on_the_wire_as_given() -> None:
    headers = [("Cache-Control", "public,\tmax-age=60"), ("content-type", "a;  b")]
    sent = dict(_core.sign_request(KEY, "us-east-1", "PUT", "http://h:1/b/k", headers, NOW))
    assert sent["cache-control"] == "public,\tmax-age=60"
    assert sent["content-type"] == "a;  b"
    assert sent["host"] == "h:1"


def stored_headers(server: Server, key: str) -> tuple[str | None, str | None]:
    head = server.admin.head_object(Bucket=BUCKET, Key=key)
    return head.get("CacheControl"), head.get("ContentType")


@pytest.mark.parametrize(
    "name", ["two inner spaces", "a tab", "content type with spaces", "spaces at the ends"]
)
def test_awkward_header_values_upload_natively_to_an_iam_enforcing_server(
    iam_server: Server, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    header, value = AWKWARD[name]
    option = {"cache-control": "cache_control", "content-type": "content_type"}[header]
    key = f"signing/{name.replace(' ', '-')}"
    manager = iam_server.manager(NATIVE)
    manager.put_bytes(BUCKET, key, b"awkward", **{option: value})  # type: ignore[arg-type]

    # The same upload through boto3 with the same write key: what botocore
    # would have stored. Its own signer, which sends values as given: with
    # awscrt installed (the benchmarks install it) botocore signs with CRT,
    # which also trims the values it sends.
    monkeypatch.setitem(botocore.auth.AUTH_TYPE_MAPS, "s3v4", botocore.auth.S3SigV4Auth)
    writer = admin_client(
        iam_server.endpoint,
        iam_server.credentials.uploader_access_key,
        iam_server.credentials.uploader_access_secret,
    )
    params = {"CacheControl": value} if header == "cache-control" else {"ContentType": value}
    writer.put_object(Bucket=BUCKET, Key=key + "-boto3", Body=b"awkward", **params)

    assert stored_headers(iam_server, key) == stored_headers(iam_server, key + "-boto3")
    assert manager.download_bytes(BUCKET, key) == b"awkward"


def test_multipart_upload_with_awkward_values_passes_iam(iam_server: Server) -> None:
    manager = iam_server.manager(NATIVE)
    data = bytes(range(256)) * (7 * 4096)  # 7 MiB: two parts
    manager.put_bytes(
        BUCKET,
        "signing/multipart",
        data,
        cache_control="public,\t max-age=60",
        content_type="text/plain;  charset=utf-8",
    )
    assert manager.download_bytes(BUCKET, "signing/multipart") == data


def test_auto_does_not_fall_back_for_awkward_values(
    iam_server: Server, cdn_log: pytest.LogCaptureFixture
) -> None:
    manager = iam_server.manager(dataclasses.replace(SMALL_PARTS, data_plane="auto"))
    for name, (header, value) in AWKWARD.items():
        if header == "x-amz-meta-note":
            continue
        option = {"cache-control": "cache_control", "content-type": "content_type"}[header]
        manager.put_bytes(BUCKET, f"signing/auto-{name}", b"x", **{option: value})  # type: ignore[arg-type]
    assert "using boto3" not in cdn_log.text


class RegionBoundServer:
    """An S3 stand-in that, like Garage with ``s3_region = "garage"``,
    refuses any signature scoped to another region, naming its own; it
    records the region of each request it saw."""

    def __init__(self, region: str) -> None:
        self.regions: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def answer(self, body: bytes) -> None:
                scope = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/", self.headers["authorization"])
                signed_for = scope.group(1) if scope else ""
                server.regions.append(signed_for)
                if signed_for != region:
                    error = (
                        "<Error><Code>AuthorizationHeaderMalformed</Code><Message>Authorization "
                        "header malformed, unexpected scope</Message>"
                        f"<Region>{region}</Region></Error>"
                    ).encode()
                    self.send_response(400)
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                self.send_response(200)
                self.send_header("ETag", '"etag"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                self.answer(b"")

            def do_GET(self) -> None:
                self.answer(b"garage bytes")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_server_naming_its_own_region_gets_requests_signed_for_it() -> None:
    server = RegionBoundServer("garage")
    try:
        engine = _core.Engine(server.endpoint, None, 3.0, 10.0, 2)
        moved: list[int] = []
        control = _core.Control(moved.append)
        body = b"x" * 300_000
        engine.put(KEY, "b", "k", body, ("crc32", zlib.crc32(body)), [], control)
        # Refused once (and the progress of that attempt taken back), then
        # signed for "garage", which is kept for later requests.
        assert server.regions == ["us-east-1", "garage"]
        assert engine.region_for("b") == "garage"
        assert engine.region_for("another") == "us-east-1"
        assert control.transferred == len(body) and min(moved) < 0
        response = engine.get(KEY, "b", "k")
        writer = _core.MemoryWriter(12)
        response.read_into(writer.part(0), 12)
        assert writer.commit() == b"garage bytes"
        assert server.regions[2:] == ["garage"]
    finally:
        server.close()
