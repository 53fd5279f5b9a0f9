"""Carrying out a pull plan: the downloads, concurrently, each verified and
committed atomically (``prefix + relative`` lands at ``folder/relative``);
then, only if every download succeeded and nothing was refused, the local
deletes (never following a symbolic link, never outside the folder); then
the receipt.

An interrupt (Ctrl-C) stops every running download (each removes its
temporary file or keeps what a resumable download keeps) and propagates as
:class:`~cdn_manager.errors.Interrupted` with what completed; no delete
begins. What planning proved of each object is remembered either way.
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

from .. import _core
from .._escape import shown
from .._results import TransferResult
from .._transfers.parts import run_each
from ..errors import Cancelled, CDNError, Interrupted, LocalIOError, TooManyDeletes
from .outcome import SyncReport
from .plan import Action, SyncPlan
from .receipt import write_receipt
from .store import Store


def file_checksum(path: str | os.PathLike[str], algorithm: str = "crc32") -> int:
    """The CRC (``"crc32"``, ``"crc32c"`` or ``"crc64nvme"``) of the whole
    local file, comparable with ``ObjectInfo.checksum``. Raises ``OSError``."""
    (crc,), _, _, _ = _core.file_digests(path, [algorithm])
    return crc


def check_writable(folder: Path) -> None:
    """Creates ``folder`` if needed and proves a file can be created in it;
    raises :class:`LocalIOError` (one error for the whole pull, rather than
    one per file)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        from tempfile import TemporaryFile  # when pulling only: it costs start-up

        with TemporaryFile(dir=folder, prefix=".cdn-manager-probe-"):
            pass
    except OSError as err:
        raise LocalIOError(
            f"cannot write to {shown(str(folder))}: {err.strerror or err}",
            reason=type(err).__name__,
        ) from None


def run_pull(
    store: Store,
    control: _core.Control,
    plan: SyncPlan,
    receipt: str | os.PathLike[str] | None = None,
) -> SyncReport:
    """See :meth:`CDNManager.pull`."""
    started = time.monotonic()
    if plan.delete and plan.too_many_deletes:
        raise TooManyDeletes(
            f"pull into {shown(str(plan.folder))} would delete {len(plan.deletes)} files, "
            f"more than max_delete={plan.max_delete}; nothing was changed"
        )
    report = SyncReport(plan)
    downloads = plan.downloads
    if downloads:
        check_writable(plan.folder)

    def download(action: Action) -> TransferResult:
        relative = action.key[len(plan.prefix) :]
        try:
            result = store.fetch_file(
                control, plan.bucket, action.key, plan.folder, relative, action.size
            )
        except CDNError as err:
            report.fail(action, err)
            return TransferResult(action.key, error=err)
        if result.resumed_bytes:
            report.resumed[action.key] = result.resumed_bytes
        if result.verified is not None:
            with report._lock:
                report.verified[action.key] = result.verified
        report.record(action)
        return result

    try:
        run_each([partial(download, a) for a in downloads], store.config.max_in_flight, control)
    except (Interrupted, Cancelled) as stopped:
        stopped.completed = [TransferResult(a.key, path=a.path) for a in report.done]
        raise
    finally:
        _save(plan)
    if plan.delete:
        if report.failed or plan.refused:
            report.held_back = plan.deletes
        else:
            for action in plan.deletes:
                try:
                    _unlink_inside(plan.folder, action.key[len(plan.prefix) :])
                except OSError as err:
                    error = LocalIOError(
                        f"delete {shown(str(action.path))}: {err.strerror or err}",
                        reason=type(err).__name__,
                    )
                    report.fail(action, error)
                else:
                    report.record(action)
    if receipt is not None:
        report.receipt = write_receipt(receipt, store, report)
    report.seconds = time.monotonic() - started
    return report


def _save(plan: SyncPlan) -> None:
    """Remembers local checksums and what planning proved of each object
    for the next run."""
    if plan.cache is not None:
        plan.cache.save()
    if plan.memory is not None:
        plan.memory.save(plan.listed)


def _unlink_inside(folder: Path, relative: str) -> None:
    """Deletes ``folder/relative``, each folder on the way opened without
    following a symbolic link, so nothing outside ``folder`` is reached."""
    *folders, name = relative.split("/")
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in folders:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)
