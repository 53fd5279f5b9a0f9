"""Real S3 servers on 127.0.0.1, started once per session.

- ``moto_server``: moto's ThreadedMotoServer, no authentication.
- ``iam_server``: a second moto server with IAM enforced, a bucket, a
  read-only user and a write-only user (``cdn_manager.local_server``).
- ``s3s_server``: s3s-fs, an independent implementation (Rust), with one key
  pair, serving a temporary folder.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import boto3
import pytest
import urllib3
from boto3.s3.transfer import TransferConfig as S3TransferConfig
from botocore.config import Config
from moto.server import ThreadedMotoServer

from cdn_manager import CDNCredentials, CDNManager, TransferConfig
from cdn_manager.local_server import free_port, start_local_server

from helpers.faultproxy import FaultProxy

MiB = 1024 * 1024
#: Small parts so multipart paths run on modest payloads (S3's minimum is 5 MiB).
SMALL_PARTS = TransferConfig(
    multipart_threshold=6 * MiB, download_threshold=6 * MiB, part_size=5 * MiB
)
BUCKET = "cdn-test"


def admin_client(
    endpoint: str,
    key: str = "admin",
    secret: str = "admin-secret",
    attempts: int | None = None,
    checksums: Literal["when_supported", "when_required"] = "when_supported",
) -> Any:
    """A plain boto3 client: botocore's default retries unless ``attempts``;
    a CRC32 on every upload unless ``checksums="when_required"``."""
    retries: Any = {"total_max_attempts": attempts} if attempts else None
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret).client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries=retries,
            request_checksum_calculation=checksums,
        ),
    )


@dataclass
class Server:
    """A running S3 server and what a test needs to use it."""

    endpoint: str
    credentials: CDNCredentials
    #: A client that may do anything (setup and inspection only).
    admin: Any
    name: str
    #: The key pair of ``admin``.
    admin_key: tuple[str, str] = ("admin", "admin-secret")
    #: s3s-fs only: the folder it serves; an object is the plain file
    #: ``data_root/bucket/key``.
    data_root: Path | None = None

    def manager(self, config: TransferConfig = SMALL_PARTS, **fields: str) -> CDNManager:
        """A manager on this server; ``fields`` override credential fields."""
        creds = {**self.credentials.__dict__, **fields}
        return CDNManager(CDNCredentials(**creds), config)

    def new_bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:12]}"
        self.admin.create_bucket(Bucket=name)
        return name

    def empty(self, bucket: str) -> None:
        """Deletes every object (moto keeps them in this process's memory)."""
        for page in self.admin.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.admin.delete_objects(Bucket=bucket, Delete={"Objects": keys})

    def unfinished_uploads(self, bucket: str) -> list[str]:
        """Multipart uploads begun and neither completed nor aborted."""
        if self.data_root is None:
            response = self.admin.list_multipart_uploads(Bucket=bucket)
            return [u["UploadId"] for u in response.get("Uploads", [])]
        # s3s-fs has no ListMultipartUploads; it keeps each open upload's
        # metadata in ".bucket-<b64>.object-<b64>.upload-<id>.metadata.json".
        prefix = f".bucket-{base64.urlsafe_b64encode(bucket.encode()).decode().rstrip('=')}."
        found = (
            re.fullmatch(r".*\.upload-(.+)\.metadata\.json", p.name)
            for p in self.data_root.iterdir()
            if p.name.startswith(prefix)
        )
        return [m.group(1) for m in found if m]

    def stored_file(self, bucket: str, key: str) -> Path:
        """s3s-fs only: the file holding an object's bytes."""
        assert self.data_root is not None, f"{self.name} keeps no files"
        return self.data_root / bucket / key


def _wait_for(endpoint: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib3.request("GET", endpoint, timeout=1.0, retries=False)
            return
        except urllib3.exceptions.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Server]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    admin = admin_client(endpoint)
    admin.create_bucket(Bucket=BUCKET)
    creds = CDNCredentials(endpoint, "reader-key", "reader-secret", "writer-key", "writer-secret")
    yield Server(endpoint, creds, admin, "moto")
    server.stop()


@pytest.fixture(scope="session")
def iam_server() -> Iterator[Server]:
    """moto with IAM enforced: the reader may only read, the writer only write
    (the policies are ``cdn_manager.local_server.READER_POLICY``/``WRITER_POLICY``)."""
    server = start_local_server(bucket=BUCKET)
    admin = admin_client(server.endpoint, *server.admin_key)
    yield Server(server.endpoint, server.credentials, admin, "moto-iam", server.admin_key)
    server.stop()


def _s3s_binary() -> str | None:
    configured = os.environ.get("CDN_MANAGER_S3S_FS")
    if configured and Path(configured).is_file():
        return configured
    return shutil.which("s3s-fs")


@pytest.fixture(scope="session")
def s3s_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = _s3s_binary()
    if binary is None:
        pytest.fail("s3s-fs not found: run `make test` (it installs it) or set CDN_MANAGER_S3S_FS")
    root = tmp_path_factory.mktemp("s3s-data")
    port = free_port()
    key, secret = "s3s-key", "s3s-secret-value"
    process = subprocess.Popen(
        [
            binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--access-key",
            key,
            "--secret-key",
            secret,
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_for(endpoint)
        admin = admin_client(endpoint, key, secret)
        admin.create_bucket(Bucket=BUCKET)
        creds = CDNCredentials(endpoint, key, secret, key, secret)
        yield Server(endpoint, creds, admin, "s3s-fs", (key, secret), data_root=root)
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(params=["moto", "s3s-fs"])
def any_server(request: pytest.FixtureRequest) -> Server:
    """Each test using this runs against both server implementations."""
    fixture = "moto_server" if request.param == "moto" else "s3s_server"
    server: Server = request.getfixturevalue(fixture)
    return server


@pytest.fixture
def bucket(any_server: Server) -> Iterator[str]:
    """A fresh bucket on ``any_server`` (so no other test's objects or
    uploads are in it), emptied afterwards."""
    name = any_server.new_bucket()
    yield name
    any_server.empty(name)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs the test in a fresh working directory (downloads land there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cdn_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="cdn_manager")
    return caplog


StartProxy = Callable[[Server], FaultProxy]


@pytest.fixture
def fault_proxy() -> Iterator[StartProxy]:
    """Starts a :class:`FaultProxy` in front of a server; every proxy started
    is closed after the test, which fails if a proxy itself broke."""
    proxies: list[FaultProxy] = []

    def start(server: Server) -> FaultProxy:
        proxies.append(FaultProxy(server.endpoint))
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.close()
    assert [error for proxy in proxies for error in proxy.errors] == []


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The error lines cdn-manager logged (a failed bool call logs one)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "cdn_manager" and r.levelno >= logging.ERROR
    ]


def files_under(root: Path) -> set[str]:
    """Every file below ``root`` (relative paths), temporary files included."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


ManagerFactory = Callable[..., CDNManager]


# The ways an object gets into a bucket, for tests of what a download proves.


def write_with_cdn_manager(server: Server, bucket: str, key: str, data: bytes) -> None:
    server.manager().put_bytes(bucket, key, data)


def write_with_boto3(server: Server, bucket: str, key: str, data: bytes) -> None:
    """boto3's own upload: one PUT with a CRC32 up to 5 MiB, else multipart
    with 5 MiB parts, each with a CRC32 (a composite CRC where kept)."""
    parts = 5 * MiB
    config = S3TransferConfig(multipart_threshold=parts, multipart_chunksize=parts)
    server.admin.upload_fileobj(io.BytesIO(data), bucket, key, Config=config)


def write_with_boto3_md5_only(server: Server, bucket: str, key: str, data: bytes) -> None:
    """One PUT with no checksum at all: only the ETag (an MD5) describes it."""
    key_id, secret = server.admin_key
    client = admin_client(server.endpoint, key_id, secret, checksums="when_required")
    client.put_object(Bucket=bucket, Key=key, Body=data)


Writer = Callable[[Server, str, str, bytes], None]
WRITERS: dict[str, Writer] = {
    "cdn-manager": write_with_cdn_manager,
    "boto3": write_with_boto3,
    "boto3-md5-only": write_with_boto3_md5_only,
}
