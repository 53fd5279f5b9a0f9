"""Real S3 servers on 127.0.0.1, started once per session.

- ``moto_server``: moto's ThreadedMotoServer, no authentication.
- ``iam_server``: a second moto server, in its own process, with IAM
  enforced, a bucket, a read-only user and a write-only user
  (``cdn_manager.local_server``).
- ``s3s_server``: s3s-fs, an independent implementation (Rust), with one key
  pair, serving a temporary folder.
- ``garage_server``: Garage, a distributed S3 store used in production, as
  one node with its region set to "garage", a read key and a write key
  allowed on every bucket (``helpers/garage.py`` runs the processes).

Every test is also watched for leaked secrets (``no_secret_leaks``) and
for a manager falling back to boto3 (``no_unintended_fallback``): a test
that means to exercise the fallback says so with ``@pytest.mark.fallback``.

Sync and async faces: the ``face`` fixture runs a test twice, once with
``CDNManager`` and once with ``AsyncCDNManager`` driven through the same sync
method names (:class:`BlockingFace`), so one test body proves both. A module
adopts it with one line::

    pytestmark = pytest.mark.usefixtures("face")

Tests must then get their manager from ``server.manager()`` (which hands out
the face under test) rather than building a ``CDNManager`` themselves.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import boto3
import pytest
import urllib3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from cdn_manager import CDNCredentials, CDNError, CDNManager, TransferConfig
from cdn_manager._planes.adaptive import FALLBACK_MARK

from helpers.faces import BlockingFace
from helpers.faultproxy import FaultProxy
from helpers.garage import REGION as GARAGE_REGION
from helpers.garage import GarageCluster, garage_binary
from helpers.leaks import leaked, new_secret, remember
from helpers.ports import reserve_port

MiB = 1024 * 1024
#: Small parts so multipart paths run on modest payloads (S3's minimum is 5 MiB).
SMALL_PARTS = TransferConfig(
    multipart_threshold=6 * MiB, download_threshold=6 * MiB, part_size=5 * MiB
)
BUCKET = "cdn-test"
#: Bytes per second through the throttled proxy (``slow_moto``): a 12 MiB
#: transfer takes 1.5 s, long enough to be watched or interrupted.
SLOW_RATE = 8 * MiB


def admin_client(
    endpoint: str,
    key: str = "admin",
    secret: str = "admin-secret",
    attempts: int | None = None,
    checksums: Literal["when_supported", "when_required"] = "when_supported",
    region: str = "us-east-1",
) -> Any:
    """A plain boto3 client: botocore's default retries unless ``attempts``;
    a CRC32 on every upload unless ``checksums="when_required"``."""
    retries: Any = {"total_max_attempts": attempts} if attempts else None
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret).client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
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
    #: Creates a bucket both keys may use, where ``admin`` cannot (Garage).
    create: Callable[[str], None] | None = None
    #: The proxy ``endpoint`` is (``slow_moto``): what it saw, for waiting on.
    proxy: FaultProxy | None = None

    def manager(self, config: TransferConfig = SMALL_PARTS, **fields: str | None) -> CDNManager:
        """A manager on this server; ``fields`` override credential fields
        (secrets given here are watched for leaks too)."""
        remember(*(value for name, value in fields.items() if value and name.endswith("_secret")))
        creds = {**self.credentials.__dict__, **fields}
        return CDNManager(CDNCredentials(**creds), config)

    def new_bucket(self) -> str:
        return self.create_bucket(f"b-{uuid.uuid4().hex[:12]}")

    def create_bucket(self, name: str) -> str:
        """Creates ``name``, which both keys of ``credentials`` may use."""
        if self.create is None:
            self.admin.create_bucket(Bucket=name)
        else:
            self.create(name)
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

    def parts_arrived(self, bucket: str) -> bool:
        """Whether a part of an unfinished upload has reached the server.
        Waiting for it, not for the upload's creation, makes sure the client
        journaled the upload first (it does so before sending a part): an
        interrupt between creation and journal aborts the upload instead."""
        if self.data_root is None:
            listed = self.admin.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
            return any(
                self.admin.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get(
                    "Parts"
                )
                for u in listed
            )
        # s3s-fs writes a part to ".upload_id-<id>.part-<n>" as it arrives.
        uploads = self.unfinished_uploads(bucket)
        return any(
            p.name.startswith(tuple(f".upload_id-{u}.part-" for u in uploads))
            for p in self.data_root.iterdir()
        )

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


#: The user's cache folder, from before ``private_cache`` replaces it: the
#: packaging tests build and install with it (pip's and zig's caches).
USER_CACHE_HOME = os.environ.get("XDG_CACHE_HOME")


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Deploys cache checksums under ``$XDG_CACHE_HOME``: the suite (and the
    commands it starts, which inherit the environment) uses its own."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if before is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    admin = admin_client(endpoint)
    admin.create_bucket(Bucket=BUCKET)
    creds = CDNCredentials(
        endpoint, "reader-key", new_secret("moto-reader"), "writer-key", new_secret("moto-writer")
    )
    yield Server(endpoint, creds, admin, "moto")
    server.stop()


@pytest.fixture(scope="session")
def iam_server() -> Iterator[Server]:
    """moto with IAM enforced: the reader may only read, the writer only write
    (the policies are ``cdn_manager.local_server.reader_policy``/``writer_policy``).

    It runs in a process of its own: moto's state and IAM switch are per
    process, and ``moto_server`` must stay open.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "cdn_manager.local_server", BUCKET],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        reader, writer, admin_key = (tuple(started[k]) for k in ("reader", "writer", "admin"))
        remember(reader[1], writer[1], admin_key[1])
        endpoint = started["endpoint"]
        creds = CDNCredentials(endpoint, *reader, *writer)
        admin = admin_client(endpoint, *admin_key)
        yield Server(endpoint, creds, admin, "moto-iam", (admin_key[0], admin_key[1]))
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(10)


