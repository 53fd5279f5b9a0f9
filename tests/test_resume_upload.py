"""An interrupted multipart upload of a file resumes where it stopped (issue 13).

A child process (``helpers/resumable.py upload``) is killed with SIGKILL
midway through the upload of a file of four parts; the same call run again
sends only the parts missing (request body bytes counted at the loopback
proxy), stores the exact file with its full-object CRC, and leaves no
journal and no unfinished multipart upload. A file changed since, an upload
the server no longer has, a damaged journal or ``resume=False`` start over,
and abort the stale upload."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from cdn_manager import CDNCredentials, CDNManager, TransferConfig, TransferResult, UploadBusy
from cdn_manager._checksums import encode
from cdn_manager._resume import upload_journal

from conftest import SLOW_RATE, MiB, Server
from helpers.cli import cdn, clean_env, config_for, wait_until
from helpers.faultproxy import FaultProxy, Flow
from helpers.resumable import CONFIG

RESUMABLE = Path(__file__).with_name("helpers") / "resumable.py"
PART = CONFIG.part_size
SIZE = 3 * PART + 2 * MiB  # four parts, the last one short
KEY = "up/big.bin"


@pytest.fixture(params=["moto", "s3s", "garage"])
def server(request: pytest.FixtureRequest) -> Server:
    found: Server = request.getfixturevalue(f"{request.param}_server")
    return found


def journals(bucket: str, named: bool = False) -> list[Path]:
    """The upload journals (in the suite's private cache folder) of uploads
    to ``bucket``; with ``named``, only those that name their upload (not
    the intent an upload writes before it creates one, removed once the id
    is journaled)."""
    folder = Path(os.environ["XDG_CACHE_HOME"]) / "cdn-manager" / "uploads"
    found = []
    for path in folder.glob("*.cdn-upload") if folder.exists() else []:
        with contextlib.suppress(FileNotFoundError):  # an upload ended meanwhile
            lines = path.read_text().splitlines()
            header = json.loads(lines[0]) if lines else {}
            if header.get("bucket") == bucket and (header["upload_id"] or not named):
                found.append(path)
    return found


def journal_of(bucket: str) -> Path:
    (path,) = journals(bucket)
    return path


def journaled(bucket: str) -> list[int]:
    """The part numbers the journal of the upload to ``bucket`` records."""
    paths = journals(bucket, named=True)
    if not paths:
        return []
    with contextlib.suppress(FileNotFoundError):
        return [json.loads(line)[0] for line in paths[0].read_text().splitlines()[1:]]
    return []


def upload_id_of(bucket: str) -> str:
    header: dict[str, str] = json.loads(journal_of(bucket).read_text().splitlines()[0])
    return header["upload_id"]


def via(server: Server, proxy: FaultProxy) -> CDNCredentials:
    return CDNCredentials(**{**server.credentials.__dict__, "host": proxy.endpoint})


def kill_midway(
    server: Server, proxy: FaultProxy, tmp_path: Path, bucket: str, file: Path, *extra: str
) -> int:
    """Starts the upload in a child (with ``cli``: the command line's part
    size), SIGKILLs it once two parts are journaled; returns the bytes the
    journal then records (of parts of ``PART`` bytes)."""
    config = config_for(server, tmp_path, host=proxy.endpoint)
    process = subprocess.Popen(
        [sys.executable, str(RESUMABLE), "upload", str(config), bucket, KEY, str(file), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "started\n"
    wait_until(lambda: len(journaled(bucket)) >= 2, 120, "two journaled parts")
    process.kill()
    process.communicate(timeout=60)
    assert len(server.unfinished_uploads(bucket)) == 1  # kept for the next run
    parts = journaled(bucket)
    return sum(min(PART, SIZE - (n - 1) * PART) for n in parts)


def upload_again(
    server: Server, proxy: FaultProxy, bucket: str, file: Path, config: TransferConfig = CONFIG
) -> TransferResult:
    """Runs the same upload again in this process, counting what it sends."""
    proxy.request_bodies = Flow()
    progress: list[int] = []
    with CDNManager(via(server, proxy), config) as manager:
        result = manager.upload_file(bucket, KEY, file, progress=progress.append)
    assert sum(progress) == file.stat().st_size  # kept parts counted too
    return result


def assert_stored_exactly(server: Server, bucket: str, data: bytes) -> None:
    """The object holds ``data`` and its full-object CRC (as the server
    keeps it where it does, and as the metadata this library adds)."""
    head = server.admin.head_object(Bucket=bucket, Key=KEY, ChecksumMode="ENABLED")
    crc = encode(zlib.crc32(data))
    assert head["Metadata"]["cdn-crc32"] == crc
    if "ChecksumCRC32" in head:
        assert head["ChecksumCRC32"] == crc
    assert server.admin.get_object(Bucket=bucket, Key=KEY)["Body"].read() == data
    assert server.unfinished_uploads(bucket) == []
    assert journals(bucket) == []


@pytest.fixture
def slow(server: Server) -> FaultProxy:
    with FaultProxy(server.endpoint, rate=SLOW_RATE) as proxy:
        yield proxy


def test_a_killed_upload_resumes_with_only_the_missing_bytes(
    server: Server, slow: FaultProxy, tmp_path: Path
) -> None:
    bucket = server.new_bucket()
    file = tmp_path / "big.bin"
    data = os.urandom(SIZE)
    file.write_bytes(data)
    kept = kill_midway(server, slow, tmp_path, bucket, file)
    assert kept >= 2 * PART

    result = upload_again(server, slow, bucket, file)
    sent = slow.request_bodies.bytes
    print(f"kept {kept} of {SIZE}; second run sent {sent} body bytes (missing {SIZE - kept})")
    if server.name == "s3s-fs":
        # s3s-fs lists an upload's parts without their ETags: nothing proves
        # a kept part, so the old upload is aborted and the file sent whole.
        assert result.resumed_bytes == 0 and sent >= SIZE
    else:
        # Garage lets only a key with read rights list an upload's parts:
        # the read key lists them there.
        assert result.resumed_bytes == kept
        assert sent <= SIZE - kept + PART
    assert_stored_exactly(server, bucket, data)


def test_a_file_changed_between_the_runs_is_uploaded_anew(
    server: Server, slow: FaultProxy, tmp_path: Path
) -> None:
    bucket = server.new_bucket()
    file = tmp_path / "big.bin"
    file.write_bytes(os.urandom(SIZE))
    kill_midway(server, slow, tmp_path, bucket, file)
    new = os.urandom(SIZE)
    with open(file, "r+b") as same_inode:
        same_inode.write(new)

    result = upload_again(server, slow, bucket, file)
    assert result.resumed_bytes == 0
    assert slow.request_bodies.bytes >= SIZE
    assert_stored_exactly(server, bucket, new)  # the stale upload aborted too


def test_an_upload_gone_from_the_server_is_started_over(
    server: Server, slow: FaultProxy, tmp_path: Path
) -> None:
    bucket = server.new_bucket()
    file = tmp_path / "big.bin"
    data = os.urandom(SIZE)
    file.write_bytes(data)
    kill_midway(server, slow, tmp_path, bucket, file)
    server.admin.abort_multipart_upload(Bucket=bucket, Key=KEY, UploadId=upload_id_of(bucket))

    result = upload_again(server, slow, bucket, file)
    assert result.resumed_bytes == 0
    assert_stored_exactly(server, bucket, data)


@pytest.mark.parametrize("config", ["damaged journal", "resume=False"])
def test_an_upload_not_resumed_aborts_the_stale_one_and_starts_over(
    moto_server: Server, tmp_path: Path, config: str
) -> None:
    bucket = moto_server.new_bucket()
    file = tmp_path / "big.bin"
    data = os.urandom(SIZE)
    file.write_bytes(data)
    with FaultProxy(moto_server.endpoint, rate=SLOW_RATE) as proxy:
        kill_midway(moto_server, proxy, tmp_path, bucket, file)
        chosen = CONFIG
        if config == "resume=False":
            chosen = TransferConfig(**{**CONFIG.__dict__, "resume": False})
        else:
            with open(journal_of(bucket), "a") as journal:
                journal.write('[3, "cut sho')
        result = upload_again(moto_server, proxy, bucket, file, chosen)
        assert proxy.request_bodies.bytes >= SIZE
    assert result.resumed_bytes == 0
    assert_stored_exactly(moto_server, bucket, data)


def test_an_upload_running_elsewhere_is_refused(
    moto_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first upload holds its journal for seconds more (the proxy's rate);
    # the second asks again for a moment only.
    monkeypatch.setattr(upload_journal, "BUSY_WAIT", 0.2)
    bucket = moto_server.new_bucket()
    file = tmp_path / "big.bin"
    data = os.urandom(SIZE)
    file.write_bytes(data)
    with FaultProxy(moto_server.endpoint, rate=SLOW_RATE // 4) as proxy:
        config = config_for(moto_server, tmp_path, host=proxy.endpoint)
        first = subprocess.Popen(
            [sys.executable, str(RESUMABLE), "upload", str(config), bucket, KEY, str(file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        wait_until(lambda: journaled(bucket), 120, "the first upload's first part")
        with CDNManager(via(moto_server, proxy), CONFIG) as manager, pytest.raises(UploadBusy):
            manager.upload_file(bucket, KEY, file)
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and out.endswith("done\n"), err
    assert_stored_exactly(moto_server, bucket, data)


def test_an_upload_waits_out_a_journal_another_process_is_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep or a listing in another process locks each journal while it
    reads it: an upload of that very file meanwhile waits instead of being
    refused as busy (the soak found a resumed run refused so). flock is per
    open file, so a second open in this process stands for the other one."""
    path = tmp_path / f"journal{upload_journal.SUFFIX}"
    reader = upload_journal.Journal.try_lock(path, create=True)
    assert reader is not None
    monkeypatch.setattr(upload_journal, "BUSY_WAIT", 600.0)
    refused = threading.Event()
    try_lock = upload_journal.Journal.try_lock

    def watched(path: Path, create: bool = False) -> upload_journal.Journal | None:
        found = try_lock(path, create)
        if found is None:
            refused.set()
        return found

    monkeypatch.setattr(upload_journal.Journal, "try_lock", staticmethod(watched))
    got: list[object] = []
    upload = threading.Thread(target=lambda: got.append(_lock_or_error(path)))
    upload.start()
    assert refused.wait(60), "the upload never found the journal locked"
    reader.close()
    upload.join(60)
    assert len(got) == 1 and isinstance(got[0], upload_journal.Journal), got
    got[0].close()


def test_a_journal_held_by_a_running_upload_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"journal{upload_journal.SUFFIX}"
    holder = upload_journal.Journal.lock(path)
    monkeypatch.setattr(upload_journal, "BUSY_WAIT", 0.05)
    try:
        with pytest.raises(UploadBusy):
            upload_journal.Journal.lock(path)
    finally:
        holder.close()


def _lock_or_error(path: Path) -> object:
    try:
        return upload_journal.Journal.lock(path)
    except Exception as err:
        return err


def test_stale_upload_journals_are_aborted_by_the_next_upload(
    moto_server: Server, tmp_path: Path
) -> None:
    bucket = moto_server.new_bucket()
    file = tmp_path / "big.bin"
    file.write_bytes(os.urandom(SIZE))
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(SIZE))
    with FaultProxy(moto_server.endpoint, rate=SLOW_RATE) as proxy:
        kill_midway(moto_server, proxy, tmp_path, bucket, file)
        week_ago = time.time() - 8 * 24 * 3600
        os.utime(journal_of(bucket), (week_ago, week_ago))
        # The next upload (of another file) through the same endpoint.
        with CDNManager(via(moto_server, proxy), CONFIG) as manager:
            manager.upload_file(bucket, "other.bin", other)
    assert journals(bucket) == []
    assert moto_server.unfinished_uploads(bucket) == []


