"""AsyncCDNManager: CDNManager for asyncio applications.

Why this shape: one class whose coroutine methods have the same names,
arguments, results and exceptions as :class:`CDNManager`'s, so an async caller
writes ``await manager.put_bytes(...)`` and the sync documentation reads
unchanged, without ``*_async`` twins doubling the sync class. It wraps a
:class:`CDNManager` and calls the same operations layer
(``_operations``), so verification, errors and key separation
are the sync ones: there is one code path.

Every call runs on a worker thread of this manager's own executor, bounded by
``config.max_in_flight``: the loop never blocks, and ``asyncio.gather`` of
thousands of calls runs that many at a time while the rest wait as queued
calls holding a reference to their payload (never a copy) and no
connection. The hop to a worker and back costs the loop a few microseconds
(``offload``).
"""

from __future__ import annotations

import asyncio
import builtins
import itertools
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from .. import _threads as workers
from .._config import TransferConfig
from .._credentials import CDNCredentials
from ..errors import Cancelled
from .manager import CDNManager

# Named in annotations only, as in :mod:`.manager`.
if TYPE_CHECKING:
    from .._deploy.plan import PlanOptions, PruneOptions, RollbackOptions
    from .._deploy.releases import Release
    from .._operations.audit import AuditReport
    from .._operations.operations import ItemData, Payload
    from .._planes.adaptive import PlaneChoice
    from .._results import ObjectInfo, TransferResult
    from .._sync.engine import ScopeOptions
    from .._sync.outcome import SyncReport
    from .._sync.plan import SyncPlan
    from .manager import (
        BatchDownloadOptions,
        BatchUploadOptions,
        DeployRunOptions,
        Progress,
        ProgressOption,
        PruneRunOptions,
        PullRunOptions,
        RollbackRunOptions,
        UploadOptions,
    )
from .offload import Offloader

T = TypeVar("T")

#: Keys fetched per trip to a worker while listing (S3's largest page).
LIST_BATCH = 1000


