"""What every transfer travels by, and running its parts concurrently
(stopping them all when one fails)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, TypeVar

from . import _core
from .config import TransferConfig
from .dataplane import DataPlane

T = TypeVar("T")


@dataclass(frozen=True)
class Transport:
    """A manager's means of moving objects, shared by all its transfers."""

    #: Object requests signed with the read key, and with the write key.
    download_plane: DataPlane
    upload_plane: DataPlane
    #: The boto3 clients of the read key and of the write key (control plane).
    download_client: Any
    upload_client: Any
    config: TransferConfig
    #: The part workers every transfer of the manager shares.
    executor: Executor


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
