"""The embedded server serves what the README shows: presigned links work
(and only as S3 would let them), header-signed requests stay IAM-enforced
for both keys, and ranged reads return exactly their bytes (they read only
their range now: see ``cdn_manager.local_server._moto_patches``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cdn_manager import AccessDenied

from conftest import BUCKET, MiB, Server
from helpers.cli import cdn, start


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def write_key_as_reader(server: Server) -> dict[str, str]:
    creds = server.credentials
    return {
        "downloader_access_key": creds.uploader_access_key,
        "downloader_access_secret": creds.uploader_access_secret,
    }


def test_local_server_presign_is_fetched_by_curl(tmp_path: Path) -> None:
    server = start("local-server", "--json", cwd=tmp_path)
    try:
        assert server.stdout is not None
        json.loads(server.stdout.readline())
        page = tmp_path / "index.html"
        page.write_text("<h1>hi</h1>\n")
        key = "site/a page+ü.html"  # spaces, '+' and non-ASCII in the signed path
        assert cdn("upload", "cdn-demo", key, page, cwd=tmp_path).code == 0
        url = cdn("presign", "cdn-demo", key, "--expires", "60", cwd=tmp_path).out.strip()
        curl = subprocess.run(["curl", "-sS", "--fail", url], capture_output=True, timeout=30)
        assert curl.returncode == 0, curl.stderr
        assert curl.stdout == b"<h1>hi</h1>\n"
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)


def test_presigned_links_are_checked_as_s3_checks_them(iam_server: Server) -> None:
    iam_server.admin.put_object(Bucket=BUCKET, Key="links/x.txt", Body=b"shared")
    reader = iam_server.manager()
    url = reader.presign_download_url(BUCKET, "links/x.txt", expires=60)
    assert fetch(url) == (200, b"shared")
    assert fetch(url, {"Range": "bytes=1-3"}) == (206, b"har")

    # Signed with the write key, which may not read: refused, as by S3.
    writer = iam_server.manager(**write_key_as_reader(iam_server))
    status, body = fetch(writer.presign_download_url(BUCKET, "links/x.txt", expires=60))
    assert status == 403 and b"AccessDenied" in body
    # Tampered with (a longer lifetime than signed for).
    status, body = fetch(url.replace("X-Amz-Expires=60", "X-Amz-Expires=600"))
    assert status == 403 and b"SignatureDoesNotMatch" in body
    # Expired: signed for 1 s, fetched once that second has passed on the
    # clock the server checks it by (this machine's); waiting for the time
    # itself, nothing to poll.
    short = reader.presign_download_url(BUCKET, "links/x.txt", expires=1)
    query = parse_qs(urlsplit(short).query)
    assert query["X-Amz-Expires"] == ["1"]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert signed_at <= datetime.now(UTC)
    while (left := (signed_at + timedelta(seconds=1) - datetime.now(UTC)).total_seconds()) >= 0:
        time.sleep(left + 0.01)
    assert fetch(short)[0] == 403
    # A missing object is still a 404 for the key that may list.
    missing = reader.presign_download_url(BUCKET, "links/none.txt", expires=60)
    assert fetch(missing)[0] == 404


def test_header_signed_requests_stay_enforced_for_both_keys(iam_server: Server) -> None:
    iam_server.admin.put_object(Bucket=BUCKET, Key="links/y.txt", Body=b"y")
    writer = iam_server.manager(**write_key_as_reader(iam_server))
    with pytest.raises(AccessDenied):
        writer.download_bytes(BUCKET, "links/y.txt")
    creds = iam_server.credentials
    reader_writes = iam_server.manager(
        uploader_access_key=creds.downloader_access_key,
        uploader_access_secret=creds.downloader_access_secret,
    )
    with pytest.raises(AccessDenied):
        reader_writes.put_bytes(BUCKET, "links/z.txt", b"z")


def test_ranged_reads_return_exactly_their_bytes(iam_server: Server, tmp_path: Path) -> None:
    data = os.urandom(21 * MiB + 12345)  # ranged download, a short last range
    iam_server.admin.put_object(Bucket=BUCKET, Key="links/big.bin", Body=data)
    path = iam_server.manager().download_file(BUCKET, "links/big.bin", tmp_path / "big.bin")
    assert path.read_bytes() == data
    admin = iam_server.admin
    for spec, expected in (
        ("bytes=0-0", data[:1]),
        ("bytes=-10", data[-10:]),
        (f"bytes={len(data) - 5}-", data[-5:]),
        (f"bytes=100-{len(data) + 100}", data[100:]),
    ):
        got = admin.get_object(Bucket=BUCKET, Key="links/big.bin", Range=spec)["Body"].read()
        assert got == expected, spec
    whole = admin.get_object(Bucket=BUCKET, Key="links/big.bin")["Body"].read()
    assert whole == data
