"""Bad input everywhere else: each gives False with one log line saying what
was wrong (bool API) or a precise exception (raising API), and a failing
download loses nothing that was already on disk."""

from __future__ import annotations

import array
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from cdn_manager import (
    CDNCredentials,
    CDNManager,
    InvalidRequest,
    LocalIOError,
    NotFound,
    TransferConfig,
    TransferError,
)
from cdn_manager._credentials import ENV_VARS

from conftest import BUCKET, Server
from helpers.disk import nothing_lost
from helpers.leaks import leaked, new_secret
from helpers.ports import reserve_port


def error_line(log: pytest.LogCaptureFixture) -> str:
    """The one ERROR line a failed bool call logs."""
    (line,) = [r.getMessage() for r in log.records if r.levelname == "ERROR"]
    return line


def not_stored(server: Server, key: str) -> bool:
    try:
        server.admin.head_object(Bucket=BUCKET, Key=key)
    except ClientError:
        return True
    return False


# file_bytes of the wrong type

WRONG_PAYLOADS: dict[str, Callable[[], object]] = {
    "str": lambda: "text, not bytes",
    "int": lambda: 42,
    "None": lambda: None,
    "list": lambda: [1, 2, 3],
    "array": lambda: array.array("B", b"abc"),
    "non-contiguous memoryview": lambda: memoryview(b"abcdefgh")[::2],
}


@pytest.mark.parametrize("name", list(WRONG_PAYLOADS))
def test_wrong_payload_type_is_refused_naming_the_type(
    moto_server: Server, cdn_log: pytest.LogCaptureFixture, name: str
) -> None:
    manager = moto_server.manager()
    key = f"bad-type/{name}"
    assert manager.upload(BUCKET, key, WRONG_PAYLOADS[name]()) is False  # type: ignore[arg-type]
    line = error_line(cdn_log)
    assert "reason=InvalidType" in line
    assert name.split()[-1] in line
    with pytest.raises(InvalidRequest) as caught:
        manager.put_bytes(BUCKET, key, WRONG_PAYLOADS[name]())  # type: ignore[arg-type]
    assert caught.value.reason == "InvalidType"
    assert not_stored(moto_server, key)


# Invalid bucket names

INVALID_BUCKETS = ["UPPER", "a", "has space", "../x", "x" * 64]


@pytest.mark.parametrize("bucket", INVALID_BUCKETS)
def test_invalid_bucket_name_is_refused_as_such(
    moto_server: Server, workdir: Path, cdn_log: pytest.LogCaptureFixture, bucket: str
) -> None:
    manager = moto_server.manager()
    assert manager.upload(bucket, "k", b"x") is False
    with nothing_lost(workdir.parent, plant=[workdir / bucket / "k"]):
        assert manager.download(bucket, "k") is False
    for line in [r.getMessage() for r in cdn_log.records if r.levelname == "ERROR"]:
        assert "\n" not in line, f"not one line: {line!r}"
        assert "bucket name" in line.lower()
    with pytest.raises(InvalidRequest, match=r"(?i)bucket name"):
        manager.put_bytes(bucket, "k", b"x")
    with pytest.raises(InvalidRequest, match=r"(?i)bucket name"):
        manager.get_file(bucket, "k")


@pytest.mark.parametrize("bucket", INVALID_BUCKETS)
def test_invalid_bucket_name_creates_no_local_folder(
    moto_server: Server, workdir: Path, bucket: str
) -> None:
    with nothing_lost(workdir.parent):
        assert moto_server.manager().download(bucket, "k") is False


# Local file-system refusals


@pytest.fixture
def stored_object(moto_server: Server) -> str:
    key = "local/stored.bin"
    moto_server.admin.put_object(Bucket=BUCKET, Key=key, Body=b"the object")
    return key


def test_folder_that_is_a_regular_file(
    moto_server: Server, workdir: Path, stored_object: str, cdn_log: pytest.LogCaptureFixture
) -> None:
    manager = moto_server.manager()
    folder = workdir / BUCKET
    with nothing_lost(workdir.parent, plant=[folder]):
        assert manager.download(BUCKET, stored_object) is False
        with pytest.raises(LocalIOError):
            manager.get_file(BUCKET, stored_object)
        with pytest.raises(LocalIOError):
            manager.get_file(BUCKET, stored_object, folder=folder)
    line = error_line(cdn_log)
    assert BUCKET in line and ("File exists" in line or "Not a directory" in line)


def test_parent_folder_of_the_key_that_is_a_regular_file(
    moto_server: Server, workdir: Path, stored_object: str, cdn_log: pytest.LogCaptureFixture
) -> None:
    with nothing_lost(workdir.parent, plant=[workdir / BUCKET / "local"]):
        assert moto_server.manager().download(BUCKET, stored_object) is False
    assert "Not a directory" in error_line(cdn_log)


def test_destination_that_is_a_folder_is_left_alone(
    moto_server: Server, workdir: Path, stored_object: str, cdn_log: pytest.LogCaptureFixture
) -> None:
    inside = workdir / BUCKET / stored_object / "inside.txt"
    with nothing_lost(workdir.parent, plant=[inside]):
        assert moto_server.manager().download(BUCKET, stored_object) is False
        with pytest.raises(LocalIOError):
            moto_server.manager().get_file(BUCKET, stored_object)
    assert "Is a directory" in error_line(cdn_log)


