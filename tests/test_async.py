"""The asyncio face: it never blocks the loop, cancellation cleans up, and
``gather`` of many calls stays within the manager's in-flight limit.

The async face's results, errors and verification are proven by the sync
tests themselves, which run against both faces (the ``face`` fixture).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import statistics
import threading
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest

from cdn_manager import AsyncCDNManager, CDNManager, TransferConfig

from conftest import BUCKET, SMALL_PARTS, MiB, Server, files_under
from helpers.faultproxy import FaultProxy

#: The most a part moves between two looks at its cancellation flag (both
#: data planes read responses 1 MiB at a time; uploads go in smaller pieces).
CHUNK = MiB
#: Objects of the cancellation tests: five parts of ``SMALL_PARTS``.
CANCEL_SIZE = 24 * MiB
CANCEL_PARTS = -(-CANCEL_SIZE // SMALL_PARTS.part_size)


class Stall:
    """A progress callback that, once ``after`` bytes have moved, wakes
    ``reached`` on the loop and holds every worker that reports progress
    until :meth:`release`; then counts the bytes still reported."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.reached = asyncio.Event()
        self.moved = 0
        self.moved_after_release = 0
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._released = threading.Event()

    def __call__(self, n: int) -> None:
        with self._lock:
            if self._released.is_set():
                self.moved_after_release += max(n, 0)
                return
            self.moved += n
            hold = self.moved >= self.after
        if hold:
            self._loop.call_soon_threadsafe(self.reached.set)
            if not self._released.wait(timeout=20):
                self.release()  # a test gone wrong fails instead of hanging

    def release(self) -> None:
        self._released.set()


async def cancel_midway(task: asyncio.Task[object], stall: Stall) -> None:
    """Cancels ``task`` while its workers are held by ``stall``, lets them go,
    and expects the task to end cancelled. At least ``CANCEL_SIZE / 2`` is
    still to move then, so a transfer that goes on is seen."""
    await stall.reached.wait()
    task.cancel()
    # One loop turn: the task handles its cancellation, and cancelling the
    # transfer is the first thing it does, before the workers are let go.
    await asyncio.sleep(0)
    stall.release()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_async_face_mirrors_every_public_method_of_the_sync_one() -> None:
    public = {
        name: member
        for name, member in inspect.getmembers(CDNManager, inspect.isfunction)
        if not name.startswith("_") and name != "close"
    }
    for name, method in public.items():
        twin = getattr(AsyncCDNManager, name)
        assert inspect.iscoroutinefunction(twin) or inspect.isasyncgenfunction(twin), name
        assert inspect.signature(twin).parameters == inspect.signature(method).parameters, name


def test_async_manager_repr_names_the_keys_but_no_secret(moto_server: Server) -> None:
    text = repr(AsyncCDNManager(moto_server.manager()))
    creds = moto_server.credentials
    assert text.startswith("AsyncCDNManager(")
    assert creds.downloader_access_key in text
    assert creds.downloader_access_secret not in text
    assert creds.uploader_access_secret not in text