def _s3s_binary() -> str | None:
    """$CDN_MANAGER_S3S_FS, else where `make test` installs it, else PATH."""
    for candidate in (
        os.environ.get("CDN_MANAGER_S3S_FS"),
        str(Path.home() / ".cache/cdn-manager/s3s-fs/bin/s3s-fs"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("s3s-fs")


@pytest.fixture(scope="session")
def s3s_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = _s3s_binary()
    if binary is None:
        pytest.fail("s3s-fs not found: run `make test` (it installs it) or set CDN_MANAGER_S3S_FS")
    root = tmp_path_factory.mktemp("s3s-data")
    port = reserve_port()
    key, secret = "s3s-key", new_secret("s3s")
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


@pytest.fixture(scope="session")
def garage_bin() -> str:
    binary = garage_binary()
    if binary is None:
        pytest.fail(
            "garage not found: run `make test-garage` (it installs it) or set CDN_MANAGER_GARAGE"
        )
    return binary


@pytest.fixture(scope="session")
def garage_server(garage_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One Garage node, its region ("garage") in the credentials
    (``test_garage.py`` also runs without it: learnt)."""
    cluster = GarageCluster(garage_bin, tmp_path_factory.mktemp("garage"))
    try:
        admin_key = cluster.create_key("admin")
        reader, writer = cluster.create_key("reader"), cluster.create_key("writer")
        remember(admin_key[1], reader[1], writer[1])

        def create(bucket: str) -> None:
            cluster.create_bucket(bucket)
            cluster.allow(bucket, admin_key[0], "read", "write", "owner")
            cluster.allow(bucket, reader[0], "read")
            cluster.allow(bucket, writer[0], "write")

        endpoint = cluster.endpoint
        server = Server(
            endpoint,
            CDNCredentials(endpoint, *reader, *writer, region=GARAGE_REGION),
            admin_client(endpoint, *admin_key, region=GARAGE_REGION),
            "garage",
            admin_key,
            create=create,
        )
        server.create_bucket(BUCKET)
        yield server
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def powerless_key(iam_server: Server) -> tuple[str, str]:
    """A key pair on ``iam_server`` of a user without any permission."""
    key, secret = iam_server.admin_key
    iam = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret).client(
        "iam", endpoint_url=iam_server.endpoint, region_name="us-east-1"
    )
    iam.create_user(UserName="cdn-powerless")
    created = iam.create_access_key(UserName="cdn-powerless")["AccessKey"]
    remember(created["SecretAccessKey"])
    return created["AccessKeyId"], created["SecretAccessKey"]


ANY_SERVER = {"moto": "moto_server", "s3s-fs": "s3s_server", "garage": "garage_server"}


def pytest_configure(config: pytest.Config) -> None:
    """A shell without job control starts a background command (``.ci/run
    &``) with SIGINT ignored, and a child inherits that: the CLI would then
    (rightly, as any Unix program) ignore the Ctrl-C the interrupt tests
    send it. A Python handler here is reset to the default in every child."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


#: What ``make test-fast`` (the inner loop, marker ``inner``) leaves to
#: ``make test``: modules and tests that explore one capability in depth,
#: where the inner loop keeps one round trip of each capability.
DEPTH = {
    "test_names": "every class of control character, through every command",
    "test_faults": "the fault matrix: each fault at each step",
    "test_interrupts": "Ctrl-C and SIGTERM at each stage, on each plane",
    "test_memory_safety": "second interrupts, buffers released while in use",
    "test_bandwidth": "transfers held to a rate (seconds each)",
    "test_interop": "other tools' objects (aws, rclone, s3cmd)",
    "test_faultproxy": "the test proxy's own faults",
    "test_proxy": "HTTP proxies, both planes",
    "test_tls": "TLS in front of the servers",
    "test_local_server": "the embedded server's own behaviour",
    "test_resume": "interrupted downloads, resumed",
    "test_resume_upload": "interrupted uploads, resumed",
    "test_hints": "each hint, through the library and the command",
    "test_deploy_cli": "push and pull options, one by one",
    "test_async": "the async face under load and cancellation",
    "test_docs::test_console_blocks_run_and_print_what_they_show": "every page's sessions",
    "test_docs::test_python_blocks_run": "every page's Python",
    "test_docs::test_make_demo_removes_what_it_creates": "the demo, whole",
    "test_cli_habits::test_doctor_says_when_the_bucket_itself_may_be_missing": "three audits",
    "test_cli_habits::test_s3_urls_work_through_every_command": "every command, end to end",
    "test_shard::test_push_and_pull_shard_on_the_command_line": "shards through the CLI",
    "test_cli::test_local_server_serves_the_other_commands_and_stops_on_ctrl_c": "a server",
    "test_cli::test_configuration_is_found_in_the_documented_order": "each place in turn",
    "test_cli::test_interrupted_upload_exits_130_and_leaves_no_multipart_upload_once_resumed": (
        "interrupts"
    ),
    "test_cli::test_interrupted_pull_exits_130_and_leaves_only_complete_files": "interrupts",
    "test_cli::test_doctor_passes_with_least_privilege_keys_and_fails_with_swapped_ones": "audits",
    "test_cli::test_doctor_flags_one_key_pair_used_for_both_roles": "audits",
    "test_cli::test_failures_are_one_readable_line_without_the_secret": "each failure",
    "test_cli::test_pull_downloads_64_files_at_once_and_max_in_flight_sets_how_many": "width",
    "test_cli::test_objects_only_an_md5_etag_proves_are_pulled_once_and_unprovable_ones_always": (
        "each kind of proof"
    ),
    "test_cli::test_pull_refuses_keys_that_would_escape_the_folder": "hostile keys (again)",
    "test_cli::test_download_destinations_and_plain_listing": "each destination",
}
#: Where a test runs on several servers or faces, the inner loop's choice.
INNER_PARAMS = {"any_server": "s3s-fs", "face": "sync"}


def _inner_rank(item: pytest.Item) -> int:
    """How far ``item``'s parameters are from the inner loop's choice."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    return sum(params[name] != value for name, value in INNER_PARAMS.items() if name in params)


def _mark_inner_loop(items: list[pytest.Item]) -> None:
    """Marks ``inner`` one case of each test function (on s3s-fs and the
    sync face where it is parametrized so, else its first case), unless it
    is slow, packaging, on Garage or in :data:`DEPTH`."""
    cases: dict[str, list[pytest.Item]] = {}
    for item in items:
        module = item.path.stem
        name = getattr(item, "originalname", item.name)
        if module in DEPTH or f"{module}::{name}" in DEPTH:
            continue
        if any(item.get_closest_marker(m) for m in ("slow", "packaging", "garage")):
            continue
        cases.setdefault(f"{item.path}::{name}", []).append(item)
    for same in cases.values():
        min(same, key=_inner_rank).add_marker(pytest.mark.inner)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test that runs on Garage (a node or the cluster, named by
    a fixture or chosen by a parameter) ``garage``: ``make test-garage``
    runs those, ``make test`` the rest, so that each stays short. Then
    marks the inner loop (``make test-fast``)."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        chosen = any(isinstance(v, str) and v.startswith("garage") for v in params.values())
        if chosen or "garage_bin" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.garage)
    _mark_inner_loop(items)


@pytest.fixture(params=list(ANY_SERVER))
def any_server(request: pytest.FixtureRequest) -> Server:
    """Each test using this runs against every server implementation."""
    server: Server = request.getfixturevalue(ANY_SERVER[request.param])
    return server


@pytest.fixture(params=["moto", "garage"])
def peer_server(request: pytest.FixtureRequest) -> Server:
    """moto and Garage: the servers the other tools (AWS CLI, boto3,
    rclone, s3cmd) are run against in the interop tests."""
    server: Server = request.getfixturevalue(ANY_SERVER[request.param])
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


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs the test in ``tmp_path/work``, so that whatever escapes the
    download folder (even ``..`` of the working directory) still lands inside
    ``tmp_path``, where a test can see it."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def cdn_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The message and context fields of every ``CDNError`` created during
    the test, including those the bool API catches and logs."""
    messages: list[str] = []
    original = CDNError.__init__

    def recording(self: CDNError, message: str, **fields: Any) -> None:
        original(self, message, **fields)
        messages.append(f"{type(self).__name__}: {self} {fields}")

    monkeypatch.setattr(CDNError, "__init__", recording)
    return messages


@pytest.fixture(autouse=True)
def no_secret_leaks(caplog: pytest.LogCaptureFixture, cdn_errors: list[str]) -> Iterator[None]:
    """Fails any test in which a known secret appears in a cdn_manager log
    record (at any level) or in the message of any ``CDNError``."""
    caplog.set_level(logging.DEBUG, logger="cdn_manager")
    yield
    formatter = logging.Formatter("%(message)s")
    texts = [
        formatter.format(record)
        for phase in ("setup", "call")
        for record in caplog.get_records(phase)
        if record.name.startswith("cdn_manager")
    ]
    found = leaked([*texts, *cdn_errors])
    if found:
        where = [text.replace(secret, "<SECRET>") for secret, text in found]
        pytest.fail(f"a secret leaked into: {where}", pytrace=False)


@pytest.fixture(autouse=True)
def no_unintended_fallback(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Fails any test in which a manager moved to the boto3 plane (a native
    bug hiding behind the fallback) unless the test is marked ``fallback``."""
    yield
    if request.node.get_closest_marker("fallback"):
        return
    switches = [
        record.getMessage()
        for phase in ("setup", "call")
        for record in caplog.get_records(phase)
        if getattr(record, FALLBACK_MARK, False)
    ]
    if switches:
        pytest.fail(f"a manager fell back to boto3 unasked: {switches}", pytrace=False)


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


@pytest.fixture
def slow_moto(moto_server: Server) -> Iterator[Server]:
    """moto behind a proxy that passes ``SLOW_RATE`` bytes per second."""
    with FaultProxy(moto_server.endpoint, rate=SLOW_RATE) as proxy:
        fields = {**moto_server.credentials.__dict__, "host": proxy.endpoint}
        credentials = CDNCredentials(**fields)
        yield Server(proxy.endpoint, credentials, moto_server.admin, "slow-moto", proxy=proxy)
