"""An interrupted download of a file resumes where it stopped (issue 13).

A child process (``helpers/resumable.py``) is killed with SIGKILL midway
through a download of an object of five parts; the same call run again
fetches only what is missing (body bytes counted at the loopback proxy),
and leaves the exact object and nothing else. A replaced object, kept bytes
damaged meanwhile, or a second process resuming at the same time never
produce a mixed file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig as S3TransferConfig

from cdn_manager import (
    CDNCredentials,
    CDNManager,
    DownloadBusy,
    TransferConfig,
    TransferError,
    _core,
)
from cdn_manager._cli.output import human_size

from conftest import SLOW_RATE, MiB, Server, admin_client
from helpers.cli import cdn, clean_env, config_for, start, wait_until, write_config
from helpers.faultproxy import Fault, FaultProxy, Flow, Rule
from helpers.resumable import CONFIG

RESUMABLE = Path(__file__).with_name("helpers") / "resumable.py"
PART = CONFIG.part_size
SIZE = 4 * PART + 3 * MiB  # five ranges, the last one short
KEY = "big.bin"


@pytest.fixture(params=["moto", "s3s"])
def server(request: pytest.FixtureRequest) -> Server:
    found: Server = request.getfixturevalue(f"{request.param}_server")
    return found


def journal_of(path: Path) -> Path:
    return path.with_name(f".{path.name}.cdn-journal")


def partial_of(path: Path) -> Path:
    return path.with_name(f".{path.name}.cdn-partial")


def journaled(path: Path) -> list[tuple[int, int]]:
    """The ranges the journal of the download to ``path`` records."""
    try:
        lines = journal_of(path).read_text().splitlines()[1:]
    except FileNotFoundError:
        return []
    return [(int(a), int(b)) for a, b, _ in (line.strip("[]").split(",") for line in lines)]


def store(server: Server, bucket: str, data: bytes) -> None:
    """Stores ``data`` as this library does (so it carries a CRC)."""
    with CDNManager(server.credentials, CONFIG) as manager:
        manager.put_bytes(bucket, KEY, data)


def via(server: Server, proxy: FaultProxy) -> CDNCredentials:
    return CDNCredentials(**{**server.credentials.__dict__, "host": proxy.endpoint})


def start_child(  # type: ignore[no-untyped-def]
    server: Server, proxy: FaultProxy, tmp_path: Path, bucket: str, target: Path, *extra: str
):
    config = config_for(server, tmp_path, host=proxy.endpoint)
    process = subprocess.Popen(
        [sys.executable, str(RESUMABLE), "download", str(config), bucket, KEY, str(target), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "started\n"
    return process


def kill_midway(
    server: Server,
    proxy: FaultProxy,
    tmp_path: Path,
    bucket: str,
    target: Path,
    *extra: str,
    size: int = SIZE,
) -> int:
    """Starts the download in a child, SIGKILLs it once two ranges are
    journaled; returns the bytes the journal then records."""
    process = start_child(server, proxy, tmp_path, bucket, target, *extra)
    wait_until(lambda: len(journaled(target)) >= 2, 120, "two journaled ranges")
    process.kill()
    process.communicate(timeout=60)
    assert not target.exists()  # the destination is never partly written
    assert partial_of(target).stat().st_size == size
    return sum(end - start for start, end in journaled(target))


def resume(server: Server, proxy: FaultProxy, bucket: str, target: Path) -> int:
    """Runs the same download again in this process; returns the bytes it
    reports resumed, checking what the proxy counted."""
    proxy.response_bodies = Flow()
    progress: list[int] = []
    with CDNManager(via(server, proxy), CONFIG) as manager:
        (result,) = manager.download_many(
            bucket, [(KEY, target.name)], target.parent, progress=progress.append
        )
    assert result.ok, result.error
    assert sum(progress) == target.stat().st_size  # kept bytes counted too
    return result.resumed_bytes


def only_the_file(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir())


@pytest.fixture
def slow(server: Server) -> Iterator[FaultProxy]:
    with FaultProxy(server.endpoint, rate=SLOW_RATE) as proxy:
        yield proxy


def test_a_killed_download_resumes_with_only_the_missing_bytes(
    server: Server, slow: FaultProxy, tmp_path: Path
) -> None:
    bucket = server.new_bucket()
    data = os.urandom(SIZE)
    store(server, bucket, data)
    target = tmp_path / "target" / KEY
    kept = kill_midway(server, slow, tmp_path, bucket, target)
    assert kept >= 2 * PART

    resumed = resume(server, slow, bucket, target)
    print(f"kept {kept} of {SIZE}; second run received {slow.response_bodies.bytes} body bytes")
    assert resumed == kept
    assert slow.response_bodies.bytes == SIZE - kept  # a HEAD first: no byte unread
    assert target.read_bytes() == data
    assert only_the_file(target) == [KEY]


def test_a_large_object_of_listed_size_is_fetched_without_an_unread_byte(
    server: Server, tmp_path: Path
) -> None:
    """With its size known (``sizes``, as ``pull`` passes from its listing),
    a ranged download starts with a HEAD, not a whole-object GET whose
    unread tail the server has sent anyway: the bytes received are the
    object's, exactly, on an unthrottled proxy too."""
    bucket = server.new_bucket()
    data = os.urandom(SIZE)
    store(server, bucket, data)
    with FaultProxy(server.endpoint) as proxy, CDNManager(via(server, proxy), CONFIG) as manager:
        (result,) = manager.download_many(bucket, [KEY], tmp_path, sizes={KEY: SIZE})
        received = proxy.response_bodies.bytes
    assert result.ok, result.error
    assert received == SIZE
    assert (tmp_path / KEY).read_bytes() == data