def test_the_loop_keeps_ticking_during_a_256_mib_download(
    s3s_server: Server, tmp_path: Path
) -> None:
    manager = s3s_server.manager(TransferConfig())
    key = "async/loop-latency.bin"
    size = 256 * MiB
    manager.put_bytes(BUCKET, key, os.urandom(MiB) * (size // MiB))  # cheap to make, still checked
    moving = threading.Event()

    async def download_while_ticking() -> tuple[list[float], float]:
        async with AsyncCDNManager(manager) as aio:
            download = asyncio.create_task(
                aio.get_file(BUCKET, key, tmp_path, progress=lambda n: moving.set())
            )
            # Ticks counted once bytes move: not the first call's thread start.
            while not moving.is_set() and not download.done():
                await asyncio.sleep(0.001)
            start = time.perf_counter()
            gaps = []
            while not download.done():
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                gaps.append(time.perf_counter() - before)
            await download
        return gaps, time.perf_counter() - start

    # The test session's own heap out of the collector's way: a full
    # collection of it would stall any loop, with or without this library.
    gc.collect()
    gc.freeze()
    try:
        gaps, moving_for = asyncio.run(download_while_ticking())
    finally:
        gc.unfreeze()
    assert (tmp_path / key).stat().st_size == size
    assert len(gaps) >= 10, "the loop did not tick while the bytes moved"
    print(
        f"\nloop gap while downloading 256 MiB: median {statistics.median(gaps) * 1000:.1f} ms,"
        f" max {max(gaps) * 1000:.1f} ms, {len(gaps)} ticks in {moving_for:.2f} s"
    )
    # A loop that waited on the transfer would show one gap as long as the
    # transfer; one that ticks shows 10 ms sleeps, whatever the machine's
    # load (which stretches both), with room for a scheduler hiccup.
    assert statistics.median(gaps) < 0.05
    assert max(gaps) < moving_for / 4


def test_cancelling_a_download_midway_keeps_the_old_file(
    any_server: Server, tmp_path: Path
) -> None:
    manager = any_server.manager()
    key = f"async/cancel-download-{any_server.name}.bin"
    manager.put_bytes(BUCKET, key, os.urandom(CANCEL_SIZE))
    folder = tmp_path / "downloads"
    (folder / "async").mkdir(parents=True)
    (folder / key).write_bytes(b"the previous version")

    async def cancel_download() -> Stall:
        aio = AsyncCDNManager(manager)
        stall = Stall(after=4 * MiB)
        task = asyncio.create_task(aio.get_file(BUCKET, key, folder, progress=stall))
        await cancel_midway(task, stall)
        return stall

    stall = asyncio.run(cancel_download())
    # Each part may finish the chunk it was in; the rest of the object stays.
    assert stall.moved_after_release <= CANCEL_PARTS * CHUNK, "the download went on"
    assert files_under(folder) == {key}
    assert (folder / key).read_bytes() == b"the previous version"


def test_cancelling_a_multipart_upload_midway_aborts_it(moto_server: Server) -> None:
    manager = moto_server.manager()
    admin = moto_server.admin
    key = "async/cancel-upload.bin"
    admin.put_object(Bucket=BUCKET, Key=key, Body=b"the previous version")

    def uploads_of_key() -> list[str]:
        uploads = admin.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", [])
        return [u["UploadId"] for u in uploads if u["Key"] == key]

    async def cancel_upload() -> tuple[Stall, list[str]]:
        aio = AsyncCDNManager(manager)
        stall = Stall(after=6 * MiB)
        task = asyncio.create_task(
            aio.put_bytes(BUCKET, key, os.urandom(CANCEL_SIZE), progress=stall)
        )
        await stall.reached.wait()
        started = await asyncio.to_thread(uploads_of_key)
        await cancel_midway(task, stall)
        return stall, started

    stall, started = asyncio.run(cancel_upload())
    assert len(started) == 1, "no multipart upload was in progress when cancelled"
    assert stall.moved_after_release <= CANCEL_PARTS * CHUNK, "the upload went on"
    assert uploads_of_key() == []
    assert admin.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"the previous version"


def test_a_call_cancelled_while_waiting_for_a_slot_never_runs(s3s_server: Server) -> None:
    manager = s3s_server.manager(replace(SMALL_PARTS, max_in_flight=1))
    big, kept = "async/slot-holder.bin", "async/kept.txt"
    manager.put_bytes(BUCKET, big, os.urandom(8 * MiB))
    manager.put_bytes(BUCKET, kept, b"still here")

    async def cancel_the_queued_delete() -> None:
        aio = AsyncCDNManager(manager)
        stall = Stall(after=MiB)
        holder = asyncio.create_task(aio.download_bytes(BUCKET, big, progress=stall))
        await stall.reached.wait()
        # A delete has no chunks to stop at: only never starting keeps the object.
        waiting = asyncio.create_task(aio.delete(BUCKET, kept))
        await asyncio.sleep(0)  # the delete is queued behind the download now
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        stall.release()
        assert len(await holder) == 8 * MiB

    asyncio.run(cancel_the_queued_delete())
    assert manager.download_bytes(BUCKET, kept) == b"still here"


@pytest.mark.slow  # 2,000 requests: make test runs it, make test-fast does not
def test_gather_of_2000_uploads_stays_within_the_in_flight_limit(s3s_server: Server) -> None:
    # Above the 6 threads of asyncio's default executor on a 2-core machine.
    limit, count, size = 8, 2000, 64 * 1024
    # Every payload is a view into one small buffer: a copy of each would
    # allocate 125 MiB, far beyond what the calls in flight and waiting need
    # (tracemalloc counts the allocations of every thread).
    pool = os.urandom(size + count)
    payloads = [memoryview(pool)[i : i + size] for i in range(count)]
    with FaultProxy(s3s_server.endpoint) as proxy:
        manager = s3s_server.manager(replace(SMALL_PARTS, max_in_flight=limit), host=proxy.endpoint)

        async def upload_all() -> int:
            async with AsyncCDNManager(manager) as aio:
                tracemalloc.start()
                try:
                    await asyncio.gather(
                        *(
                            aio.put_bytes(BUCKET, f"gather/{i:04}", p)
                            for i, p in enumerate(payloads)
                        )
                    )
                    return tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()

        peak = asyncio.run(upload_all())

    connections = proxy.peak_connections
    print(f"\n{count} uploads: {connections} connections at most, {peak / MiB:.1f} MiB peak")
    assert connections == limit
    assert peak < count * size / 4, "memory grew with the payloads, not the calls in flight"
    direct = s3s_server.manager()
    keys = [info.key for info in direct.list(BUCKET, "gather/")]
    assert keys == [f"gather/{i:04}" for i in range(count)]
    assert direct.download_bytes(BUCKET, "gather/1234") == payloads[1234]


def test_one_async_manager_serves_loops_in_turn_and_at_once(s3s_server: Server) -> None:
    manager = s3s_server.manager()
    aio = AsyncCDNManager(manager)
    keys = [f"async/loops/{i:02}" for i in range(20)]

    async def round_trip(tag: bytes) -> list[bytes]:
        await asyncio.gather(*(aio.put_bytes(BUCKET, k, tag + k.encode()) for k in keys))
        return list(await asyncio.gather(*(aio.download_bytes(BUCKET, k) for k in keys)))

    # In turn: each asyncio.run is a new loop, the first one closed by then.
    for tag in (b"first:", b"second:"):
        assert asyncio.run(round_trip(tag)) == [tag + k.encode() for k in keys]

    # At once: two threads, each with its own loop, on one manager.
    found: dict[str, list[bytes]] = {}

    def in_thread(name: str) -> None:
        async def fetch() -> list[bytes]:
            return list(await asyncio.gather(*(aio.download_bytes(BUCKET, k) for k in keys)))

        found[name] = asyncio.run(fetch())

    threads = [threading.Thread(target=in_thread, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = [b"second:" + k.encode() for k in keys]
    assert found == {"a": expected, "b": expected}
    asyncio.run(aio.aclose())
