"""Blocking calls run on worker threads for coroutines, for a few
microseconds of the loop's time each.

Why not ``loop.run_in_executor``/``asyncio.wrap_future``: each call there
costs a concurrent ``Future``, an asyncio future chained to it (with
``asyncio.shield`` for a clean cancellation, a third), and a wakeup of the
loop through its self-pipe when it ends. Measured on 2,000 calls gathered at
once: about 130 µs of CPU per call, which put the async face at 0.7 times
the sync one on 2,000 small objects. Here a call is one object and one asyncio
future in a queue that a few long-running worker jobs drain, and the loop
is woken once for however many calls ended since it last looked (an inbox
per loop); docs/design.md has the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: What a call ended with: (True, result) or (False, exception).
Outcome = tuple[bool, Any]


class _Inbox:
    """Outcomes of calls, from worker threads to one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak: an inbox kept for the next call must not keep a finished
        # loop alive.
        self.loop = weakref.ref(loop)
        self._lock = threading.Lock()
        self._arrived: list[tuple[_Call[Any], Outcome]] = []
        self._scheduled = False

    def post(self, call: _Call[Any], outcome: Outcome) -> None:
        """Hands ``outcome`` to the loop (from any thread); only the first
        call since the loop last drained the inbox wakes it."""
        with self._lock:
            self._arrived.append((call, outcome))
            if self._scheduled:
                return
            self._scheduled = True
        loop = self.loop()
        # A closed loop raises RuntimeError: nobody awaits the call any more.
        with contextlib.suppress(RuntimeError):
            if loop is not None:
                loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            arrived, self._arrived = self._arrived, []
            self._scheduled = False
        for call, outcome in arrived:
            call.deliver(outcome)


class _Call(Generic[T]):
    """One blocking call: queued, then run by a worker or cancelled unrun."""

    __slots__ = ("_claim", "_function", "_inbox", "_settled", "done", "outcome")

    def __init__(
        self, function: Callable[[], T], loop: asyncio.AbstractEventLoop, inbox: _Inbox
    ) -> None:
        # Whoever acquires it first decides: a worker runs the call, or a
        # cancellation drops it before it starts. It is never released.
        self._claim = threading.Lock()
        self._function = function
        self._inbox = inbox
        self.done: asyncio.Future[T] = loop.create_future()
        self.outcome: Outcome | None = None
        self._settled: asyncio.Future[None] | None = None

    def run(self) -> None:
        """On a worker thread: runs the call unless it was cancelled first."""
        if not self._claim.acquire(blocking=False):
            return
        try:
            outcome: Outcome = (True, self._function())
        except BaseException as err:  # delivered to the awaiting task
            outcome = (False, err)
        self._inbox.post(self, outcome)

    def cancel_unstarted(self) -> bool:
        """True if the call had not started, and now never will."""
        return self._claim.acquire(blocking=False)

    def deliver(self, outcome: Outcome) -> None:
        """On the loop: the call has ended."""
        self.outcome = outcome
        if not self.done.done():
            ok, value = outcome
            if ok:
                self.done.set_result(value)
            else:
                self.done.set_exception(value)
        if self._settled is not None and not self._settled.done():
            self._settled.set_result(None)

    def settled(self) -> asyncio.Future[None]:
        """A future done once the call has ended (at once if it has)."""
        if self._settled is None:
            self._settled = self.done.get_loop().create_future()
            if self.outcome is not None:
                self._settled.set_result(None)
        return self._settled


class Offloader:
    """Runs blocking calls for coroutines on at most ``workers`` threads of
    ``executor``.

    Calls wait in one queue that a few long-running jobs of the executor
    drain: a burst of calls (``asyncio.gather`` of thousands) costs the
    executor one job per thread, not a work item and a concurrent
    ``Future`` each. The executor keeps what it is good at: its threads,
    and waiting at shutdown and at interpreter exit for the calls running.
    """

    def __init__(self, executor: Executor, workers: int) -> None:
        self._executor = executor
        self._workers = workers
        self._lock = threading.Lock()
        self._queued: deque[_Call[Any]] = deque()
        #: Draining jobs started and not yet ended.
        self._draining = 0
        self._closed = False
        #: The inbox of the loop that called last: a manager usually serves
        #: one loop at a time. Calls keep their own inbox, so a call from
        #: another loop meanwhile only starts a new one.
        self._inbox: _Inbox | None = None

    def _submit(self, call: _Call[Any]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._queued.append(call)
            start = self._draining < self._workers
            if start:
                self._draining += 1
        if start:
            try:
                self._executor.submit(self._drain)
            except BaseException:
                with self._lock, contextlib.suppress(ValueError):
                    self._draining -= 1
                    self._queued.remove(call)
                raise

    def _drain(self) -> None:
        """A worker's job: runs queued calls until none is left."""
        while True:
            with self._lock:
                if not self._queued:
                    self._draining -= 1
                    return
                call = self._queued.popleft()
            call.run()

    def shutdown(self) -> None:
        """Refuses new calls, waits for the queued and running ones, and
        stops the threads."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True)

    async def run(
        self,
        function: Callable[[], T],
        on_cancel: Callable[[], object],
        stopped: Callable[[asyncio.CancelledError, BaseException], object],
    ) -> T:
        """``function()`` run on a worker thread.

        If the awaiting task is cancelled: a call not started yet never
        runs; a running one gets ``on_cancel()`` (to stop it at its next
        chunk) and is waited for, through further cancellations, so
        whatever it cleans up is clean before ``CancelledError`` is raised;
        if the call raised, the ``CancelledError`` and that exception are
        passed to ``stopped`` first.
        """
        loop = asyncio.get_running_loop()
        inbox = self._inbox
        if inbox is None or inbox.loop() is not loop:
            inbox = self._inbox = _Inbox(loop)
        call = _Call(function, loop, inbox)
        self._submit(call)
        try:
            return await call.done
        except asyncio.CancelledError as cancelled:
            on_cancel()
            if call.cancel_unstarted():
                raise
            await _settle(call.settled())
            assert call.outcome is not None
            ok, value = call.outcome
            if not ok:
                stopped(cancelled, value)
            raise


async def _settle(future: asyncio.Future[Any]) -> None:
    """Waits until ``future`` is done, through further cancellations of the
    calling task: the cleanup it stands for must finish before the task ends."""
    while not future.done():
        try:
            await asyncio.wait([future])
        except asyncio.CancelledError:
            continue
