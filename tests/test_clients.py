"""The manager's two boto3 clients: how they are set up, and that the read
key only ever reads and the write key only ever writes (seen on the wire,
through a proxy, whichever data plane sends the bytes, against the
IAM-enforcing server)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from cdn_manager import CDNManager, TransferConfig

from conftest import BUCKET, SMALL_PARTS, MiB, Server, StartProxy
from helpers.wire import Sent, sent


def on_the_wire(
    server: Server, fault_proxy: StartProxy, config: TransferConfig = SMALL_PARTS, **fields: str
) -> tuple[CDNManager, Callable[[], list[Sent]]]:
    """A manager whose every request passes a recording proxy, and what it sent."""
    proxy = fault_proxy(server)
    return server.manager(config, host=proxy.endpoint, **fields), lambda: sent(proxy)


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


def test_region_is_configurable_and_used_for_signing(
    moto_server: Server, fault_proxy: StartProxy, workdir: Path
) -> None:
    manager, wire = on_the_wire(moto_server, fault_proxy, region="eu-west-3")
    assert manager.upload(BUCKET, "region.txt", b"signed for eu-west-3")
    assert manager.download(BUCKET, "region.txt")
    assert manager.upload_client.meta.region_name == "eu-west-3"
    assert manager.download_client.meta.region_name == "eu-west-3"
    assert {s.region for s in wire()} == {"eu-west-3"}


def test_requests_are_path_style_on_the_endpoint(
    moto_server: Server, fault_proxy: StartProxy, workdir: Path
) -> None:
    manager, wire = on_the_wire(moto_server, fault_proxy)
    assert manager.upload(BUCKET, "style/k.txt", b"x")
    assert manager.download(BUCKET, "style/k.txt")
    assert {s.operation for s in wire()} == {"PutObject", "GetObject"}
    for request in wire():
        assert request.target.startswith(f"/{BUCKET}/style/k.txt")


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
def test_writes_are_signed_with_the_write_key_only(
    iam_server: Server, fault_proxy: StartProxy, workdir: Path, name: str
) -> None:
    manager, wire = on_the_wire(iam_server, fault_proxy)
    assert WRITES[name](manager, workdir) in (True, None)
    assert wire(), "nothing was sent"
    assert {s.operation for s in wire()} <= WRITE_OPERATIONS
    assert {s.access_key for s in wire()} == {iam_server.credentials.uploader_access_key}


@pytest.mark.parametrize("name", list(READS))
def test_reads_are_signed_with_the_read_key_only(
    iam_server: Server, fault_proxy: StartProxy, workdir: Path, stored: None, name: str
) -> None:
    manager, wire = on_the_wire(iam_server, fault_proxy)
    assert READS[name](manager, workdir) not in (False, None)
    assert wire(), "nothing was sent"
    assert {s.operation for s in wire()} <= READ_OPERATIONS
    assert {s.access_key for s in wire()} == {iam_server.credentials.downloader_access_key}


def test_consecutive_transfers_reuse_their_connections(
    s3s_server: Server, fault_proxy: StartProxy
) -> None:
    """A response read to its end hands its connection back to the pool, so
    transfers one after the other do not each open a connection (at most
    one per key: the boto3 plane has a pool per client)."""
    proxy = fault_proxy(s3s_server)
    manager = s3s_server.manager(host=proxy.endpoint)
    payloads = {f"reuse/{i}.bin": os.urandom(200_000 + i) for i in range(10)}
    for key, data in payloads.items():
        manager.put_bytes(BUCKET, key, data)
    for key, data in payloads.items():
        assert manager.download_bytes(BUCKET, key) == data
    assert proxy.total_requests >= 2 * len(payloads)
    assert proxy.total_connections <= 2


@pytest.mark.parametrize("region", [None, "eu-west-1"])
def test_moto_serves_a_bucket_of_another_region_for_any_signing_region(
    moto_server: Server, workdir: Path, region: str | None
) -> None:
    """Unlike AWS, moto answers a request signed for another region than its
    bucket's: there is nothing to learn (the README's provider notes)."""
    bucket = f"eu-{uuid.uuid4().hex[:12]}"
    moto_server.admin.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    manager = moto_server.manager(**({"region": region} if region else {}))
    manager.put_bytes(bucket, "k", MULTIPART)
    assert manager.get_file(bucket, "k", workdir / "k").read_bytes() == MULTIPART
    expected = "eu-west-1 (configured)" if region else "us-east-1 (learnt)"
    assert manager.check(bucket).region == expected
