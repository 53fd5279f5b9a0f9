"""Push a local folder to a bucket prefix and pull it back, moving only what
changed.

A file and an object are the same when their sizes match and the object's
stored full-object CRC (:attr:`ObjectInfo.checksum`, kept natively by the
store or as this library's upload metadata) equals the file's CRC, computed
by the Rust core. An object with no stored full-object CRC (uploaded by
another tool as multipart, or without checksums) cannot be compared, so it
is always transferred: nothing is skipped that is not proven identical.

``folder/relative`` maps to ``prefix + relative`` both ways, so a push then a
pull of the same prefix round-trips the tree. Planning reads (one listing,
and a HEAD per object whose size matches a local file) and changes nothing
on either side, which is what a dry run shows.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from . import _core
from .errors import LocalIOError, UnsafePath
from .manager import CDNManager, Progress
from .objects import TransferResult

T = TypeVar("T")

#: Why a file is transferred.
NEW = "new"
SIZE_DIFFERS = "size differs"
CHECKSUM_DIFFERS = "checksum differs"
NO_STORED_CHECKSUM = "no stored checksum"


def file_checksum(path: str | os.PathLike[str], algorithm: str = "crc32") -> int:
    """The CRC (``"crc32"`` or ``"crc32c"``) of the whole local file,
    comparable with ``ObjectInfo.checksum``. Raises ``OSError``."""
    size = os.stat(path).st_size
    if size == 0:
        return _core.checksum(b"", algorithm)
    (crc,) = _core.file_part_checksums(path, size, size, algorithm)
    return crc


def folder_prefix(prefix: str) -> str:
    """The key prefix of a folder: ``"site"`` and ``"site/"`` both mean
    ``"site/"``; ``""`` is the whole bucket."""
    return prefix.rstrip("/") + "/" if prefix.strip("/") else ""


@dataclass(frozen=True)
class Change:
    """A file to transfer between ``path`` and ``bucket/key``, and why."""

    key: str
    path: Path
    size: int
    why: str


@dataclass(frozen=True)
class Left:
    """Something left out of a sync: a key or a local path, and why."""

    name: str
    why: str


@dataclass
class SyncPlan:
    """What a push or a pull would do."""

    bucket: str
    prefix: str
    folder: Path
    changes: list[Change] = field(default_factory=list)
    #: Keys whose object and file are identical.
    unchanged: list[str] = field(default_factory=list)
    #: Left out on purpose (symbolic links, folder markers): not a failure.
    skipped: list[Left] = field(default_factory=list)
    #: Wanted but impossible to transfer safely (unsafe keys, file names
    #: that are no valid key): a failure.
    refused: list[Left] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Bytes the changes move."""
        return sum(change.size for change in self.changes)


def _regular_size(path: Path) -> int | None:
    """The size of ``path`` if it is a regular file (not followed if a
    symbolic link), else None."""
    try:
        status = path.lstat()
    except FileNotFoundError:
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _difference(
    manager: CDNManager, bucket: str, key: str, path: Path, local: int | None, remote: int
) -> str | None:
    """Why the file and the object differ, or None if they are identical."""
    if local is None:
        return NEW
    if local != remote:
        return SIZE_DIFFERS
    stored = manager.stat(bucket, key).checksum
    if stored is None:
        return NO_STORED_CHECKSUM
    algorithm, crc = stored
    try:
        same = file_checksum(path, algorithm) == crc
    except OSError as err:
        raise LocalIOError(f"checksum {path}: {err.strerror}", reason=type(err).__name__) from None
    return None if same else CHECKSUM_DIFFERS


def _compare_all(
    manager: CDNManager,
    plan: SyncPlan,
    candidates: list[tuple[str, Path, int | None, int]],
    size_of_change: Callable[[int | None, int], int],
) -> None:
    """Sorts ``(key, path, local size, remote size)`` candidates into the
    plan's changes and unchanged keys, concurrently (a HEAD and a local CRC
    each at most)."""

    def compare(candidate: tuple[str, Path, int | None, int]) -> str | None:
        key, path, local, remote = candidate
        return _difference(manager, plan.bucket, key, path, local, remote)

    whys = _run_all(manager, [partial(compare, candidate) for candidate in candidates])
    for (key, path, local, remote), why in zip(candidates, whys, strict=True):
        if why is None:
            plan.unchanged.append(key)
        else:
            plan.changes.append(Change(key, path, size_of_change(local, remote), why))


