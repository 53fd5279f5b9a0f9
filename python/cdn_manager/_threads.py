"""The library's threads leave Ctrl-C and SIGTERM to the main thread.

CPython runs signal handlers on the main thread only, but the kernel hands
a process's signal to whichever thread not blocking it reaches the signal
first. A busy worker that takes it leaves the main thread asleep in a lock
wait (a batch waiting for its items): the handler runs only when a running
transfer ends, after it finished the very upload the user meant to stop.
Every thread the library starts blocks both signals, so the kernel wakes
the main thread; threads those start (the Rust core's helpers) inherit it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

_MAIN_THREAD_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def leave_signals_to_main_thread() -> None:
    """Blocks SIGINT and SIGTERM in the calling thread (never the main one)."""
    if sys.platform != "win32" and threading.current_thread() is not threading.main_thread():
        signal.pthread_sigmask(signal.SIG_BLOCK, _MAIN_THREAD_SIGNALS)


@contextlib.contextmanager
def threads_leave_signals() -> Iterator[None]:
    """Threads started inside (by code not ours, e.g. a server) inherit a mask
    blocking SIGINT and SIGTERM; the calling thread's is restored after."""
    if sys.platform == "win32":
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _MAIN_THREAD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def executor(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads leave the signals to the main thread."""
    return ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix=name, initializer=leave_signals_to_main_thread
    )


def thread(target: Callable[[], None], name: str) -> threading.Thread:
    """A daemon thread (not started) that leaves the signals to the main thread."""

    def run() -> None:
        leave_signals_to_main_thread()
        target()

    return threading.Thread(target=run, name=name, daemon=True)
