"""Pull a bucket prefix into a local folder, moving only what changed (the
other direction, push, is a deploy: :mod:`cdn_manager.deploy`).

A file and an object are the same when their sizes match and the object's
stored full-object CRC (:attr:`ObjectInfo.checksum`, kept natively by the
store or as this library's upload metadata) equals the file's CRC, computed
by the Rust core. An object with no stored full-object CRC (uploaded by
another tool as multipart, or without checksums) cannot be compared, so it
is always transferred: nothing is skipped that is not proven identical.

``prefix + relative`` maps to ``folder/relative``. Filters (``--include`` /
``--exclude``) select keys by their path below the prefix, as a push
selects files. With ``delete``, local files below the folder that no
selected object maps to are deleted after every download succeeded (never
following a symbolic link, never outside the folder), at most
``max_delete`` of them. Planning reads (one listing, and a HEAD per object
whose size matches a local file) and changes nothing on either side, which
is what a dry run shows.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from . import _core
from .deploy.cache import ChecksumCache, usable_folder
from .deploy.filters import Filters
from .deploy.local import Left, identity_of, walk
from .deploy.plan import MAX_DELETE, TooManyDeletes
from .deploy.receipt import Entry, Receipt
from .errors import LocalIOError, UnsafePath
from .escape import shown
from .manager import CDNManager, Progress
from .objects import TransferResult
from .shard import Shard, in_shard
from .transfer import run_each

T = TypeVar("T")

#: Why a file is transferred.
NEW = "new"
SIZE_DIFFERS = "size differs"
CHECKSUM_DIFFERS = "checksum differs"
NO_STORED_CHECKSUM = "no stored checksum"


def file_checksum(path: str | os.PathLike[str], algorithm: str = "crc32") -> int:
    """The CRC (``"crc32"``, ``"crc32c"`` or ``"crc64nvme"``) of the whole
    local file, comparable with ``ObjectInfo.checksum``. Raises ``OSError``."""
    (crc,), _, _, _ = _core.file_digests(path, [algorithm])
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


@dataclass
class SyncPlan:
    """What a pull would do."""

    bucket: str
    prefix: str
    folder: Path
    changes: list[Change] = field(default_factory=list)
    #: Keys whose object and file are identical.
    unchanged: list[str] = field(default_factory=list)
    #: Left out on purpose (folder markers): not a failure.
    skipped: list[Left] = field(default_factory=list)
    #: Wanted but impossible to transfer safely (unsafe keys): a failure.
    refused: list[Left] = field(default_factory=list)
    #: Local files no selected object maps to (``delete=True``), relative
    #: to the folder.
    deletes: list[str] = field(default_factory=list)
    max_delete: int = MAX_DELETE
    #: The ETag of every selected object at planning.
    etags: dict[str, str] = field(default_factory=dict)
    #: Whether the prefix held any object at all.
    listed: int = 0
    #: The shard this plan covers (None: the whole prefix).
    shard: Shard | None = None

    @property
    def size(self) -> int:
        """Bytes the changes move."""
        return sum(change.size for change in self.changes)


def _regular_size(path: Path) -> int | None:
    """The size of ``path`` if it is a regular file (not followed if a
    symbolic link), else None."""
    try:
        status = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
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
        raise LocalIOError(
            f"checksum {shown(str(path))}: {err.strerror}", reason=type(err).__name__
        ) from None
    return None if same else CHECKSUM_DIFFERS


def _compare_all(
    manager: CDNManager, plan: SyncPlan, candidates: list[tuple[str, Path, int | None, int]]
) -> None:
    """Sorts ``(key, path, local size, remote size)`` candidates into the
    plan's changes and unchanged keys, concurrently (a HEAD and a local CRC
    each at most)."""

    def compare(candidate: tuple[str, Path, int | None, int]) -> str | None:
        key, path, local, remote = candidate
        return _difference(manager, plan.bucket, key, path, local, remote)

    jobs = [partial(compare, candidate) for candidate in candidates]
    whys = run_each(jobs, manager.config.max_in_flight, _core.Control())
    for (key, path, _, remote), why in zip(candidates, whys, strict=True):
        if why is None:
            plan.unchanged.append(key)
        else:
            plan.changes.append(Change(key, path, remote, why))


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
            return _core.Destination(self._folder, relative).path
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="cdn-manager-keys-")
        _core.Destination(self._scratch.name, relative)
        return path


def plan_pull(
    manager: CDNManager,
    bucket: str,
    prefix: str,
    folder: str | os.PathLike[str],
    *,
    filters: Sequence[tuple[str, str]] = (),
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    delete: bool = False,
    max_delete: int = MAX_DELETE,
    shard: Shard | tuple[int, int] | None = None,
) -> SyncPlan:
    """What :func:`pull` would download: every selected object below
    ``prefix`` whose file ``folder/relative/path`` is missing or differs
    (and, with ``delete``, which local files it would delete). Keys that
    cannot be stored strictly inside ``folder`` are refused; zero-byte
    folder markers (keys ending in ``/``) are skipped. ``shard=(K, N)``
    (1 ≤ K ≤ N) keeps only that shard's objects and local files
    (:mod:`cdn_manager.shard`): a delete never touches another shard's file."""
    root = Path(folder)
    _check_folder_path(root)
    selected = Filters.of(filters, include, exclude)
    owned = Shard.of(shard)
    plan = SyncPlan(bucket, folder_prefix(prefix), root, max_delete=max_delete, shard=owned)
    candidates = []
    wanted: set[str] = set()
    with _KeyJudge(root) as judge:
        for info in manager.list(bucket, plan.prefix):
            plan.listed += 1
            relative = info.key[len(plan.prefix) :]
            if info.key.endswith("/") and info.size == 0:
                plan.skipped.append(Left(info.key, "folder marker"))
                continue
            if not selected.included(relative) or not in_shard(owned, relative):
                continue
            wanted.add(relative)
            try:
                path = judge.local_path(relative)
            except UnsafePath as err:
                plan.refused.append(Left(info.key, str(err)))
                continue
            except OSError as err:
                plan.refused.append(Left(info.key, str(err.strerror or err)))
                continue
            plan.etags[info.key] = info.etag
            candidates.append((info.key, path, _regular_size(path), info.size))
    _compare_all(manager, plan, candidates)
    plan.changes.sort(key=lambda change: change.key)
    if delete and root.is_dir():
        for file in walk(root, [], []):
            relative = file.relative
            if relative not in wanted and selected.included(relative) and in_shard(owned, relative):
                plan.deletes.append(relative)
    return plan