def _run_all(manager: CDNManager, jobs: list[Callable[[], T]]) -> list[T]:
    """Runs ``jobs`` ``config.concurrency`` at a time; returns their results
    in order. On the first failure or an interrupt, jobs not started are
    dropped, and running ones end before this raises."""
    with ThreadPoolExecutor(manager.config.concurrency, "cdn-manager-sync") as pool:
        futures = [pool.submit(job) for job in jobs]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _walk(folder: Path, plan: SyncPlan) -> Iterator[tuple[str, Path, int]]:
    """``(relative name, path, size)`` of every regular file below
    ``folder``, in name order; symbolic links and special files are
    skipped, names that are not valid UTF-8 refused."""

    def fail(err: OSError) -> None:
        raise LocalIOError(f"read folder {err.filename}: {err.strerror}", reason="ReadFolder")

    for dirpath, dirnames, filenames in os.walk(folder, onerror=fail):
        here = Path(dirpath)
        for name in list(dirnames):
            if (here / name).is_symlink():
                dirnames.remove(name)
                plan.skipped.append(Left(str(here / name), "symbolic link"))
        dirnames.sort()
        for name in sorted(filenames):
            path = here / name
            relative = path.relative_to(folder).as_posix()
            size = _regular_size(path)
            if size is None:
                why = "symbolic link" if path.is_symlink() else "not a regular file"
                plan.skipped.append(Left(str(path), why))
                continue
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                plan.refused.append(Left(str(path), "file name is not valid UTF-8"))
                continue
            yield relative, path, size


def plan_push(
    manager: CDNManager, folder: str | os.PathLike[str], bucket: str, prefix: str = ""
) -> SyncPlan:
    """What :func:`push` would upload: every regular file below ``folder``
    whose object ``prefix/relative/path`` is missing or differs. Symbolic
    links are skipped (a push never reads outside ``folder``)."""
    root = Path(folder)
    if not root.is_dir():
        raise LocalIOError(f"{root}: not a folder", reason="NotAFolder")
    plan = SyncPlan(bucket, folder_prefix(prefix), root)
    local = list(_walk(root, plan))
    remote = {info.key: info.size for info in manager.list(bucket, plan.prefix)}
    candidates: list[tuple[str, Path, int | None, int]] = []
    for relative, path, size in local:
        key = plan.prefix + relative
        if key in remote:
            candidates.append((key, path, size, remote[key]))
        else:
            plan.changes.append(Change(key, path, size, NEW))
    _compare_all(manager, plan, candidates, lambda local_size, _: local_size or 0)
    plan.changes.sort(key=lambda change: change.key)
    return plan


class _KeyJudge:
    """Asks the Rust core whether a key may become ``folder/relative``,
    without creating anything: against the real folder when every folder
    on the way exists (then symbolic links are checked too), else against
    an empty scratch folder (the key's form only; the real check runs
    again just before each download)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> _KeyJudge:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()

    def local_path(self, relative: str) -> Path:
        """``folder/relative``; raises :class:`UnsafePath` or ``OSError``."""
        path = self._folder.joinpath(*relative.split("/"))
        if path.parent.is_dir():
            return _core.prepare_destination(self._folder, relative)
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="cdn-manager-keys-")
        _core.prepare_destination(self._scratch.name, relative)
        return path


def plan_pull(
    manager: CDNManager, bucket: str, prefix: str, folder: str | os.PathLike[str]
) -> SyncPlan:
    """What :func:`pull` would download: every object below ``prefix``
    whose file ``folder/relative/path`` is missing or differs. Keys that
    cannot be stored strictly inside ``folder`` are refused; zero-byte
    folder markers (keys ending in ``/``) are skipped."""
    root = Path(folder)
    plan = SyncPlan(bucket, folder_prefix(prefix), root)
    candidates = []
    with _KeyJudge(root) as judge:
        for info in manager.list(bucket, plan.prefix):
            relative = info.key[len(plan.prefix) :]
            if info.key.endswith("/") and info.size == 0:
                plan.skipped.append(Left(info.key, "folder marker"))
                continue
            try:
                path = judge.local_path(relative)
            except UnsafePath as err:
                plan.refused.append(Left(info.key, str(err)))
                continue
            except OSError as err:
                plan.refused.append(Left(info.key, str(err.strerror or err)))
                continue
            candidates.append((info.key, path, _regular_size(path), info.size))
    _compare_all(manager, plan, candidates, lambda _, remote_size: remote_size)
    plan.changes.sort(key=lambda change: change.key)
    return plan


def push(
    manager: CDNManager,
    plan: SyncPlan,
    *,
    cache_control: str | None = None,
    progress: Progress | None = None,
) -> list[TransferResult]:
    """Uploads the plan's changes concurrently (:meth:`CDNManager.upload_many`);
    one result per change, in order."""
    items = [(change.key, change.path) for change in plan.changes]
    return manager.upload_many(plan.bucket, items, cache_control=cache_control, progress=progress)


def pull(
    manager: CDNManager, plan: SyncPlan, *, progress: Progress | None = None
) -> list[TransferResult]:
    """Downloads the plan's changes concurrently
    (:meth:`CDNManager.download_many`), each verified and committed
    atomically; one result per change, in order. An interrupt (Ctrl-C)
    stops every running download: each removes its temporary file, and files
    already committed are complete."""
    items = [(change.key, change.key[len(plan.prefix) :]) for change in plan.changes]
    return manager.download_many(plan.bucket, items, plan.folder, progress=progress)