def test_an_object_replaced_between_the_runs_is_downloaded_anew(
    server: Server, slow: FaultProxy, tmp_path: Path
) -> None:
    bucket = server.new_bucket()
    store(server, bucket, os.urandom(SIZE))
    target = tmp_path / "target" / KEY
    kill_midway(server, slow, tmp_path, bucket, target)
    new = os.urandom(SIZE)
    store(server, bucket, new)

    assert resume(server, slow, bucket, target) == 0
    assert slow.response_bodies.bytes >= SIZE
    assert target.read_bytes() == new
    assert only_the_file(target) == [KEY]


@pytest.mark.parametrize("replacement", ["md5-only", "md5-only-multipart"])
def test_an_object_replaced_by_another_tools_leaves_no_state_behind(
    moto_server: Server, tmp_path: Path, replacement: str
) -> None:
    """Replaced by an object whose only check is an MD5 (one PUT with no
    checksum: fetched as one unjournaled range; or a multipart upload with
    none: its ETag's parts, not journaled either), the download ends exact
    and the killed run's temporary file and journal are gone with it."""
    bucket = moto_server.new_bucket()
    store(moto_server, bucket, os.urandom(SIZE))
    target = tmp_path / "target" / KEY
    with FaultProxy(moto_server.endpoint, rate=SLOW_RATE) as proxy:
        kill_midway(moto_server, proxy, tmp_path, bucket, target)
    new = os.urandom(SIZE)
    local = tmp_path / "new.bin"
    local.write_bytes(new)
    parts = PART if replacement == "md5-only-multipart" else 2 * SIZE
    client = admin_client(moto_server.endpoint, checksums="when_required")
    client.upload_file(
        str(local),
        bucket,
        KEY,
        Config=S3TransferConfig(multipart_threshold=parts, multipart_chunksize=PART),
    )

    with CDNManager(moto_server.credentials, CONFIG) as manager:
        (result,) = manager.download_many(bucket, [KEY], target.parent)
    assert result.ok, result.error
    assert result.verified == ("md5 etag 5 parts" if parts == PART else "md5 etag")
    assert target.read_bytes() == new
    assert only_the_file(target) == [KEY]


def test_a_download_without_resuming_removes_an_earlier_attempts_state(
    moto_server: Server, tmp_path: Path
) -> None:
    bucket = moto_server.new_bucket()
    data = os.urandom(SIZE)
    store(moto_server, bucket, data)
    target = tmp_path / "target" / KEY
    with FaultProxy(moto_server.endpoint, rate=SLOW_RATE) as proxy:
        kill_midway(moto_server, proxy, tmp_path, bucket, target)
    config = TransferConfig(**{**CONFIG.__dict__, "resume": False})

    with CDNManager(moto_server.credentials, config) as manager:
        (result,) = manager.download_many(bucket, [KEY], target.parent)
    assert result.ok and result.resumed_bytes == 0
    assert target.read_bytes() == data
    assert only_the_file(target) == [KEY]


