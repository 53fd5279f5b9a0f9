"""A download interrupted by Ctrl-C twice, in a process of its own.

Run as ``python interrupted.py`` with a JSON job on stdin (endpoint,
credentials, bucket, ``mode`` = ``download_bytes`` or ``download_many``,
keys, folder, and a ``check_key``/``check_size`` to fetch afterwards). Once
the transfer has moved ``interrupt_after`` bytes, a timer thread sends this
process SIGINT, and again ``gap`` seconds later, while the first interrupt is
still being handled: the second lands in the library's clean-up. The process
then waits for the library to settle, checks that it still works (a fresh
download), and prints a JSON report: how many interrupts reached this code
(both may end as one), how many were sent before the call returned, the
temporary files left. A crash shows as a signal exit code.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from cdn_manager import CDNCredentials, CDNManager, TransferConfig

MiB = 1024 * 1024


def main() -> None:
    job = json.load(sys.stdin)
    config = TransferConfig(
        multipart_threshold=6 * MiB,
        download_threshold=6 * MiB,
        part_size=5 * MiB,
        data_plane="native",
    )
    manager = CDNManager(CDNCredentials(**job["credentials"]), config)
    folder = Path(job["folder"])
    moved = 0
    fired = threading.Event()
    sent_at: list[float] = []

    def interrupt_twice() -> None:
        for pause in (0.0, job["gap"]):
            time.sleep(pause)
            sent_at.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

    def progress(n: int) -> None:
        nonlocal moved
        moved += n
        if moved >= job["interrupt_after"] and not fired.is_set():
            fired.set()
            threading.Timer(0.0, interrupt_twice).start()

    interrupts = 0
    outcome = "finished"
    try:
        if job["mode"] == "download_bytes":
            manager.download_bytes(job["bucket"], job["keys"][0], progress=progress)
        else:
            manager.download_many(job["bucket"], job["keys"], folder, progress=progress)
    except KeyboardInterrupt:
        interrupts += 1
        outcome = "interrupted"
    ended_at = time.monotonic()
    # The second interrupt may arrive after the first one got out: absorb it.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            time.sleep(0.1)
        except KeyboardInterrupt:
            interrupts += 1

    # Parts still running stop at their next chunk and remove their files.
    deadline = time.monotonic() + 30
    while True:
        leftover = sorted(p.name for p in folder.rglob("*") if ".cdnpart-" in p.name)
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    check = manager.download_bytes(job["bucket"], job["check_key"])
    manager.close()
    report = {
        "outcome": outcome,
        "interrupts": interrupts,
        "sent_before_the_call_ended": sum(at < ended_at for at in sent_at),
        "moved_before": moved,
        "leftover": leftover,
        "healthy": len(check) == job["check_size"],
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