#: Runs one download and prints what the caller sees, plus the effective
#: capabilities, which prove the permission bits were in force.
DOWNLOAD_IN_A_CHILD = """
import json, logging, os, sys
from cdn_manager import CDNCredentials, CDNError, CDNManager
logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, format="%(name)s %(message)s")
manager = CDNManager(CDNCredentials.from_env())
bucket, key = sys.argv[1:3]
status = open("/proc/self/status").read()
result = {
    "euid": os.geteuid(),
    "capabilities": int(status.split("CapEff:")[1].split()[0], 16),
    "ok": manager.download(bucket, key),
}
try:
    manager.get_file(bucket, key)
except CDNError as err:
    result.update(error=type(err).__name__, reason=err.reason, message=str(err))
print(json.dumps(result))
"""


def without_privileges() -> list[str]:
    """The command prefix that makes permission bits apply to the child.

    Root bypasses them through its capabilities (CAP_DAC_OVERRIDE); setpriv
    (util-linux) starts the child as root with none left. Changing the uid
    instead would lock the child out of an interpreter installed under /root.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to test permissions as root")
    return [setpriv, "--inh-caps=-all", "--bounding-set=-all"]


@pytest.mark.parametrize("key", ["local/stored.bin", "local/new-folder/stored.bin"])
def test_destination_folder_without_write_permission(
    moto_server: Server, workdir: Path, key: str
) -> None:
    moto_server.admin.put_object(Bucket=BUCKET, Key=key, Body=b"the object")
    read_only = workdir / BUCKET / "local"
    given = {name: getattr(moto_server.credentials, name) for name in ENV_VARS}
    env = {ENV_VARS[name]: value for name, value in given.items() if value is not None}
    env["PATH"] = os.environ["PATH"]
    with nothing_lost(workdir.parent, plant=[read_only / "stored.bin"]):
        read_only.chmod(0o555)
        try:
            done = subprocess.run(
                [*without_privileges(), sys.executable, "-c", DOWNLOAD_IN_A_CHILD, BUCKET, key],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            read_only.chmod(0o755)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["euid"] != 0 or result["capabilities"] == 0
    assert result["ok"] is False
    assert result["error"] == "LocalIOError"
    assert result["reason"] == "PermissionError"
    assert "Permission denied" in result["message"]
    log = [line for line in done.stderr.splitlines() if line.startswith("cdn_manager")]
    assert any("download failed" in line and "Permission denied" in line for line in log)
    assert not leaked([done.stdout, done.stderr])


# Missing objects and buckets


@pytest.mark.parametrize(
    ("bucket", "key", "reasons"),
    [
        (BUCKET, "missing/object.bin", {"NoSuchKey"}),
        # s3s-fs answers NoSuchKey for a missing bucket too.
        ("no-such-bucket", "k.bin", {"NoSuchBucket", "NoSuchKey"}),
    ],
)
@pytest.mark.parametrize("preexisting", [False, True], ids=["nothing-there", "file-there"])
def test_missing_object_loses_nothing_and_leaves_no_file(
    any_server: Server,
    workdir: Path,
    cdn_log: pytest.LogCaptureFixture,
    bucket: str,
    key: str,
    reasons: set[str],
    preexisting: bool,
) -> None:
    manager = any_server.manager()
    plant = [workdir / bucket / key] if preexisting else []
    with nothing_lost(workdir.parent, plant=plant, new_folders_in=workdir / bucket):
        assert manager.download(bucket, key) is False
        with pytest.raises(NotFound) as caught:
            manager.get_file(bucket, key)
    assert caught.value.reason in reasons
    line = error_line(cdn_log)
    assert f"reason={caught.value.reason}" in line and repr(key) in line


def test_failure_log_is_one_line_whatever_the_key(
    moto_server: Server, workdir: Path, cdn_log: pytest.LogCaptureFixture
) -> None:
    key = "no such\nERROR forged log line\rkey"
    assert moto_server.manager().download(BUCKET, key) is False
    line = error_line(cdn_log)
    assert "\n" not in line and "\r" not in line, f"not one line: {line!r}"


# An unreachable host


def test_unreachable_host_fails_within_seconds(
    workdir: Path, cdn_log: pytest.LogCaptureFixture
) -> None:
    closed = reserve_port()  # bound then released: nothing listens there
    creds = CDNCredentials(
        f"http://127.0.0.1:{closed}", "r", new_secret("closed-r"), "w", new_secret("closed-w")
    )
    manager = CDNManager(creds)  # default settings: the bound is theirs
    key = "far/away.bin"
    with nothing_lost(workdir.parent, plant=[workdir / BUCKET / key]):
        started = time.monotonic()
        assert manager.download(BUCKET, key) is False
        assert time.monotonic() - started < 10
        started = time.monotonic()
        assert manager.upload(BUCKET, key, b"x") is False
        assert time.monotonic() - started < 10
    lines = [r.getMessage() for r in cdn_log.records if r.levelname == "ERROR"]
    assert len(lines) == 2
    assert all("EndpointConnectionError" in line and str(closed) in line for line in lines)
    # The same failure through the raising API, without the retries' wait.
    impatient = CDNManager(creds, TransferConfig(max_attempts=1))
    with pytest.raises(TransferError):
        impatient.get_file(BUCKET, key)
    with pytest.raises(TransferError):
        impatient.put_bytes(BUCKET, key, b"x")