def test_kept_bytes_damaged_between_the_runs_are_fetched_again(
    moto_server: Server, tmp_path: Path
) -> None:
    bucket = moto_server.new_bucket()
    data = os.urandom(SIZE)
    store(moto_server, bucket, data)
    target = tmp_path / "target" / KEY
    with FaultProxy(moto_server.endpoint, rate=SLOW_RATE) as proxy:
        kill_midway(moto_server, proxy, tmp_path, bucket, target)
        start, _ = journaled(target)[0]
        with open(partial_of(target), "r+b") as temp:
            temp.seek(start + 1000)
            byte = temp.read(1)
            temp.seek(start + 1000)
            temp.write(bytes([byte[0] ^ 0xFF]))

        assert resume(moto_server, proxy, bucket, target) == 0
    assert target.read_bytes() == data
    assert only_the_file(target) == [KEY]


def test_two_processes_resuming_one_download_one_wins(s3s_server: Server, tmp_path: Path) -> None:
    bucket = s3s_server.new_bucket()
    data = os.urandom(SIZE)
    store(s3s_server, bucket, data)
    target = tmp_path / "target" / KEY
    with FaultProxy(s3s_server.endpoint, rate=SLOW_RATE) as proxy:
        kill_midway(s3s_server, proxy, tmp_path, bucket, target)
        before = len(journaled(target))
        with FaultProxy(s3s_server.endpoint, rate=SLOW_RATE // 4) as slower:
            first = start_child(s3s_server, slower, tmp_path, bucket, target)
            # Journaling again: the first holds the journal's lock.
            wait_until(lambda: len(journaled(target)) > before, 120, "the first to resume")
            second = start_child(s3s_server, slower, tmp_path, bucket, target)
            _, second_err = second.communicate(timeout=120)
            first_out, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err
    assert first_out.endswith("done\n")
    assert second.returncode != 0 and "DownloadBusy" in second_err, second_err
    assert target.read_bytes() == data
    assert only_the_file(target) == [KEY]


@pytest.mark.parametrize("resume", [True, False])
def test_a_download_cut_past_its_retries_keeps_its_ranges_only_if_resumable(
    moto_server: Server, tmp_path: Path, resume: bool
) -> None:
    bucket = moto_server.new_bucket()
    data = os.urandom(SIZE)
    store(moto_server, bucket, data)
    target = tmp_path / "target" / KEY
    config = TransferConfig(**{**CONFIG.__dict__, "max_attempts": 1, "resume": resume})
    with FaultProxy(moto_server.endpoint) as proxy:
        # The last range fails; the first (read on the calling thread) completes.
        proxy.add(Rule(Fault.RESET, object_offset=SIZE - 1))
        with CDNManager(via(moto_server, proxy), config) as manager, pytest.raises(TransferError):
            manager.download_file(bucket, KEY, target)
    assert not target.exists()
    if resume:
        assert only_the_file(target) == sorted([partial_of(target).name, journal_of(target).name])
        assert (0, PART) in journaled(target)
        with CDNManager(moto_server.credentials, CONFIG) as manager:
            (result,) = manager.download_many(bucket, [KEY], target.parent)
        assert result.resumed_bytes >= PART and target.read_bytes() == data
    assert only_the_file(target) == ([KEY] if resume else [])


def test_a_download_busy_elsewhere_is_refused_until_it_ends(
    moto_server: Server, tmp_path: Path
) -> None:
    """Two writers of one resumable download in one process conflict too
    (the journal's lock belongs to the open file, not the process), and an
    ended writer lets go at once, even while its sinks are still referred to
    (as a caught exception's frames may)."""
    bucket = moto_server.new_bucket()
    data = os.urandom(SIZE)
    store(moto_server, bucket, data)
    target = tmp_path / KEY
    holder = _core.FileWriter(_core.Destination(tmp_path, KEY), SIZE, "header", "crc32c")
    sink = holder.part(0, "crc32c")
    with CDNManager(moto_server.credentials, CONFIG) as manager:
        with pytest.raises(DownloadBusy):
            manager.download_file(bucket, KEY, target)
        holder.abort(keep=True)  # nothing journaled: nothing kept
        assert only_the_file(target) == []
        manager.download_file(bucket, KEY, target)
    assert sink.length == 0 and target.read_bytes() == data
    assert only_the_file(target) == [KEY]


@pytest.mark.parametrize("flags", [[], ["--no-resume"]])
def test_the_cli_says_what_it_resumed_unless_told_not_to(
    s3s_server: Server, tmp_path: Path, flags: list[str]
) -> None:
    bucket = s3s_server.new_bucket()
    data = os.urandom(5 * TransferConfig().part_size)  # ranged with the default parts
    store(s3s_server, bucket, data)
    target = tmp_path / "target" / KEY
    with FaultProxy(s3s_server.endpoint, rate=SLOW_RATE) as proxy:
        kill_midway(s3s_server, proxy, tmp_path, bucket, target, "cli", size=len(data))
    run = cdn("download", bucket, KEY, target, *flags, config=config_for(s3s_server, tmp_path))
    assert run.code == 0, run.stderr
    assert ("resumed: " in run.out) is not bool(flags), run.out
    assert target.read_bytes() == data
    # Not resumed or resumed, the earlier attempt's state is gone.
    assert only_the_file(target) == [KEY]


@pytest.mark.parametrize("command", ["download", "pull"])
def test_an_interrupted_cli_download_says_what_it_kept_and_how_to_go_on(
    s3s_server: Server, tmp_path: Path, command: str
) -> None:
    bucket = s3s_server.new_bucket()
    store(s3s_server, bucket, os.urandom(5 * TransferConfig().part_size))
    target = tmp_path / "target" / KEY
    target.parent.mkdir()
    with FaultProxy(s3s_server.endpoint) as proxy:
        # Two ranges get through; every other one hangs until the interrupt.
        proxy.add(Rule(Fault.STALL, method="GET", ranged=True, skip=2, stall_seconds=120))
        config = write_config(tmp_path, via(s3s_server, proxy))
        # The native plane stops a held request at the interrupt; boto3 would
        # wait out its read timeout, and retry, before exiting.
        env = clean_env(CDN_MANAGER_DATA_PLANE="native")
        if command == "download":
            process = start("download", bucket, KEY, target, config=config, env=env)
        else:
            process = start("pull", bucket, target.parent, config=config, env=env)
        wait_until(lambda: len(journaled(target)) >= 2, 120, "two journaled ranges")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    kept = human_size(sum(end - start for start, end in journaled(target)))
    folder = target.parent
    assert err.decode().splitlines()[-1] == (
        f"cdn-manager: error: interrupted: {kept} of the download kept in {folder}: run the "
        f"same command again to resume it, or `cdn-manager clean {folder}` to discard it"
        if command == "download"
        else f"cdn-manager: error: interrupted: 1 download keeps {kept} in {folder}: run the "
        f"same command again to resume, or `cdn-manager clean {folder}` to discard what was kept"
    )


def test_clean_lists_then_removes_what_interrupted_downloads_left(
    s3s_server: Server, tmp_path: Path
) -> None:
    bucket = s3s_server.new_bucket()
    store(s3s_server, bucket, os.urandom(SIZE))
    target = tmp_path / "target" / KEY
    with FaultProxy(s3s_server.endpoint, rate=SLOW_RATE) as proxy:
        kill_midway(s3s_server, proxy, tmp_path, bucket, target)
    dead = target.with_name(".cdnpart-999999999-0")  # of a process long gone
    dead.write_bytes(b"x")
    busy = _core.FileWriter(_core.Destination(target.parent, "busy.bin"), 10, "h", "crc32c")
    kept = sorted(str(p) for p in (partial_of(target), journal_of(target), dead))

    listed = cdn("clean", target.parent, "--json")
    assert listed.code == 0, listed.stderr
    assert sorted(json.loads(listed.out)["leftovers"]) == kept  # not the busy download's
    assert len(list(target.parent.iterdir())) == 5

    removed = cdn("clean", target.parent, "--yes")
    assert removed.code == 0 and "removed 3 files" in removed.out
    assert sorted(p.name for p in target.parent.iterdir()) == [
        ".busy.bin.cdn-journal",
        ".busy.bin.cdn-partial",
    ]
    busy.abort()
    assert list(target.parent.iterdir()) == []


def test_stale_leftovers_are_removed_by_the_next_download_into_the_folder(
    moto_server: Server, tmp_path: Path
) -> None:
    bucket = moto_server.new_bucket()
    store(moto_server, bucket, os.urandom(SIZE))
    with CDNManager(moto_server.credentials, CONFIG) as manager:
        manager.put_bytes(bucket, "small.txt", b"small")
    target = tmp_path / "target" / KEY
    with FaultProxy(moto_server.endpoint, rate=SLOW_RATE) as proxy:
        kill_midway(moto_server, proxy, tmp_path, bucket, target)
    recent = target.with_name(".other.bin.cdn-partial")  # younger than stale_after
    recent.write_bytes(b"x")
    week_ago = time.time() - 8 * 24 * 3600
    for path in (partial_of(target), journal_of(target)):
        os.utime(path, (week_ago, week_ago))

    with CDNManager(moto_server.credentials, CONFIG) as manager:
        manager.download_file(bucket, "small.txt", target.with_name("small.txt"))
    assert only_the_file(target) == sorted([recent.name, "small.txt"])
