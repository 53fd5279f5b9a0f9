"""One object on the move, and running its parts (or a batch's items)
concurrently, stopping them all when one fails."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import TypeVar, cast

from . import _core
from .config import TransferConfig
from .retry import with_retries
from .transport import Transport

T = TypeVar("T")


@dataclass
class Transfer:
    """One object on the move."""

    transport: Transport
    bucket: str
    key: str
    control: _core.Control

    @property
    def name(self) -> str:
        return f"{self.bucket}/{self.key}"

    @property
    def config(self) -> TransferConfig:
        return self.transport.config

    def retried(self, attempt: Callable[[], T], what: str) -> T:
        """``attempt()``, tried again while it fails transiently, within
        ``max_attempts`` and the manager's retry quota."""
        return with_retries(attempt, self.config.max_attempts, self.transport.retries, what)


def run_parts(
    executor: Executor,
    first: Callable[[], T],
    rest: Sequence[Callable[[], T]],
    control: _core.Control,
) -> list[T]:
    """Runs ``first`` on this thread and ``rest`` on ``executor``; returns
    their results in order.

    If anything fails, parts not started are dropped and running ones are
    waited for, so no part writes or sends after this returns. An interrupt
    (Ctrl-C, task cancellation) also cancels ``control``, which stops
    running parts at their next chunk.
    """
    futures: list[Future[T]] = []
    try:
        futures = [executor.submit(part) for part in rest]
        results = [first()]
        results.extend(f.result() for f in futures)
        return results
    except BaseException as err:
        if not isinstance(err, Exception):
            control.cancel()
        for f in futures:
            f.cancel()
        for f in futures:
            if not f.cancelled():
                f.exception()
        raise


def run_each(jobs: Sequence[Callable[[], T]], workers: int, control: _core.Control) -> list[T]:
    """Runs ``jobs``, ``workers`` at a time (this thread is one of them), on
    threads of their own; returns their results in order.

    Jobs should report their failures in their results: the first exception
    one raises stops the handing out of jobs and is raised here once the
    running ones have ended. An interrupt (Ctrl-C, task cancellation) also
    cancels ``control``, which stops running jobs at their next chunk.
    """
    results: list[T | None] = [None] * len(jobs)
    indexes = itertools.count()
    stop = threading.Event()
    failures: list[BaseException] = []

    def work() -> None:
        for i in indexes:
            if i >= len(jobs) or stop.is_set():
                return
            results[i] = jobs[i]()

    def worker() -> None:
        try:
            work()
        except BaseException as err:
            failures.append(err)
            stop.set()

    threads = [
        threading.Thread(target=worker, name="cdn-manager-batch", daemon=True)
        for _ in range(min(workers, len(jobs)) - 1)
    ]
    for thread in threads:
        thread.start()
    try:
        work()
    except BaseException as err:
        stop.set()
        if not isinstance(err, Exception):
            control.cancel()
        raise
    finally:
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    return cast(list[T], results)
