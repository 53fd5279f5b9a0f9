"""Ctrl-C and SIGTERM stop a batch for real: every transfer in flight is
cancelled, nothing is committed after the program says it stopped, and what
did complete is exactly what it reports.

The batches run as programs of their own (``helpers/batch.py`` calls
``upload_many``/``download_many``; the command line is ``cdn-manager``), so
signals arrive as they do for users."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from cdn_manager import AsyncCDNManager, CDNCredentials, CDNManager, TransferConfig

from conftest import SLOW_RATE, MiB, Server
from helpers.cli import bucket_keys, cdn, clean_env, config_for, start, wait_until
from helpers.faultproxy import Fault, FaultProxy, Rule

BATCH = Path(__file__).with_name("helpers") / "batch.py"
GiB = 1024 * MiB
#: Generous bound on the time from a signal to the program's exit: the issue
#: asks for transfers cancelled within 1 s; this machine is shared and slow.
REACTION_BOUND = 5.0


def start_batch(*args: str | Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(BATCH), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "started\n"
    return process


def interrupt(process: subprocess.Popen[str], signum: int = signal.SIGINT) -> tuple[dict, float]:
    """Signals ``process``; returns what it reported and how long it took
    to exit."""
    sent = time.monotonic()
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    took = time.monotonic() - sent
    assert process.returncode == 130, err
    return json.loads(out.splitlines()[-1]), took


def midway(proxy: FaultProxy, server: Server, bucket: str, big: str) -> bool:
    """Whether a batch uploading ``big`` (multipart) and small files beside
    it through ``proxy`` is midway: a part of ``big`` is on the wire (its
    upload is under way, past its creation and its journal, if it keeps
    one), and a small file beside it is stored (the batch has something to
    report as completed)."""
    folder = big.rpartition("/")[0]
    part_sent = any(
        e.method == "PUT" and e.target.startswith(f"/{bucket}/{big}?") and "partNumber=" in e.target
        for e in list(proxy.exchanges)
    )
    beside = f"{folder}/small-" if folder else "small-"
    return part_sent and any(key.startswith(beside) for key in bucket_keys(server, bucket))


@pytest.mark.slow  # a 1 GiB upload
def test_interrupted_batch_of_1_gib_and_50_small_files_commits_nothing_after(
    s3s_server: Server, tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    with open(folder / "big.bin", "wb") as big:
        big.truncate(GiB)  # sparse: zeros without using the disk
    for n in range(50):
        (folder / f"small-{n:02}.txt").write_bytes(f"small file {n}\n".encode() * 100)
    bucket = s3s_server.new_bucket()
    started = time.monotonic()
    # An unthrottled proxy, only to tell when the server is done with all
    # the batch sent (the issue saw the big object appear 5-9 s after the
    # exit: a request the server was still working on).
    with FaultProxy(s3s_server.endpoint) as proxy:
        config = config_for(s3s_server, tmp_path, host=proxy.endpoint)
        process = start_batch("upload", config, bucket, folder)

        wait_until(lambda: s3s_server.parts_arrived(bucket), 60, "a part of the big upload")
        # The Ctrl-C came 1 s in: never sooner (a floor on the
        # scenario, not a wait for anything; the part above is usually later).
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        reported, took = interrupt(process)
        print(f"interrupt to exit: {took:.2f} s")
        assert took < REACTION_BOUND

        # The process is gone and the server has answered every request it
        # got in full: nothing more can be committed, so one look suffices.
        proxy.settle()
        keys = set(bucket_keys(s3s_server, bucket))
        assert "big.bin" not in keys
        assert keys == set(reported["completed"])
        # Refined by issue 13: the big file's upload is kept for the next run
        # (and only it); `clean` aborts it.
        assert len(s3s_server.unfinished_uploads(bucket)) == 1
        assert cdn("clean", tmp_path, "--yes", config=config).code == 0
    assert s3s_server.unfinished_uploads(bucket) == []


def test_interrupted_download_batch_leaves_only_the_files_it_reports(
    s3s_server: Server, tmp_path: Path
) -> None:
    """Refined by issue 13: the big download is resumable, so it keeps its
    temporary file and journal (never a partly written ``big.bin``); the
    small ones, not resumable, leave nothing."""
    bucket = s3s_server.new_bucket()
    objects = {f"small-{n:02}.bin": os.urandom(64 * 1024) for n in range(30)}
    for key, data in objects.items():
        s3s_server.admin.put_object(Bucket=bucket, Key=key, Body=data)
    # Ranged (several parts in flight), so resumable: stored with its CRC, as
    # this library stores it (an object whose only check is an MD5 ETag is
    # read as one stream).
    # Twelve 8 MiB ranges, eight in flight: the first eight end together and
    # the last four take seconds more, a window to interrupt in once a range
    # is journaled (with five ranges all ended at once, and the batch with them).
    objects["big.bin"] = os.urandom(96 * MiB)
    with CDNManager(s3s_server.credentials) as manager:
        manager.put_bytes(bucket, "big.bin", objects["big.bin"])
    target = tmp_path / "target"
    journal = target / ".big.bin.cdn-journal"

    def a_range_journaled() -> bool:
        return journal.exists() and len(journal.read_text().splitlines()) > 1

    with FaultProxy(s3s_server.endpoint, rate=SLOW_RATE) as proxy:
        config = config_for(s3s_server, tmp_path, host=proxy.endpoint)
        process = start_batch("download", config, bucket, target, "big.bin", *sorted(objects))
        wait_until(a_range_journaled, 60, "a range of the big download")
        reported, took = interrupt(process)
    assert took < REACTION_BOUND
    kept = {".big.bin.cdn-partial", journal.name}
    left = {p.name: p.read_bytes() for p in target.iterdir()}
    # No other temporary file, nothing unreported.
    assert set(left) == set(reported["completed"]) | kept
    assert "big.bin" not in left
    assert all(data == objects[name] for name, data in left.items() if name not in kept)
    with CDNManager(s3s_server.credentials) as manager:
        (result,) = manager.download_many(bucket, ["big.bin"], target)
    assert result.resumed_bytes > 0 and (target / "big.bin").read_bytes() == objects["big.bin"]
    assert not kept & {p.name for p in target.iterdir()}


def test_a_put_cut_by_an_interrupt_is_never_committed(moto_server: Server, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    # One PUT (under the 16 MiB multipart threshold) that takes ~1.5 s here.
    (folder / "big.bin").write_bytes(os.urandom(12 * MiB))
    bucket = moto_server.new_bucket()
    with FaultProxy(moto_server.endpoint, rate=SLOW_RATE) as proxy:
        config = config_for(moto_server, tmp_path, host=proxy.endpoint)
        process = start_batch("upload", config, bucket, folder)
        # Cut early in its body, far from the end (the rest takes ~1.4 s).
        wait_until(lambda: proxy.request_bodies.bytes >= MiB, 30, "the PUT's first MiB")
        reported, took = interrupt(process, signal.SIGTERM)
        assert took < REACTION_BOUND and reported == {"completed": []}
        # The process is gone and the server is done with all it got: a cut
        # body it committed would be listed now.
        proxy.settle()
        assert bucket_keys(moto_server, bucket) == []


def test_the_cli_reports_what_an_interrupted_batch_completed(
    s3s_server: Server, tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a-big.bin").write_bytes(os.urandom(40 * MiB))
    for n in range(12):
        (folder / f"small-{n:02}.txt").write_bytes(os.urandom(300 * 1024))
    bucket = s3s_server.new_bucket()
    with FaultProxy(s3s_server.endpoint, rate=SLOW_RATE) as proxy:
        config = config_for(s3s_server, tmp_path, host=proxy.endpoint)
        for flags in ([], ["--json"]):
            prefix = "json" if flags else "plain"
            process = start("push", folder, f"{bucket}/{prefix}", *flags, config=config)
            wait_until(
                partial(midway, proxy, s3s_server, bucket, f"{prefix}/a-big.bin"),
                60,
                "a part of the big upload on the wire and a small file stored",
            )
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
            assert process.returncode == 130
            assert err.decode().splitlines()[-1] == "cdn-manager: error: interrupted"
            stored = {k for k in bucket_keys(s3s_server, bucket) if k.startswith(prefix)}
            if flags:
                document = json.loads(out)
                assert document["ok"] is False and document["error"]["type"] == "Interrupted"
                assert {item["key"] for item in document["completed"]} == stored
            else:
                completed = [line.removeprefix("completed ") for line in out.decode().splitlines()]
                assert set(completed) == stored
            assert f"{prefix}/a-big.bin" not in stored
    assert s3s_server.unfinished_uploads(bucket) == []


#: How long the test holds one part of the upload, by data plane. The
#: native plane stops waiting for a held answer when the upload is
#: cancelled; botocore waits for it (up to its read timeout), so the boto3
#: plane's part is held only until the other parts have surely arrived.
HELD = {"native": 30.0, "boto3": 10.0}


@pytest.mark.parametrize("plane", list(HELD))
def test_sigterm_stops_a_cli_upload_as_ctrl_c_does(
    moto_server: Server, tmp_path: Path, plane: str
) -> None:
    bucket = moto_server.new_bucket()
    (tmp_path / "big.bin").write_bytes(os.urandom(40 * MiB))

    with FaultProxy(moto_server.endpoint, rate=SLOW_RATE) as proxy:
        # One part is held, so the upload cannot complete before the signal
        # (paced alone, its parts arrived together, and the completion could
        # beat the signal).
        held = HELD[plane]
        proxy.add(
            Rule(
                Fault.STALL,
                at=MiB,
                in_request=True,
                query="partNumber=",
                times=1,
                stall_seconds=held,
            )
        )
        config = config_for(moto_server, tmp_path, host=proxy.endpoint)
        env = clean_env(CDN_MANAGER_DATA_PLANE=plane)
        process = start("upload", bucket, "big.bin", tmp_path / "big.bin", config=config, env=env)
        wait_until(lambda: moto_server.parts_arrived(bucket), 60, "a part")
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        took = time.monotonic() - sent
        print(f"signal to exit: {took:.2f} s")
        assert took < REACTION_BOUND + (0 if plane == "native" else held)
        assert process.returncode == 130
        # What it kept for the next run, and how to resume or discard it.
        assert err.decode().startswith("cdn-manager: error: interrupted: the server keeps ")
        assert err.decode().endswith("or `cdn-manager clean` to discard it\n")
        assert bucket_keys(moto_server, bucket) == []
        # Refined by issue 13: the upload of a file keeps its parts for the
        # next run (resuming them is test_resume_upload.py's); `clean`, with
        # the key of the endpoint it went to, aborts it.
        assert len(moto_server.admin.list_multipart_uploads(Bucket=bucket)["Uploads"]) == 1
        assert cdn("clean", tmp_path, "--yes", config=config).code == 0
    assert moto_server.admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_sigterm_stops_a_cli_download_whose_answer_the_server_holds(
    s3s_server: Server, tmp_path: Path
) -> None:
    """The native plane stops waiting for a held answer when the transfer is
    cancelled, instead of waiting out its read timeout (30 s here)."""
    bucket = s3s_server.new_bucket()
    s3s_server.admin.put_object(Bucket=bucket, Key="big.bin", Body=os.urandom(40 * MiB))
    with FaultProxy(s3s_server.endpoint) as proxy:
        # Every ranged GET is held before its answer: the download is stuck.
        held = proxy.add(Rule(Fault.STALL, at=None, method="GET", ranged=True))
        config = config_for(s3s_server, tmp_path, host=proxy.endpoint)
        env = clean_env(CDN_MANAGER_DATA_PLANE="native")
        process = start("download", bucket, "big.bin", tmp_path / "out", config=config, env=env)
        wait_until(lambda: held.matched > 0, 60, "a held range")
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        took = time.monotonic() - sent
        print(f"signal to exit: {took:.2f} s")
        assert took < REACTION_BOUND
        assert process.returncode == 130
        assert err.decode().endswith("cdn-manager: error: interrupted\n")
    assert not (tmp_path / "out").exists()


def test_a_cancelled_async_batch_stops_every_item_and_says_what_completed(
    s3s_server: Server,
) -> None:
    bucket = s3s_server.new_bucket()
    items = [("big.bin", os.urandom(40 * MiB))]
    items += [(f"small-{n:02}.bin", os.urandom(200 * 1024)) for n in range(20)]

    seen: list[BaseException] = []

    async def upload_then_cancel(proxy: FaultProxy) -> None:
        fields = {**s3s_server.credentials.__dict__, "host": proxy.endpoint}
        async with AsyncCDNManager(CDNCredentials(**fields)) as manager:

            async def batch() -> None:
                try:
                    await manager.upload_many(bucket, items)
                except asyncio.CancelledError as err:  # in the cancelled task itself
                    seen.append(err)
                    raise

            task = asyncio.ensure_future(batch())
            deadline = time.monotonic() + 60
            while not midway(proxy, s3s_server, bucket, "big.bin"):
                assert time.monotonic() < deadline, "timed out waiting for the batch to get midway"
                await asyncio.sleep(0.02)  # polling interval
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    with FaultProxy(s3s_server.endpoint, rate=SLOW_RATE) as proxy:
        asyncio.run(upload_then_cancel(proxy))
    (cancelled,) = seen
    stored = set(bucket_keys(s3s_server, bucket))
    assert "big.bin" not in stored and s3s_server.unfinished_uploads(bucket) == []
    assert {r.key for r in cancelled.completed} == stored  # type: ignore[attr-defined]


def test_cancelling_while_a_large_file_is_checksummed_stops_at_once(
    s3s_server: Server, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.bin"
    with open(huge, "wb") as file:
        file.truncate(64 * GiB)  # sparse: no disk used, but its checksums take ~30 s
    bucket = s3s_server.new_bucket()

    def bytes_read() -> int:
        """What this process has read so far (/proc/self/io: every read call)."""
        fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
        return int(fields["rchar"])

    async def upload_then_cancel() -> float:
        async with AsyncCDNManager(s3s_server.credentials) as manager:
            before = bytes_read()
            task = asyncio.ensure_future(manager.upload_file(bucket, "huge.bin", huge))
            # Cancelled once the checksums are being computed: 256 MiB read
            # (of the 64 GiB; nothing else here reads that much).
            deadline = time.monotonic() + 60
            while bytes_read() - before < 256 * MiB:
                assert not task.done(), task
                assert time.monotonic() < deadline, "timed out waiting for the checksums to start"
                await asyncio.sleep(0.01)  # polling interval
            sent = time.monotonic()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return time.monotonic() - sent

    took = asyncio.run(upload_then_cancel())
    assert took < REACTION_BOUND
    # Cancelled before its checksums were done: no upload was even begun.
    assert s3s_server.unfinished_uploads(bucket) == [] and bucket_keys(s3s_server, bucket) == []


def test_every_thread_a_transfer_runs_on_leaves_ctrl_c_to_the_main_thread(
    moto_server: Server, tmp_path: Path
) -> None:
    """The kernel hands SIGINT to any thread not blocking it; one that a busy
    worker took left the main thread asleep until a running upload ended
    (seen: an interrupted push finishing its 40 MiB file first)."""
    bucket = moto_server.new_bucket()
    masks: dict[str, set[int]] = {}

    def progress(_: int) -> None:
        thread = threading.current_thread()
        if thread is not threading.main_thread():
            masks[thread.name] = set(signal.pthread_sigmask(signal.SIG_BLOCK, []))

    config = TransferConfig(multipart_threshold=5 * MiB, part_size=5 * MiB, concurrency=2)
    items = [(f"f{i}", os.urandom(12 * MiB)) for i in range(3)]
    with CDNManager(moto_server.credentials, config) as manager:
        results = manager.upload_many(bucket, items, progress=progress)
        assert all(r.ok for r in results)
        results = manager.download_many(bucket, [k for k, _ in items], tmp_path, progress=progress)
        assert all(r.ok for r in results)

    async def main() -> None:
        async with AsyncCDNManager(moto_server.credentials, config) as manager:
            await manager.put_bytes(bucket, "async", b"x" * 1024, progress=progress)

    asyncio.run(main())
    names = {name.rsplit("_", 1)[0] for name in masks}
    assert {"cdn-manager-batch", "cdn-manager", "cdn-manager-async"} <= names, names
    for name, mask in masks.items():
        assert {signal.SIGINT, signal.SIGTERM} <= mask, name
