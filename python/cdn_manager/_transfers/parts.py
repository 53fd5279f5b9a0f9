"""One object on the move, and running its parts (or a batch's items)
concurrently, stopping them all when one fails."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence, Sized
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from .. import _core
from .._config import TransferConfig
from .._planes.retry import with_retries
from .._results import TransferResult
from .._threads import thread as worker_thread
from ..errors import Cancelled, Interrupted
from .kit import TransferKit

T = TypeVar("T")


@dataclass
class Transfer:
    """One object on the move."""

    kit: TransferKit
    bucket: str
    key: str
    control: _core.Control

    @property
    def name(self) -> str:
        return f"{self.bucket}/{self.key}"

    @property
    def config(self) -> TransferConfig:
        return self.kit.config

    def retried(self, attempt: Callable[[], T], what: str) -> T:
        """``attempt()``, tried again while it fails transiently, within
        ``max_attempts`` and the manager's retry quota."""
        return with_retries(attempt, self.config.max_attempts, self.kit.retries, what)


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
        # A second Ctrl-C must not cut this wait short: the parts still
        # running would go on writing and sending after the call returned.
        if _wait_out(futures, control) and isinstance(err, Exception):
            raise KeyboardInterrupt from err
        raise


def _wait_out(futures: Sequence[Future[T]], control: _core.Control) -> bool:
    """Waits until every future has ended, through interrupts (each one
    cancels ``control``, so the parts stop at their next chunk); whether
    one came."""
    interrupted = False
    pending = [f for f in futures if not f.done()]
    while pending:
        try:
            wait(pending)
        except KeyboardInterrupt:
            control.cancel()
            interrupted = True
        pending = [f for f in pending if not f.done()]
    return interrupted


def run_each(jobs: Iterable[Callable[[], T]], workers: int, control: _core.Control) -> list[T]:
    """Runs ``jobs``, ``workers`` at a time, on threads of their own; returns
    their results in order.

    ``jobs`` may be lazy (a generator): one worker at a time takes the next
    job from it, so whatever produces the jobs (a listing's next page) runs
    while the jobs already taken do. Jobs report their failures in their
    results; the first exception one raises (or the generator raises) stops
    the handing out of jobs and is raised here once the running ones have
    ended. This thread only waits, so an interrupt (Ctrl-C, or a SIGTERM
    the command line turns into one) reaches it at once and never lands
    between a job's success and its result: it cancels ``control`` (running
    jobs stop at their next chunk and clean up), hands out no more jobs,
    waits until every running job has ended, then raises
    :class:`Interrupted` with the jobs that had succeeded (those whose
    result is a successful :class:`TransferResult`). Cancelling ``control``
    otherwise (task cancellation, on the async face) stops the jobs the
    same way, and :class:`Cancelled` is raised with them. A generator is
    closed before this returns or raises.
    """
    feed = iter(jobs)
    taking = threading.Lock()
    results: dict[int, T] = {}
    indexes = itertools.count()
    stop = threading.Event()
    failures: list[BaseException] = []

    def take() -> tuple[int, Callable[[], T]] | None:
        with taking:
            if stop.is_set() or control.cancelled:
                return None
            job = next(feed, None)
            return None if job is None else (next(indexes), job)

    def worker(finished: threading.Event) -> None:
        try:
            while (taken := take()) is not None:
                i, job = taken
                results[i] = job()
        except BaseException as err:
            failures.append(err)
            stop.set()
        finally:
            finished.set()

    # Each worker says when it has ended through an Event: an interrupted
    # Thread.join() marks a still running thread as ended (CPython 3.11,
    # bpo-45274), so it cannot be waited on again.
    count = min(workers, len(jobs)) if isinstance(jobs, Sized) else workers
    running: list[tuple[threading.Thread, threading.Event]] = []
    for _ in range(count):
        finished = threading.Event()
        running.append((worker_thread(partial(worker, finished), "cdn-manager-batch"), finished))
    try:
        for thread, _ in running:
            thread.start()
        for _, finished in running:
            finished.wait()
    except KeyboardInterrupt:
        stop.set()
        control.cancel()
        # A thread not running yet will see ``stop`` before taking a job.
        _wait_through_interrupts([f for t, f in running if t.ident is not None])
        raise Interrupted(_succeeded(results)) from None
    finally:
        if isinstance(feed, Generator):
            feed.close()
    if failures:
        raise failures[0]
    if control.cancelled:
        raise Cancelled("the batch was cancelled", completed=_succeeded(results))
    return [results[i] for i in range(len(results))]


def _wait_through_interrupts(events: Sequence[threading.Event]) -> None:
    """Waits for every event, through further interrupts: what the batch
    started must finish cleaning up (abort, remove temporary files) before
    the caller hears that it stopped. Cancelled transfers stop at their next
    chunk; a request already waiting for an answer ends within the
    configured timeouts."""
    for event in events:
        while not event.is_set():
            with contextlib.suppress(KeyboardInterrupt):
                event.wait()


def _succeeded(results: Mapping[int, object]) -> list[TransferResult]:
    """The successful transfers among ``results`` (by job number), in order."""
    return [r for _, r in sorted(results.items()) if isinstance(r, TransferResult) and r.ok]
