"""The manager's two boto3 clients: how they are set up, and that the read
client only ever reads and the write client only ever writes (seen on the
wire, against the IAM-enforcing server)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cdn_manager import CDNManager, TransferConfig

from conftest import BUCKET, SMALL_PARTS, MiB, Server
from helpers.wire import record_requests

#: Everything a write may send: a PUT, or the steps of a multipart upload.
WRITE_OPERATIONS = {
    "PutObject",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
}
#: Everything a read may send: a GET (ranged or not) or a HEAD.
READ_OPERATIONS = {"GetObject", "HeadObject"}

SMALL = b"small payload"
MULTIPART = os.urandom(7 * MiB)


def test_manager_has_the_seeds_attributes(moto_server: Server) -> None:
    manager = CDNManager(moto_server.credentials)
    assert manager.creds is moto_server.credentials
    assert manager.download_client is not manager.upload_client
    for client in (manager.download_client, manager.upload_client):
        assert type(client).__name__ == "S3"
        assert client.meta.endpoint_url == moto_server.endpoint
        assert client.meta.region_name == "us-east-1"
        config = client.meta.config
        assert config.s3["addressing_style"] == "path"
        assert config.retries == {"mode": "standard", "total_max_attempts": 5}
        assert (config.connect_timeout, config.read_timeout) == (3.0, 30.0)


def test_region_is_overridable_and_used_for_signing(moto_server: Server, workdir: Path) -> None:
    manager = moto_server.manager(TransferConfig(region="eu-west-3"))
    sent = record_requests(manager.upload_client)
    assert manager.upload(BUCKET, "region.txt", b"signed for eu-west-3")
    assert manager.upload_client.meta.region_name == "eu-west-3"
    assert manager.download_client.meta.region_name == "eu-west-3"
    assert {s.region for s in sent} == {"eu-west-3"}


def test_requests_are_path_style_on_the_endpoint(moto_server: Server, workdir: Path) -> None:
    manager = moto_server.manager()
    up, down = record_requests(manager.upload_client), record_requests(manager.download_client)
    assert manager.upload(BUCKET, "style/k.txt", b"x")
    assert manager.download(BUCKET, "style/k.txt")
    assert up and down
    for request in up + down:
        assert request.url.startswith(f"{moto_server.endpoint}/{BUCKET}/style/k.txt")


Action = Callable[[CDNManager, Path], object]

WRITES: dict[str, Action] = {
    "upload": lambda m, _: m.upload(BUCKET, "who/up.bin", SMALL),
    "upload-multipart": lambda m, _: m.upload(BUCKET, "who/up-multi.bin", MULTIPART),
    "put_bytes": lambda m, _: m.put_bytes(BUCKET, "who/put.bin", bytearray(SMALL)),
}
READS: dict[str, Action] = {
    "download": lambda m, _: m.download(BUCKET, "who/stored.bin"),
    "download-ranged": lambda m, _: m.download(BUCKET, "who/stored-multi.bin"),
    "get_file": lambda m, d: m.get_file(BUCKET, "who/stored-multi.bin", folder=d / "elsewhere"),
}


@pytest.fixture(scope="module")
def stored(iam_server: Server) -> None:
    """The objects the read cases fetch, one of them multipart."""
    writer = iam_server.manager(SMALL_PARTS)
    writer.put_bytes(BUCKET, "who/stored.bin", SMALL)
    writer.put_bytes(BUCKET, "who/stored-multi.bin", MULTIPART)


@pytest.mark.parametrize("name", list(WRITES))
def test_writes_go_through_the_upload_client_only(
    iam_server: Server, workdir: Path, name: str
) -> None:
    manager = iam_server.manager(SMALL_PARTS)
    up, down = record_requests(manager.upload_client), record_requests(manager.download_client)
    assert WRITES[name](manager, workdir) in (True, None)
    assert down == []
    assert up, "nothing was sent"
    assert {s.operation for s in up} <= WRITE_OPERATIONS
    assert {s.access_key for s in up} == {iam_server.credentials.uploader_access_key}


@pytest.mark.parametrize("name", list(READS))
def test_reads_go_through_the_download_client_only(
    iam_server: Server, workdir: Path, stored: None, name: str
) -> None:
    manager = iam_server.manager(SMALL_PARTS)
    up, down = record_requests(manager.upload_client), record_requests(manager.download_client)
    assert READS[name](manager, workdir) not in (False, None)
    assert up == []
    assert down, "nothing was sent"
    assert {s.operation for s in down} <= READ_OPERATIONS
    assert {s.access_key for s in down} == {iam_server.credentials.downloader_access_key}
