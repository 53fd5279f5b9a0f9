"""A download interrupted by Ctrl-C twice, in a process of its own.

Run as ``python interrupted.py`` with a JSON job on stdin (endpoint,
credentials, bucket, ``mode`` = ``download_bytes`` or ``download_many``,
keys, folder, and a ``check_key``/``check_size`` to fetch afterwards). Once
the transfer has moved ``interrupt_after`` bytes, a thread sends this
process SIGINT, and again ``gap`` seconds after the first was handled,
while the library is still cleaning up: the second lands in its clean-up.
That is no race: the worker thread whose progress report crossed
``interrupt_after`` is held in the callback until the second is sent, and
the library waits for its workers before it returns. The process then
waits for the library to settle, checks that it still works (a fresh
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
#: Seconds the part that sent the interrupts stays in its progress callback
#: after the second one, to see whether the call returns without it.
OUTLIVE_WINDOW = 3.0


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
    handled = threading.Event()
    both_sent = threading.Event()
    call_ended = threading.Event()
    outlived = threading.Event()
    received: list[float] = []
    calling = True

    def on_sigint(signum: int, frame: object) -> None:
        """Python's own Ctrl-C, but counted, and only while the call runs:
        afterwards there is no library code left for it to interrupt."""
        received.append(time.monotonic())
        handled.set()
        if calling:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)

    def interrupt_twice() -> None:
        # Never handled here, where nothing waits for it: on the main thread.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        sent_at.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
        # Not sent before the first is handled, or the two would merge.
        handled.wait(30)
        time.sleep(job["gap"])  # how far into the clean-up (not a wait for anything)
        sent_at.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
        both_sent.set()

    def progress(n: int) -> None:
        nonlocal moved
        moved += n
        # Fired from a worker thread, which the library waits for (the main
        # thread may be moving a part itself, in download_bytes, and is
        # where the interrupts land).
        if (
            moved >= job["interrupt_after"]
            and threading.current_thread() is not threading.main_thread()
            and not fired.is_set()
        ):
            fired.set()
            threading.Thread(target=interrupt_twice).start()
            both_sent.wait(60)  # safety net only: the second is sent within ~gap
            # The library must wait for this part before the call returns,
            # the second Ctrl-C notwithstanding: stay a while longer; the
            # call must not end meanwhile (a window, since the right outcome
            # is that nothing happens).
            if call_ended.wait(OUTLIVE_WINDOW):
                outlived.set()

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
    finally:
        calling = False
        call_ended.set()
    ended_at = time.monotonic()
    # Both were sent before the call could end, but the second may reach
    # the handler only now (where it no longer raises): wait until it has.
    deadline = time.monotonic() + 30
    while len(received) < len(sent_at) and time.monotonic() < deadline:
        time.sleep(0.01)  # polling interval; the deadline is the safety net

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
        "handled": len(received),
        "moved_before": moved,
        "leftover": leftover,
        "healthy": len(check) == job["check_size"],
        "a_part_outlived_the_call": outlived.is_set(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