class AsyncCDNManager:
    """The coroutine face of :class:`CDNManager`.

    ``AsyncCDNManager(credentials, config)`` builds its own
    :class:`CDNManager`; ``AsyncCDNManager(manager)`` wraps an existing one
    (which ``aclose`` then leaves open). Cancelling a task that awaits a call
    stops the transfer at its next chunk, waits (without blocking the loop)
    until it has cleaned up — no temporary file, multipart upload aborted, an
    existing destination file unchanged — and then raises
    ``CancelledError``. (A request still waiting for the server's first
    byte, or a call with no chunks such as ``stat``, finishes that request
    first, within the configured timeouts.) Progress callbacks are called
    from worker threads, as in the sync API; use
    ``loop.call_soon_threadsafe`` to reach the loop. The manager is bound to
    no event loop: any loop (or several, in turn) may use it.

    It pickles as :class:`CDNManager` does (credentials, both secrets
    included, and config; the unpickled one builds and owns its own
    :class:`CDNManager`).
    """

    def __init__(
        self, credentials: CDNCredentials | CDNManager, config: TransferConfig | None = None
    ) -> None:
        if isinstance(credentials, CDNManager):
            if config is not None:
                raise TypeError("config belongs to the wrapped CDNManager")
            self.sync = credentials
            self._owns_sync = False
        else:
            self.sync = CDNManager(credentials, config)
            self._owns_sync = True
        # The operations layer both faces share (same package, same code path).
        self._ops = self.sync._ops
        limit = self.sync.config.max_in_flight
        self._offloader = Offloader(workers.executor(limit, "cdn-manager-async"), limit)

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    def __reduce__(
        self,
    ) -> tuple[type[AsyncCDNManager], tuple[CDNCredentials, TransferConfig]]:
        return (type(self), (self.creds, self.config))

    @property
    def creds(self) -> CDNCredentials:
        return self.sync.creds

    @property
    def config(self) -> TransferConfig:
        return self.sync.config

    @property
    def data_plane(self) -> PlaneChoice:
        """As :attr:`CDNManager.data_plane`."""
        return self.sync.data_plane

    @property
    def download_client(self) -> Any:
        """The boto3 client of the read key (blocking: not for the loop)."""
        return self.sync.download_client

    @property
    def upload_client(self) -> Any:
        """The boto3 client of the write key (blocking: not for the loop)."""
        return self.sync.upload_client

    async def aclose(self) -> None:
        """Waits for calls in flight, stops the worker threads, and closes the
        wrapped manager if this one built it. Later calls raise RuntimeError."""
        await asyncio.to_thread(self._offloader.shutdown)
        if self._owns_sync:
            await asyncio.to_thread(self.sync.close)

    async def __aenter__(self) -> AsyncCDNManager:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _transfer(
        self,
        operation: Callable[..., T],
        *args: Any,
        progress: Progress | None = None,
        **kwargs: Any,
    ) -> Coroutine[Any, Any, T]:
        """Runs ``operation(control, *args, **kwargs)`` on a worker. If the
        awaiting task is cancelled: cancels ``control`` (the transfer stops
        at its next chunk and cleans up), waits for the worker to finish,
        re-raises. (A plain function returning the coroutine: one frame
        less per call for the loop to run.)"""
        control = self._ops.kit.control(progress)
        return self._offloader.run(
            partial(operation, control, *args, **kwargs),
            control.cancel,
            _attach_completed,
        )

    def _call(self, operation: Callable[..., T], *args: Any) -> Coroutine[Any, Any, T]:
        """Runs an operation that moves no object bytes on a worker."""
        return self._transfer(lambda _control: operation(*args))

    # The seed's bool API: False and one log line on failure, never an error
    # (task cancellation still propagates).

    async def upload(self, bucket: str, filename: str, file_bytes: bytes) -> bool:
        """As :meth:`CDNManager.upload`."""
        return await self._transfer(self._ops.upload_as_bool, bucket, filename, file_bytes)

    async def download(self, folder: str, filename: str) -> bool:
        """As :meth:`CDNManager.download`."""
        return await self._transfer(self._ops.download_as_bool, folder, filename)

    # Uploads (the write key).

    async def put_bytes(
        self, bucket: str, key: str, data: Payload, **options: Unpack[UploadOptions]
    ) -> None:
        """As :meth:`CDNManager.put_bytes`."""
        await self._transfer(self._ops.put_bytes, bucket, key, data, **options)

    async def upload_file(
        self, bucket: str, key: str, path: str | os.PathLike[str], **options: Unpack[UploadOptions]
    ) -> TransferResult:
        """As :meth:`CDNManager.upload_file`."""
        return await self._transfer(self._ops.upload_file, bucket, key, path, **options)

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """As :meth:`CDNManager.abort_upload`."""
        await self._call(self._ops.abort_upload, bucket, key, upload_id)

    async def delete(self, bucket: str, key: str) -> None:
        """As :meth:`CDNManager.delete`."""
        await self._call(self._ops.delete, bucket, key)

    # Downloads (the read key).

    async def get_file(
        self,
        bucket: str,
        key: str,
        folder: str | os.PathLike[str] | None = None,
        **options: Unpack[ProgressOption],
    ) -> Path:
        """As :meth:`CDNManager.get_file`."""
        return await self._transfer(self._ops.get_file, bucket, key, folder, **options)

    async def download_file(
        self, bucket: str, key: str, path: str | os.PathLike[str], **options: Unpack[ProgressOption]
    ) -> Path:
        """As :meth:`CDNManager.download_file`."""
        return await self._transfer(self._ops.download_file, bucket, key, path, **options)

    async def download_bytes(
        self, bucket: str, key: str, **options: Unpack[ProgressOption]
    ) -> bytes:
        """As :meth:`CDNManager.download_bytes`."""
        return await self._transfer(self._ops.download_bytes, bucket, key, **options)

    async def stat(self, bucket: str, key: str) -> ObjectInfo:
        """As :meth:`CDNManager.stat`."""
        return await self._call(self._ops.stat, bucket, key)

    async def exists(self, bucket: str, key: str) -> bool:
        """As :meth:`CDNManager.exists`."""
        return await self._call(self._ops.exists, bucket, key)

    async def list(self, bucket: str, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """As :meth:`CDNManager.list`, for ``async for``: pages are fetched on
        a worker as the iteration reaches them."""
        entries = self._ops.list(bucket, prefix)
        take = partial(itertools.islice, entries, LIST_BATCH)
        while True:
            batch = await self._call(lambda: builtins.list(take()))
            for info in batch:
                yield info
            if len(batch) < LIST_BATCH:
                return

    async def presign_download_url(self, bucket: str, key: str, expires: int = 3600) -> str:
        """As :meth:`CDNManager.presign_download_url` (signing costs about as
        much as a small request, so it runs on a worker too)."""
        return await self._call(self._ops.presign_download_url, bucket, key, expires)

    # Batches: one call holds one slot of ``max_in_flight`` and runs its items
    # ``max_in_flight`` at a time, exactly as the sync batch does.
    # Cancelling the task stops every item and waits for them all, then
    # raises ``CancelledError`` (not ``Interrupted``: asyncio, ``TaskGroup``
    # and ``asyncio.timeout`` rely on a cancelled task ending in it, and
    # ``asyncio.run`` turns a Ctrl-C into that cancellation); in the
    # cancelled task, its ``completed`` attribute lists the items that
    # finished first, as ``Interrupted.completed`` does.

    async def upload_many(
        self,
        bucket: str,
        items: Iterable[tuple[str, ItemData]],
        **options: Unpack[BatchUploadOptions],
    ) -> builtins.list[TransferResult]:
        """As :meth:`CDNManager.upload_many`."""
        return await self._transfer(self._ops.upload_many, bucket, items, **options)

    async def download_many(
        self,
        bucket: str,
        keys: Iterable[str | tuple[str, str]],
        folder: str | os.PathLike[str] | None = None,
        **options: Unpack[BatchDownloadOptions],
    ) -> builtins.list[TransferResult]:
        """As :meth:`CDNManager.download_many`."""
        return await self._transfer(self._ops.download_many, bucket, keys, folder, **options)

    # The least-privilege audit.

    async def check(self, bucket: str) -> AuditReport:
        """As :meth:`CDNManager.check`."""
        return await self._call(self._ops.check, bucket)

    # Deploys.

    async def plan_deploy(
        self,
        folder: str | os.PathLike[str],
        bucket: str,
        prefix: str = "",
        **options: Unpack[PlanOptions],
    ) -> SyncPlan:
        """As :meth:`CDNManager.plan_deploy`."""
        return await self._call(partial(self._ops.plan_deploy, folder, bucket, prefix, **options))

    async def deploy(self, plan: SyncPlan, **options: Unpack[DeployRunOptions]) -> SyncReport:
        """As :meth:`CDNManager.deploy`; cancelling the task stops every
        transfer in flight and starts nothing more (no deletes)."""
        return await self._transfer(self._ops.deploy, plan, **options)

    async def releases(self, bucket: str, prefix: str = "") -> builtins.list[Release]:
        """As :meth:`CDNManager.releases`."""
        return await self._call(self._ops.releases, bucket, prefix)

    async def plan_rollback(
        self,
        bucket: str,
        prefix: str = "",
        to: int | None = None,
        **options: Unpack[RollbackOptions],
    ) -> SyncPlan:
        """As :meth:`CDNManager.plan_rollback`."""
        return await self._call(partial(self._ops.plan_rollback, bucket, prefix, to, **options))

    async def rollback(
        self,
        bucket: str,
        prefix: str = "",
        to: int | None = None,
        **options: Unpack[RollbackRunOptions],
    ) -> SyncReport:
        """As :meth:`CDNManager.rollback`; cancelling the task stops every
        transfer in flight and starts nothing more."""
        return await self._transfer(self._ops.rollback, bucket, prefix, to, **options)

    async def plan_prune(
        self, bucket: str, prefix: str = "", **options: Unpack[PruneOptions]
    ) -> SyncPlan:
        """As :meth:`CDNManager.plan_prune`."""
        return await self._call(partial(self._ops.plan_prune, bucket, prefix, **options))

    async def prune(
        self, bucket: str, prefix: str = "", **options: Unpack[PruneRunOptions]
    ) -> SyncReport:
        """As :meth:`CDNManager.prune`."""
        return await self._transfer(self._ops.prune, bucket, prefix, **options)

    async def plan_pull(
        self,
        bucket: str,
        prefix: str,
        folder: str | os.PathLike[str],
        **options: Unpack[ScopeOptions],
    ) -> SyncPlan:
        """As :meth:`CDNManager.plan_pull`."""
        return await self._call(partial(self._ops.plan_pull, bucket, prefix, folder, **options))

    async def pull(self, plan: SyncPlan, **options: Unpack[PullRunOptions]) -> SyncReport:
        """As :meth:`CDNManager.pull`; cancelling the task stops every
        download in flight and starts nothing more (no deletes)."""
        return await self._transfer(self._ops.pull, plan, **options)

    async def verify_receipt(
        self, receipt: str | os.PathLike[str], *, bucket: bool = True, local: bool = True
    ) -> builtins.list[str]:
        """As :meth:`CDNManager.verify_receipt`."""
        return await self._call(self._ops.verify_receipt, receipt, bucket, local)


def _attach_completed(cancelled: asyncio.CancelledError, stopped: BaseException) -> None:
    """Gives a cancelled batch's ``CancelledError`` the items that completed
    before it stopped, as :class:`~cdn_manager.errors.Interrupted` carries
    them on the sync face."""
    if isinstance(stopped, Cancelled):
        cancelled.completed = stopped.completed  # type: ignore[attr-defined]
