"""Running the parts of one transfer concurrently, and stopping them all
when one fails."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import TypeVar

from . import _core

T = TypeVar("T")


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
