"""A multipart upload that cannot be resumed (from memory, or a deploy's)
whose process is killed (SIGKILL) before it can abort it is aborted by the
next upload through the same endpoint: while it runs, it is journaled by
its id alone, and a journal whose process is gone is swept at once.

Found by the soak (``make soak``): a Dask worker killed during a push left
an unfinished upload of a large file that no journal knew, so nothing could
ever abort it (moto lists every upload as begun in 2010, s3s-fs lists none,
so the search for uploads whose creation was not answered cannot find it).

A process killed between the server's answer to CreateMultipartUpload and
the journal naming the new upload (the soak met it once in 46 minutes)
leaves the intent journaled before the request was sent: the key and when.
The next sweep aborts the key's uploads begun then, without parts, where
the server dates its uploads (Garage); where it cannot (moto dates them all
2010-11-10, s3s-fs lists none), it keeps the intent until ``stale_after``,
and says so."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cdn_manager import CDNCredentials, CDNManager

from conftest import SLOW_RATE, MiB, Server
from helpers.cli import cdn, clean_env, config_for, wait_until
from helpers.faultproxy import FaultProxy
from helpers.resumable import CONFIG

RESUMABLE = Path(__file__).with_name("helpers") / "resumable.py"
SIZE = 3 * CONFIG.part_size + 2 * MiB
KEY = "up/big.bin"


@pytest.fixture(params=["moto", "s3s", "garage"])
def server(request: pytest.FixtureRequest) -> Server:
    found: Server = request.getfixturevalue(f"{request.param}_server")
    return found


def journals_of(bucket: str) -> list[dict[str, Any]]:
    """The headers of the upload journals (the suite's cache folder) of ``bucket``."""
    folder = Path(os.environ["XDG_CACHE_HOME"]) / "cdn-manager" / "uploads"
    headers = []
    for path in folder.glob("*.cdn-upload") if folder.exists() else []:
        with contextlib.suppress(FileNotFoundError):  # an upload ended meanwhile
            lines = path.read_text().splitlines()
            if lines and json.loads(lines[0])["bucket"] == bucket:
                headers.append(json.loads(lines[0]))
    return headers


@pytest.mark.parametrize("command", ["put", "deploy"])
def test_a_killed_upload_that_cannot_resume_is_aborted_by_the_next_upload(
    server: Server, tmp_path: Path, command: str
) -> None:
    bucket = server.new_bucket()
    site = tmp_path / "site"
    site.mkdir()
    (site / "big.bin").write_bytes(os.urandom(SIZE))
    with FaultProxy(server.endpoint, rate=SLOW_RATE) as slow:
        config = config_for(server, tmp_path, host=slow.endpoint)
        what = site / "big.bin" if command == "put" else site
        process = subprocess.Popen(
            [sys.executable, str(RESUMABLE), command, str(config), bucket, "up/big.bin", str(what)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        assert process.stdout is not None
        assert process.stdout.readline() == "started\n"
        # A part reaching the server means the upload was journaled first.
        wait_until(lambda: server.parts_arrived(bucket), 120, "a part of the upload")
        process.kill()
        process.communicate(timeout=60)

        # (A deploy may be sending the file and its release's kept copy.)
        left = server.unfinished_uploads(bucket)
        journals = journals_of(bucket)
        assert left and sorted(j["upload_id"] for j in journals) == sorted(left)
        assert all(j["resumable"] is False for j in journals)

        # Any upload through the same endpoint, from another process's manager.
        creds = CDNCredentials(**{**server.credentials.__dict__, "host": slow.endpoint})
        with CDNManager(creds, CONFIG) as manager:
            manager.put_bytes(bucket, "small.txt", b"the next upload")
    assert server.unfinished_uploads(bucket) == []
    assert journals_of(bucket) == []


def test_an_upload_from_memory_leaves_no_journal_when_it_ends(
    moto_server: Server, tmp_path: Path
) -> None:
    bucket = moto_server.new_bucket()
    with CDNManager(moto_server.credentials, CONFIG) as manager:
        manager.put_bytes(bucket, "big.bin", os.urandom(SIZE))
    assert journals_of(bucket) == []
    assert moto_server.unfinished_uploads(bucket) == []


def hold_after_create(
    server: Server, tmp_path: Path, bucket: str, command: str
) -> tuple[subprocess.Popen[str], str]:
    """A child uploading (``command``: "upload", a file's resumable upload,
    or "put", from memory) that the server has just answered the
    CreateMultipartUpload of, stopped before it journals the id (see
    ``helpers/resumable.py``); and that id."""
    file = tmp_path / f"big-{time.monotonic_ns()}.bin"
    file.write_bytes(os.urandom(SIZE))
    config = config_for(server, tmp_path)
    process = subprocess.Popen(
        [
            sys.executable,
            str(RESUMABLE),
            command,
            str(config),
            bucket,
            KEY,
            str(file),
            "hold-create",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "started\n"
    created = process.stdout.readline()
    assert created.startswith("created "), created + process.communicate(timeout=60)[1]
    return process, created.split()[1]


def intents_of(bucket: str) -> list[dict[str, Any]]:
    return [j for j in journals_of(bucket) if j["upload_id"] == ""]


def sweep(server: Server, stale_after: float | None = None) -> None:
    """A manager's first upload through the same endpoint (another key),
    which sweeps the journals that outlived their processes."""
    config = CONFIG if stale_after is None else replace(CONFIG, stale_after=stale_after)
    with CDNManager(server.credentials, config) as manager:
        manager.put_bytes(server.new_bucket(), "small.txt", b"the next upload")


@pytest.mark.parametrize("command", ["upload", "put"])
def test_a_process_killed_between_creating_an_upload_and_journaling_it(
    server: Server, tmp_path: Path, command: str, cdn_log: pytest.LogCaptureFixture
) -> None:
    bucket = server.new_bucket()
    before = time.time()
    process, created = hold_after_create(server, tmp_path, bucket, command)

    # The window: the server made the upload, no journal names it; the
    # intent, written before the request was sent, knows its key and when.
    (intent,) = intents_of(bucket)
    assert intent["key"] == KEY and intent["pid"] == process.pid
    assert before <= intent["began"] <= time.time() < intent["until"]
    assert created in server.unfinished_uploads(bucket)
    process.kill()
    process.communicate(timeout=60)

    sweep(server)
    if server.name == "garage":
        assert server.unfinished_uploads(bucket) == []
        assert journals_of(bucket) == []
        assert f"aborting upload {created} of {bucket}/{KEY}" in cdn_log.text
        return
    # moto dates every upload 2010-11-10, s3s-fs cannot list them: the
    # server cannot say what the process made. The sweep says so, and
    # keeps the intent (shown by doctor and clean) until stale_after...
    infos = [r.getMessage() for r in cdn_log.records if r.levelno == logging.INFO]
    said = "listed as begun at another time" if server.name == "moto" else "cannot list"
    assert any(said in line and f"{bucket}/{KEY}" in line for line in infos), infos
    assert [j["key"] for j in intents_of(bucket)] == [KEY]
    # ...and no longer: no journal outlives stale_after.
    sweep(server, stale_after=0.001)
    assert journals_of(bucket) == []


def test_a_sweep_leaves_the_upload_a_running_process_is_creating(
    garage_server: Server, tmp_path: Path
) -> None:
    """Two processes create an upload of the same key; one is killed before
    it journals its id. The other's upload, begun in the same window and
    still without parts, is not the dead one's to abort: its intent (or its
    journal), locked while it runs, keeps the sweep from aborting either
    until it has ended; then the dead one's is aborted."""
    bucket = garage_server.new_bucket()
    # (The running one first: its manager sweeps before it creates.)
    running, its_own = hold_after_create(garage_server, tmp_path, bucket, "put")
    dead, orphan = hold_after_create(garage_server, tmp_path, bucket, "put")
    dead.kill()
    dead.communicate(timeout=60)

    sweep(garage_server)
    assert sorted(garage_server.unfinished_uploads(bucket)) == sorted([orphan, its_own])
    assert len(intents_of(bucket)) == 2

    out, err = running.communicate("go on\n", timeout=120)
    assert running.returncode == 0 and out.endswith("done\n"), err
    sweep(garage_server)
    assert garage_server.unfinished_uploads(bucket) == []
    assert journals_of(bucket) == []


def test_clean_shows_and_settles_an_intent(garage_server: Server, tmp_path: Path) -> None:
    bucket = garage_server.new_bucket()
    process, created = hold_after_create(garage_server, tmp_path, bucket, "upload")
    process.kill()
    process.communicate(timeout=60)
    assert created in garage_server.unfinished_uploads(bucket)
    config = config_for(garage_server, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()

    listed = cdn("clean", empty, "--json", config=config)
    assert listed.code == 0, listed.stderr
    (upload,) = [u for u in json.loads(listed.out)["uploads"] if u.get("bucket") == bucket]
    assert upload["key"] == KEY and upload["upload_id"] is None
    assert upload["pid"] == process.pid

    removed = cdn("clean", empty, "--yes", config=config)
    assert removed.code == 0, removed.stderr
    assert garage_server.unfinished_uploads(bucket) == []
    assert journals_of(bucket) == []
