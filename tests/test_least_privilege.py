"""Each key does its own job and nothing else, on servers that enforce it:
moto with IAM (``iam_server``: the policies of ``cdn_manager.local_server``)
and Garage (``garage_server``: per-bucket read and write grants)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from cdn_manager import AccessDenied, CredentialsRejected

from conftest import BUCKET, MiB, Server
from helpers.disk import nothing_lost
from helpers.leaks import new_secret

PAYLOADS = {"small": b"least privilege", "multipart": os.urandom(7 * MiB)}


@pytest.fixture(params=["moto-iam", "garage"])
def keyed_server(request: pytest.FixtureRequest) -> Server:
    """A server whose read key may only read and write key only write."""
    server: Server = request.getfixturevalue(
        "iam_server" if request.param == "moto-iam" else "garage_server"
    )
    return server


def swapped(server: Server) -> dict[str, str]:
    """Credential fields with the reader's pair as the writer's and back."""
    c = server.credentials
    return {
        "downloader_access_key": c.uploader_access_key,
        "downloader_access_secret": c.uploader_access_secret,
        "uploader_access_key": c.downloader_access_key,
        "uploader_access_secret": c.downloader_access_secret,
    }


def stored_body(server: Server, key: str) -> bytes | None:
    try:
        body: bytes = server.admin.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except ClientError:
        return None
    return body


@pytest.mark.parametrize("size", list(PAYLOADS))
def test_write_key_uploads_and_read_key_downloads(
    keyed_server: Server, workdir: Path, size: str
) -> None:
    manager = keyed_server.manager()
    key = f"least/{size}.bin"
    assert manager.upload(BUCKET, key, PAYLOADS[size]) is True
    assert manager.download(BUCKET, key) is True
    assert (workdir / BUCKET / key).read_bytes() == PAYLOADS[size]


@pytest.mark.parametrize("size", list(PAYLOADS))
def test_read_key_cannot_upload(
    keyed_server: Server, workdir: Path, cdn_log: pytest.LogCaptureFixture, size: str
) -> None:
    key = f"least/read-key-upload-{size}.bin"
    manager = keyed_server.manager(**swapped(keyed_server))
    assert manager.upload(BUCKET, key, PAYLOADS[size]) is False
    assert "reason=AccessDenied" in cdn_log.text
    assert stored_body(keyed_server, key) is None
    with pytest.raises(AccessDenied):
        manager.put_bytes(BUCKET, key, PAYLOADS[size])


def test_read_key_cannot_overwrite_an_object(keyed_server: Server, workdir: Path) -> None:
    key = "least/existing.bin"
    keyed_server.manager().put_bytes(BUCKET, key, b"original")
    assert keyed_server.manager(**swapped(keyed_server)).upload(BUCKET, key, b"vandalised") is False
    assert stored_body(keyed_server, key) == b"original"


@pytest.mark.parametrize("size", list(PAYLOADS))
def test_write_key_cannot_download(
    keyed_server: Server, workdir: Path, cdn_log: pytest.LogCaptureFixture, size: str
) -> None:
    key = f"least/write-key-download-{size}.bin"
    keyed_server.manager().put_bytes(BUCKET, key, PAYLOADS[size])
    manager = keyed_server.manager(**swapped(keyed_server))
    with nothing_lost(workdir.parent, plant=[workdir / BUCKET / key]):
        assert manager.download(BUCKET, key) is False
        with pytest.raises(AccessDenied):
            manager.get_file(BUCKET, key)
    assert "reason=AccessDenied" in cdn_log.text


REJECTED = {
    # (which pair is broken, how) -> the server's error code
    "wrong-secret": "SignatureDoesNotMatch",
    "unknown-key": "InvalidAccessKeyId",
}


def broken(server: Server, how: str) -> dict[str, str]:
    """Both pairs broken the same way: a wrong secret or an unknown key."""
    c = server.credentials
    if how == "wrong-secret":
        return {
            "downloader_access_secret": new_secret("wrong-reader"),
            "uploader_access_secret": new_secret("wrong-writer"),
        }
    return {
        "downloader_access_key": "AKIAUNKNOWNREADER000",
        "uploader_access_key": "AKIAUNKNOWNWRITER000",
        "downloader_access_secret": c.downloader_access_secret,
        "uploader_access_secret": c.uploader_access_secret,
    }


@pytest.mark.parametrize("how", list(REJECTED))
def test_rejected_credentials_fail_quickly_with_the_servers_code(
    iam_server: Server, workdir: Path, cdn_log: pytest.LogCaptureFixture, how: str
) -> None:
    key = "least/rejected.bin"
    iam_server.manager().put_bytes(BUCKET, key, b"stored with the right key")
    manager = iam_server.manager(**broken(iam_server, how))
    started = time.monotonic()
    with nothing_lost(workdir.parent, plant=[workdir / BUCKET / key]):
        assert manager.upload(BUCKET, "least/rejected-upload.bin", b"x") is False
        assert manager.download(BUCKET, key) is False
    assert time.monotonic() - started < 10
    errors = [r.getMessage() for r in cdn_log.records if r.levelname == "ERROR"]
    assert len(errors) == 2
    assert all(f"reason={REJECTED[how]}" in line for line in errors)
    assert stored_body(iam_server, "least/rejected-upload.bin") is None
    with pytest.raises(CredentialsRejected) as caught:
        manager.get_file(BUCKET, key)
    assert caught.value.reason == REJECTED[how]