def _check_folder_path(folder: Path) -> None:
    """Raises :class:`LocalIOError` if ``folder``, or the nearest part of
    its path that exists, is not a folder: nothing could be pulled there."""
    for existing in (folder, *folder.parents):
        if existing.exists() or existing.is_symlink():
            if not existing.is_dir():
                raise LocalIOError(
                    f"cannot write to {shown(str(folder))}: {shown(str(existing))} is not a folder",
                    reason="NotADirectoryError",
                )
            return


def check_writable(folder: Path) -> None:
    """Creates ``folder`` if needed and proves a file can be created in it;
    raises :class:`LocalIOError` (one error for the whole pull, rather than
    one per file)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".cdn-manager-probe-"):
            pass
    except OSError as err:
        raise LocalIOError(
            f"cannot write to {shown(str(folder))}: {err.strerror or err}",
            reason=type(err).__name__,
        ) from None


def pull(
    manager: CDNManager, plan: SyncPlan, *, progress: Progress | None = None
) -> list[TransferResult]:
    """Downloads the plan's changes concurrently
    (:meth:`CDNManager.download_many`), each verified and committed
    atomically; one result per change, in order. An interrupt (Ctrl-C)
    stops every running download: each removes its temporary file, and files
    already committed are complete. Raises :class:`TooManyDeletes` before
    downloading anything if the plan deletes more than its ``max_delete``,
    and :class:`LocalIOError` if the folder cannot be written."""
    if len(plan.deletes) > plan.max_delete:
        raise TooManyDeletes(
            f"pull into {shown(str(plan.folder))} would delete {len(plan.deletes)} files, "
            f"more than max_delete={plan.max_delete}; nothing was changed"
        )
    if plan.changes:
        check_writable(plan.folder)
    items = [(change.key, change.key[len(plan.prefix) :]) for change in plan.changes]
    sizes = {change.key: change.size for change in plan.changes}
    return manager.download_many(plan.bucket, items, plan.folder, progress=progress, sizes=sizes)


def delete_local(plan: SyncPlan) -> list[tuple[str, LocalIOError | None]]:
    """Deletes the plan's local deletes; ``(relative path, error or None)``
    each. Each folder on the way is opened without following symbolic
    links, so nothing outside the folder can be reached."""
    outcomes: list[tuple[str, LocalIOError | None]] = []
    for relative in plan.deletes:
        try:
            _unlink_inside(plan.folder, relative)
        except OSError as err:
            error = LocalIOError(
                f"delete {shown(str(plan.folder / relative))}: {err.strerror or err}",
                reason=type(err).__name__,
            )
            outcomes.append((relative, error))
        else:
            outcomes.append((relative, None))
    return outcomes


def _unlink_inside(folder: Path, relative: str) -> None:
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


def write_pull_receipt(
    manager: CDNManager,
    plan: SyncPlan,
    results: list[TransferResult],
    path: str | os.PathLike[str],
) -> Path:
    """The receipt of a pull: every selected object now on disk, with the
    checksum of its file (read again, or from the checksum cache)."""
    algorithm = manager.config.checksum_algorithm
    done = [c.key for c, r in zip(plan.changes, results, strict=True) if r.ok]
    cache = ChecksumCache(usable_folder(plan.folder), plan.folder, plan.shard)
    receipt = Receipt("pull", manager.creds.host, plan.bucket, plan.prefix, str(plan.folder))
    for key in sorted([*done, *plan.unchanged]):
        local = plan.folder.joinpath(*key[len(plan.prefix) :].split("/"))
        identity = identity_of(local.lstat())
        crc = cache.digests(local, identity, [algorithm])[algorithm]
        assert isinstance(crc, int)
        # Some servers (s3s-fs) list no ETags: ask the object itself.
        etag = plan.etags[key] or manager.stat(plan.bucket, key).etag
        receipt.entries.append(Entry(key, identity[2], algorithm, crc, etag, str(local)))
    cache.save()
    return receipt.write(path)