@pytest.mark.parametrize("flags", [[], ["--no-resume"]])
def test_the_cli_says_what_it_resumed_unless_told_not_to(
    moto_server: Server, tmp_path: Path, flags: list[str]
) -> None:
    bucket = moto_server.new_bucket()
    file = tmp_path / "big.bin"
    data = os.urandom(4 * TransferConfig().part_size)  # multipart with the default parts
    file.write_bytes(data)
    with FaultProxy(moto_server.endpoint, rate=SLOW_RATE) as proxy:
        kill_midway(moto_server, proxy, tmp_path, bucket, file, "cli")
        config = config_for(moto_server, tmp_path, host=proxy.endpoint)
        run = cdn("upload", bucket, KEY, file, *flags, config=config)
    assert run.code == 0, run.stderr
    assert ("resumed: " in run.out) is not bool(flags), run.out
    assert_stored_exactly(moto_server, bucket, data)


def test_clean_lists_then_aborts_interrupted_uploads(moto_server: Server, tmp_path: Path) -> None:
    bucket = moto_server.new_bucket()
    file = tmp_path / "big.bin"
    file.write_bytes(os.urandom(SIZE))
    empty = tmp_path / "empty"
    empty.mkdir()
    with FaultProxy(moto_server.endpoint, rate=SLOW_RATE) as proxy:
        kill_midway(moto_server, proxy, tmp_path, bucket, file)
        journal = journal_of(bucket)
        # The endpoint the upload went to: only its key may abort it.
        elsewhere = cdn("clean", empty, "--yes", config=config_for(moto_server, tmp_path))
        assert elsewhere.code == 0 and "left: of another endpoint" in elsewhere.stderr
        assert journals(bucket) == [journal]

        config = config_for(moto_server, tmp_path, host=proxy.endpoint)
        listed = cdn("clean", empty, "--json", config=config)
        assert listed.code == 0, listed.stderr
        uploads = [u for u in json.loads(listed.out)["uploads"] if u["bucket"] == bucket]
        assert [(u["journal"], u["key"], u["file"]) for u in uploads] == [
            (str(journal), KEY, str(file))
        ]
        assert len(moto_server.unfinished_uploads(bucket)) == 1

        # doctor counts them, as information beside its findings.
        doctor = cdn("doctor", bucket, "--json", config=config, cwd=empty)
        leftovers = json.loads(doctor.out)["leftovers"]
        assert leftovers["download_files"] == 0 and leftovers["interrupted_uploads"] >= 1

        removed = cdn("clean", empty, "--yes", config=config)
    assert removed.code == 0, removed.stderr
    assert "aborted 1 interrupted uploads" in removed.out
    assert journals(bucket) == [] and moto_server.unfinished_uploads(bucket) == []


def test_a_cache_folder_that_cannot_be_written_costs_resuming_not_the_upload(
    moto_server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_bytes(b"")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_folder))
    bucket = moto_server.new_bucket()
    file = tmp_path / "big.bin"
    data = os.urandom(SIZE)
    file.write_bytes(data)
    with CDNManager(moto_server.credentials, CONFIG) as manager:
        manager.upload_file(bucket, KEY, file)
    assert "not resumable: cannot open the upload journal" in caplog.text
    assert_stored_exactly(moto_server, bucket, data)

    # From memory there is nothing to resume: the lost journal (it would
    # only let a later run abort the upload after a SIGKILL) is no warning.
    caplog.clear()
    with CDNManager(moto_server.credentials, CONFIG) as manager:
        manager.put_bytes(bucket, KEY, data)
    assert "not journaled" in caplog.text
    # (The manager's one sweep of the journals may still say, once, that it
    # could not look: that is the manager's, not each upload's.)
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING and r.module == "upload"]
    assert not warned, caplog.text
    assert_stored_exactly(moto_server, bucket, data)
