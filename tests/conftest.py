"""Real S3 servers on 127.0.0.1, started once per session.

- ``moto_server``: moto's ThreadedMotoServer, no authentication.
- ``iam_server``: a second moto server with IAM enforced, a bucket, a
  read-only user and a write-only user (``cdn_manager.local_server``).
- ``s3s_server``: s3s-fs, an independent implementation (Rust), with one key
  pair, serving a temporary folder.

Sync and async faces: the ``face`` fixture runs a test twice, once with
``CDNManager`` and once with ``AsyncCDNManager`` driven through the same sync
method names (:class:`BlockingFace`), so one test body proves both. A module
adopts it with one line::

    pytestmark = pytest.mark.usefixtures("face")

Tests must then get their manager from ``server.manager()`` (which hands out
the face under test) rather than building a ``CDNManager`` themselves.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import urllib3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from cdn_manager import AsyncCDNManager, CDNCredentials, CDNManager, TransferConfig
from cdn_manager.local_server import free_port, start_local_server

MiB = 1024 * 1024
#: Small parts so multipart paths run on modest payloads (S3's minimum is 5 MiB).
SMALL_PARTS = TransferConfig(
    multipart_threshold=6 * MiB, download_threshold=6 * MiB, part_size=5 * MiB
)
BUCKET = "cdn-test"


def admin_client(
    endpoint: str, key: str = "admin", secret: str = "admin-secret", **config: Any
) -> Any:
    """A plain boto3 client; ``config`` adds botocore ``Config`` options."""
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret).client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, **config),
    )


@dataclass
class Server:
    """A running S3 server and what a test needs to use it."""

    endpoint: str
    credentials: CDNCredentials
    #: A client that may do anything (setup and inspection only).
    admin: Any
    name: str

    def manager(self, config: TransferConfig = SMALL_PARTS, **fields: str) -> CDNManager:
        """A manager on this server; ``fields`` override credential fields."""
        creds = {**self.credentials.__dict__, **fields}
        return CDNManager(CDNCredentials(**creds), config)

    def new_bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:12]}"
        self.admin.create_bucket(Bucket=name)
        return name


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
    yield Server(server.endpoint, server.credentials, admin, "moto-iam")
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
        yield Server(endpoint, creds, admin, "s3s-fs")
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
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs the test in a fresh working directory (downloads land there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cdn_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="cdn_manager")
    return caplog


def files_under(root: Path) -> set[str]:
    """Every file below ``root`` (relative paths), temporary files included."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


ManagerFactory = Callable[..., CDNManager]


class BlockingFace:
    """An :class:`AsyncCDNManager` behind ``CDNManager``'s sync names: each
    call runs its coroutine to completion on a fresh event loop, and ``list``
    returns an iterator over what the async iteration yielded."""

    def __init__(self, manager: CDNManager) -> None:
        self.aio = AsyncCDNManager(manager)

    def __getattr__(self, name: str) -> Any:
        # Only the async face's own names: a name it lacks is an AttributeError,
        # never a silent fall-back to the sync manager.
        attr = getattr(self.aio, name)
        if name == "list":
            return lambda *args, **kwargs: iter(asyncio.run(_collect(attr(*args, **kwargs))))
        if inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: asyncio.run(attr(*args, **kwargs))
        return attr

    def close(self) -> None:
        asyncio.run(self.aio.aclose())


async def _collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


@pytest.fixture(params=["sync", "async"])
def face(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Runs the test with ``CDNManager`` ("sync"), then with ``AsyncCDNManager``
    ("async"): in the async run, ``Server.manager()`` returns a
    :class:`BlockingFace` over the manager it would have returned."""
    faces: list[BlockingFace] = []
    if request.param == "async":
        sync_manager = Server.manager

        def async_manager(self: Server, *args: Any, **kwargs: Any) -> BlockingFace:
            faces.append(BlockingFace(sync_manager(self, *args, **kwargs)))
            return faces[-1]

        monkeypatch.setattr(Server, "manager", async_manager)
    yield request.param
    for blocking in faces:
        blocking.close()
