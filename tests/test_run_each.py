"""``run_each`` fed by a generator (a deploy's HEADs, yielded as its listing
arrives): jobs start before the generator is exhausted, results stay in
order, and a failure on either side stops the batch and closes the
generator."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from cdn_manager import CDNError, _core
from cdn_manager._transfers.parts import run_each

WAIT = 10.0


def test_jobs_run_while_the_generator_still_produces() -> None:
    first_ran = threading.Event()

    def jobs() -> Iterator[Callable[[], int]]:
        def first() -> int:
            first_ran.set()
            return 0

        yield first
        # A run_each that drained the generator before starting any job
        # would wait here for the whole timeout.
        assert first_ran.wait(WAIT), "the first job did not start before the second was asked for"
        yield from (lambda n=n: n for n in range(1, 50))

    assert run_each(jobs(), 4, _core.Control()) == list(range(50))


def test_an_error_from_the_generator_stops_the_batch() -> None:
    ran: list[int] = []

    def jobs() -> Iterator[Callable[[], None]]:
        for n in range(3):
            yield lambda n=n: ran.append(n)
        raise CDNError("the listing failed", reason="InternalError")

    with pytest.raises(CDNError, match="the listing failed"):
        run_each(jobs(), 2, _core.Control())
    assert sorted(ran) == [0, 1, 2]


def test_a_failing_job_closes_the_generator() -> None:
    closed = threading.Event()
    handed_out = 0

    def fail() -> None:
        raise CDNError("this job failed", reason="InternalError")

    def jobs() -> Iterator[Callable[[], None]]:
        nonlocal handed_out
        try:
            while True:
                handed_out += 1
                yield fail
        finally:
            closed.set()  # where the listing's folder threads are told to stop

    with pytest.raises(CDNError, match="this job failed"):
        run_each(jobs(), 3, _core.Control())
    assert closed.is_set()
    assert handed_out <= 3  # no job is handed out after the first failure
