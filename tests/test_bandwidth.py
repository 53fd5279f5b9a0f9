"""The bandwidth limit: ``TransferConfig(max_bandwidth=...)`` and
``--bwlimit RATE``. One budget per manager, spent by every part of every
transfer in both directions, on either data plane (the suite runs on both);
a transfer waiting for its share still stops at once when cancelled.

This is the one module where a rate is a pass/fail bound, because the issue
asks for one: within 15 % of the limit. Rates are bytes over the time
between the first and the last of them moving: an upload's as a loopback
proxy relays them, a download's as the client reports them (a proxy cannot
tell: what it sends waits in socket buffers) or, for the command, as its
process writes. The figures themselves are in the README's
"Bandwidth" section."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from cdn_manager import AsyncCDNManager, CDNCredentials, ConfigError, TransferConfig
from cdn_manager._cli.parser import MOVING_COMMANDS, build_parser

from conftest import SMALL_PARTS, MiB, Server
from helpers.cli import cdn, clean_env, config_for, start, wait_until
from helpers.countrelay import CountingRelay
from helpers.faultproxy import FaultProxy, Flow

#: How far a measured rate may be from the limit, as the issue states it.
MARGIN = 0.15
#: How far above the limit a download may run on the wire, judged on the
#: bytes a relay handed to the client (`helpers/countrelay.py`): what the
#: connections' buffers take ahead of their readers. Measured on the 2-core
#: machine, 7 runs, load average 5-20: the pull below 1.00-1.01x, the
#: download 1.01-1.03x; paying after reading, with Linux-tuned buffers (the
#: bug), 1.35x and 1.11x. A machine slower than the limit only lowers the
#: rate, so the bound's room is in bytes: 1.2x allows 27 MiB of the pull's
#: 160 ahead, where about 2 remain.
WIRE_MARGIN = 1.2
#: Generous: a cancelled transfer must stop, where its limit would keep it
#: waiting for its first chunk's bandwidth for 17 minutes or more.
CANCEL_TIMEOUT = 120


def assert_near(flow: Flow, limit: int) -> None:
    rate = flow.rate
    print(f"{flow.bytes / MiB:.0f} MiB at {rate / MiB:.2f} MiB/s (limit {limit / MiB:.2f})")
    assert (1 - MARGIN) * limit <= rate <= (1 + MARGIN) * limit


def progress_flow(flow: Flow) -> Callable[[int], None]:
    """A progress callback adding what a transfer moves to ``flow``."""
    lock = threading.Lock()

    def progress(n: int) -> None:
        with lock:
            flow.last = time.monotonic()
            if flow.bytes == 0:
                flow.first = flow.last
            flow.bytes += n

    return progress


def watch_download(process: subprocess.Popen[bytes]) -> Flow:
    """The bytes the command's process has written (``wchar`` of
    /proc/PID/io: every write call's bytes, direct or buffered, as they are
    made), sampled every 20 ms until it exits, from the first chunk on (not
    its start-up's few writes). The temporary file's size cannot tell: it is
    sized and its blocks reserved before the first byte arrives."""
    flow = Flow()
    io = Path(f"/proc/{process.pid}/io")
    while process.poll() is None:
        with contextlib.suppress(OSError, ValueError):  # exited meanwhile
            fields = dict(line.split(": ") for line in io.read_text().splitlines())
            written = int(fields["wchar"])
            if written > max(flow.bytes, MiB - 1):
                flow.last = time.monotonic()
                flow.first = flow.first or flow.last
                flow.bytes = written
        time.sleep(0.02)
    return flow


@pytest.mark.slow  # 400 MiB at 20 MiB/s: about 25 s
def test_bwlimit_20m_holds_a_200_mib_upload_and_download_to_20_mib_per_second(
    s3s_server: Server, tmp_path: Path
) -> None:
    size, limit = 200 * MiB, 20 * MiB
    original = tmp_path / "big.bin"
    original.write_bytes(os.urandom(size))
    bucket = s3s_server.new_bucket()
    with FaultProxy(s3s_server.endpoint) as proxy:
        config = config_for(s3s_server, tmp_path, host=proxy.endpoint)
        up = cdn("upload", bucket, "big.bin", original, "--bwlimit", "20M", config=config)
        assert up.code == 0, up.stderr
        uploaded = proxy.request_bodies
    assert uploaded.bytes >= size
    assert_near(uploaded, limit)

    target = tmp_path / "target"
    target.mkdir()
    config = config_for(s3s_server, tmp_path)
    process = start("download", bucket, "big.bin", target, "--bwlimit", "20M", config=config)
    downloaded = watch_download(process)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert (target / "big.bin").read_bytes() == original.read_bytes()
    assert downloaded.bytes > size * 0.9  # the first sample sees a few chunks already
    assert_near(downloaded, limit)


def native() -> dict[str, str]:
    """The environment of a command on the native plane: the boto3 plane
    reads through urllib3, whose sockets cdn-manager does not size."""
    return clean_env(CDN_MANAGER_DATA_PLANE="native")


def wire_rate(relay: CountingRelay, limit: int) -> float:
    rate = relay.down.bytes / (relay.down.last - relay.down.first)
    moved = relay.down.bytes / MiB
    print(f"{moved:.0f} MiB at {rate / MiB:.2f} MiB/s on the wire, {rate / limit:.2f}x the limit")
    return rate


@pytest.mark.slow  # 160 MiB at 10 MiB/s: about 16 s
def test_a_limited_pull_holds_the_limit_on_the_wire(s3s_server: Server, tmp_path: Path) -> None:
    # Issue 27: 40 objects of 4 MiB pulled at 10M moved 18.6-19 MiB/s on the
    # wire, the kernel receiving ahead of the limit on every connection.
    bucket, limit, count = s3s_server.new_bucket(), 10 * MiB, 40
    for i in range(count):
        s3s_server.admin.put_object(Bucket=bucket, Key=f"tree/{i:02}.bin", Body=os.urandom(4 * MiB))
    with CountingRelay(s3s_server.endpoint) as relay:
        config = config_for(s3s_server, tmp_path, host=relay.endpoint)
        mirror = tmp_path / "mirror"
        pulled = cdn(
            "pull", f"{bucket}/tree", mirror, "--bwlimit", "10M", config=config, env=native()
        )
        assert pulled.code == 0, pulled.stderr
    assert relay.errors == []
    assert len(list(mirror.rglob("*.bin"))) == count
    assert relay.down.bytes >= count * 4 * MiB
    assert wire_rate(relay, limit) <= WIRE_MARGIN * limit


@pytest.mark.slow  # 100 MiB at 20 MiB/s: about 5 s
def test_a_limited_download_holds_the_limit_on_the_wire(s3s_server: Server, tmp_path: Path) -> None:
    # Issue 27: one 100 MiB download at 20M moved 21-31 MiB/s on the wire.
    bucket, limit, size = s3s_server.new_bucket(), 20 * MiB, 100 * MiB
    data = os.urandom(size)
    s3s_server.admin.put_object(Bucket=bucket, Key="big.bin", Body=data)
    with CountingRelay(s3s_server.endpoint) as relay:
        config = config_for(s3s_server, tmp_path, host=relay.endpoint)
        target = tmp_path / "target"
        target.mkdir()
        run = cdn(
            "download", bucket, "big.bin", target, "--bwlimit", "20M", config=config, env=native()
        )
        assert run.code == 0, run.stderr
    assert relay.errors == []
    assert (target / "big.bin").read_bytes() == data
    assert relay.down.bytes >= size
    assert wire_rate(relay, limit) <= WIRE_MARGIN * limit


def test_one_limit_is_shared_by_concurrent_transfers_both_ways_and_both_faces(
    s3s_server: Server, tmp_path: Path
) -> None:
    """An upload on the sync face and a download on an async face wrapping
    the same manager, at once: together at the limit, not twice it."""
    size, limit = 24 * MiB, 8 * MiB
    data = os.urandom(size)
    bucket = s3s_server.new_bucket()
    s3s_server.admin.put_object(Bucket=bucket, Key="down.bin", Body=data)
    both = Flow()
    progress = progress_flow(both)
    with s3s_server.manager(replace(SMALL_PARTS, max_bandwidth=limit)) as manager:
        upload = threading.Thread(
            target=manager.put_bytes, args=(bucket, "up.bin", data), kwargs={"progress": progress}
        )

        async def download() -> Path:
            async with AsyncCDNManager(manager) as faced:
                return await faced.get_file(bucket, "down.bin", tmp_path, progress=progress)

        upload.start()
        fetched = asyncio.run(download())
        upload.join()
    assert fetched.read_bytes() == data
    assert s3s_server.admin.get_object(Bucket=bucket, Key="up.bin")["Body"].read() == data
    assert both.bytes == 2 * size
    assert_near(both, limit)


@pytest.mark.parametrize("direction", ["download", "upload"])
def test_cancelling_a_transfer_that_waits_for_bandwidth_stops_it(
    s3s_server: Server, direction: str
) -> None:
    """At 1 byte/s the first chunk leaves the transfer owing hours; a
    cancelled task returns without waiting them out, and stores nothing."""
    bucket = s3s_server.new_bucket()
    data = os.urandom(MiB)
    if direction == "download":
        s3s_server.admin.put_object(Bucket=bucket, Key="obj.bin", Body=data)
    moved = threading.Event()

    def progress(n: int) -> None:
        moved.set()

    def waiting(proxy: FaultProxy) -> bool:
        # An upload reports a chunk, then pays for it; a native download
        # pays for its first chunk before it reads it (so reports nothing
        # for hours): its GET has reached the server.
        if direction == "upload":
            return moved.is_set()
        return any(e.method == "GET" for e in proxy.exchanges)

    async def cancelled_in_time(proxy: FaultProxy) -> bool:
        credentials = CDNCredentials(**{**s3s_server.credentials.__dict__, "host": proxy.endpoint})
        manager = AsyncCDNManager(credentials, TransferConfig(max_bandwidth=1))
        call = (
            manager.download_bytes(bucket, "obj.bin", progress=progress)
            if direction == "download"
            else manager.put_bytes(bucket, "obj.bin", data, progress=progress)
        )
        task = asyncio.create_task(call)
        await asyncio.to_thread(wait_until, lambda: waiting(proxy), 60, "the transfer to start")
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_TIMEOUT)
        if not task.done():
            return False  # its worker would keep the manager from closing for hours
        await manager.aclose()
        return task.cancelled()

    with FaultProxy(s3s_server.endpoint) as proxy:
        cancelled = asyncio.run(cancelled_in_time(proxy))
    assert cancelled, "the cancelled transfer kept waiting for bandwidth"
    assert s3s_server.unfinished_uploads(bucket) == []
    if direction == "upload":
        assert "Contents" not in s3s_server.admin.list_objects_v2(Bucket=bucket)


def test_ctrl_c_stops_a_command_waiting_for_bandwidth(s3s_server: Server, tmp_path: Path) -> None:
    bucket = s3s_server.new_bucket()
    s3s_server.admin.put_object(Bucket=bucket, Key="obj.bin", Body=os.urandom(2 * MiB))
    target = tmp_path / "target"
    target.mkdir()
    config = config_for(s3s_server, tmp_path)
    process = start("download", bucket, "obj.bin", target, "--bwlimit", "1K", config=config)
    wait_until(
        lambda: any(p.stat().st_size for p in target.glob(".cdnpart-*")), 60, "the first chunk"
    )
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=CANCEL_TIMEOUT)
    assert process.returncode == 130, err
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("value", [None, 1, 20 * MiB])
def test_max_bandwidth_takes_none_or_a_positive_whole_rate(value: int | None) -> None:
    assert TransferConfig(max_bandwidth=value).max_bandwidth == value


@pytest.mark.parametrize("value", [0, -1, 1.5, "10M", True])
def test_max_bandwidth_refuses_what_is_not_a_rate(value: object) -> None:
    with pytest.raises(ConfigError, match="max_bandwidth"):
        TransferConfig(max_bandwidth=value)  # type: ignore[arg-type]


def _parsed(command: str, rate: str) -> argparse.Namespace:
    operands = {
        "upload": ["b", "k", "file"],
        "download": ["b", "k"],
        "push": ["folder", "b/prefix"],
        "pull": ["b/prefix", "folder"],
    }[command]
    return build_parser().parse_args([command, *operands, "--bwlimit", rate])


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("250000", 250_000),
        ("500K", 500 * 1024),
        ("500k", 500 * 1024),
        ("10M", 10 * MiB),
        ("1.5M", 3 * MiB // 2),
        ("2G", 2 * 1024 * MiB),
    ],
)
def test_bwlimit_reads_bytes_per_second_with_binary_suffixes(text: str, rate: int) -> None:
    assert _parsed("download", text).bwlimit == rate


@pytest.mark.parametrize("command", MOVING_COMMANDS)
def test_every_command_that_moves_bytes_takes_bwlimit(command: str) -> None:
    assert _parsed(command, "10M").bwlimit == 10 * MiB
    assert "powers of 1024" in cdn(command, "--help").out


@pytest.mark.parametrize("text", ["0", "-5M", "10X", "10MB", "fast", ""])
def test_bwlimit_refuses_what_is_not_a_rate(text: str) -> None:
    run = cdn("download", "b", "k", "--bwlimit", text)
    assert run.code == 2
    assert "--bwlimit" in run.stderr
