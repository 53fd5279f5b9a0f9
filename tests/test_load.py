"""Load (issue 4, item 6): one manager shared by 16 threads doing 500 mixed
uploads and downloads of random sizes up to 64 MiB; every transfer succeeds
and every byte that lands is the byte that was uploaded."""

from __future__ import annotations

import hashlib
import math
import os
import random
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cdn_manager import CDNManager, TransferConfig

from conftest import MiB, Server

THREADS = 16
TRANSFERS = 500
SMALLEST, LARGEST = 1024, 64 * MiB


def sizes(rng: random.Random, count: int) -> list[int]:
    """Log-uniform between 1 KiB and 64 MiB: mostly small, a few large (about
    5.8 MiB on average), so the run moves a few GB, not tens."""
    low, high = math.log(SMALLEST), math.log(LARGEST)
    return [min(LARGEST, int(math.exp(rng.uniform(low, high)))) for _ in range(count)]


@dataclass
class Ledger:
    """Objects uploaded so far and their digests; downloads take the oldest
    not yet downloaded, so nearly every upload is read back during the run."""

    digests: dict[str, str] = field(default_factory=dict)
    unread: list[str] = field(default_factory=list)
    read: set[str] = field(default_factory=set)
    ready: threading.Condition = field(default_factory=threading.Condition)

    def uploaded(self, key: str, digest: str) -> None:
        with self.ready:
            self.digests[key] = digest
            self.unread.append(key)
            self.ready.notify_all()

    def next_to_read(self, rng: random.Random) -> str:
        with self.ready:
            self.ready.wait_for(lambda: bool(self.digests))
            key = self.unread.pop(0) if self.unread else rng.choice(sorted(self.digests))
            self.read.add(key)
            return key


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
def test_sixteen_threads_share_one_manager_for_500_mixed_transfers(
    any_server: Server, bucket: str, tmp_path: Path
) -> None:
    rng = random.Random(4)
    # Payloads are slices of one random pool, each at its own offset.
    pool = memoryview(os.urandom(LARGEST))
    # Half uploads, half downloads; the first few are uploads, so there is
    # something to read by the time the downloads start.
    rest = ["upload"] * (TRANSFERS // 2 - THREADS) + ["download"] * (TRANSFERS // 2)
    rng.shuffle(rest)
    plan = ["upload"] * THREADS + rest
    upload_sizes = iter(sizes(rng, plan.count("upload")))
    manager = CDNManager(any_server.credentials, TransferConfig())  # the defaults
    ledger = Ledger()
    moved = [0]
    lock = threading.Lock()

    def transfer(number: int, op: str, size: int, offset: int) -> None:
        op_rng = random.Random(number)
        if op == "upload":
            key = f"load/{number:03d}-{size}.bin"
            data = pool[offset : offset + size]
            manager.put_bytes(bucket, key, data)
            ledger.uploaded(key, hashlib.sha256(data).hexdigest())
        else:
            key = ledger.next_to_read(op_rng)
            folder = tmp_path / f"download-{number:03d}"
            landed = manager.get_file(bucket, key, folder=folder)
            size = landed.stat().st_size
            assert sha256_of(landed) == ledger.digests[key], key
            shutil.rmtree(folder)
        with lock:
            moved[0] += size

    started = time.monotonic()
    with manager, ThreadPoolExecutor(THREADS) as threads:
        jobs = []
        for number, op in enumerate(plan):
            size = next(upload_sizes) if op == "upload" else 0
            offset = rng.randrange(LARGEST - size + 1)
            jobs.append(threads.submit(transfer, number, op, size, offset))
        failures = [repr(job.exception()) for job in jobs if job.exception() is not None]
        elapsed = time.monotonic() - started
        # The few uploads no download reached during the run are read back now.
        for key in sorted(set(ledger.digests) - ledger.read):
            landed = manager.get_file(bucket, key, folder=tmp_path / "last")
            assert sha256_of(landed) == ledger.digests[key], key
    print(
        f"\n{any_server.name}: {TRANSFERS} transfers by {THREADS} threads, "
        f"{moved[0] / MiB:.0f} MiB in {elapsed:.1f} s; "
        f"{len(set(ledger.digests) - ledger.read)} uploads read back after the run"
    )
    assert failures == []
    assert len(ledger.digests) == TRANSFERS // 2
