"""Planning a deploy: what to upload, whose headers to update in place and
what to delete, from one listing, a HEAD only where nothing proves the
object, and local checksums from the cache. Planning changes nothing on
either side; a dry run shows the plan.

A file and its object are the same when the checksum of the file equals
the checksum of the object's uncompressed content (:mod:`.remote`), which
the size rules out cheaply when the object is stored as is. The same
content with other headers is a header update (a server-side copy, no
upload); another content encoding is a new upload.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, TypeVar, Unpack

from .. import _core
from ..errors import CDNError, InvalidRequest, LocalIOError
from ..escape import shown
from ..names import check_key
from ..objects import ObjectInfo
from ..shard import Shard, in_shard
from ..transfer import run_each
from .cache import ChecksumCache, ObjectMemory, Proven, Value, usable_folder
from .filters import Filters
from .local import Left, LocalFile, walk
from .remote import proven
from .rules import Headers, Rules

if TYPE_CHECKING:
    from ..operations import Operations

T = TypeVar("T")

#: Why a file is uploaded.
NEW = "new"
SIZE_DIFFERS = "size differs"
CHECKSUM_DIFFERS = "checksum differs"
NO_STORED_CHECKSUM = "no stored checksum"
ENCODING_DIFFERS = "content encoding differs"
#: Default of ``max_delete``.
MAX_DELETE = 1000


class TooManyDeletes(CDNError):
    """A deploy would delete more objects than its ``max_delete`` allows;
    nothing was changed."""

    reason = "TooManyDeletes"


@dataclass(frozen=True)
class Upload:
    """A file to upload, and why."""

    key: str
    file: LocalFile
    headers: Headers
    entry: bool
    why: str
    #: The ETag the object had at planning (the upload is conditional on
    #: it), or None for a new key (conditional on there being none).
    etag: str | None
    #: ``(algorithm, crc)`` of the file's content, in the upload algorithm.
    checksum: tuple[str, int]

    @property
    def size(self) -> int:
        return self.file.size


@dataclass(frozen=True)
class HeaderUpdate:
    """An object whose content is the file's but whose headers are not the
    rules': they are replaced in place (a server-side copy)."""

    key: str
    file: LocalFile
    headers: Headers
    entry: bool
    #: The ETag the object had at planning (the copy is conditional on it).
    etag: str
    checksum: tuple[str, int]
    #: What the object has now.
    proven: Proven

    @property
    def why(self) -> str:
        return "headers differ: " + ", ".join(self.headers.differences(self.proven.headers))


@dataclass(frozen=True)
class Delete:
    """An object under the prefix with no file (``delete=True``)."""

    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class Unchanged:
    """A file whose object already holds its content and headers."""

    key: str
    file: LocalFile
    headers: Headers
    etag: str
    checksum: tuple[str, int]


@dataclass
class PlanStats:
    """What planning cost: a re-push of an unchanged tree should read no
    file (``files_read`` 0) and send no HEAD (``heads`` 0)."""

    files: int = 0
    filtered_out: int = 0
    #: Files left to the other shards (``shard=``).
    other_shards: int = 0
    cache_hits: int = 0
    files_read: int = 0
    bytes_read: int = 0
    heads: int = 0
    #: Objects proven by the ETag they had when last proven (no HEAD).
    remembered: int = 0


@dataclass
class DeployPlan:
    """What :meth:`CDNManager.deploy` would do; ``str(plan)`` shows it."""

    bucket: str
    prefix: str
    folder: Path
    rules: Rules
    algorithm: str
    delete: bool
    max_delete: int
    uploads: list[Upload] = field(default_factory=list)
    updates: list[HeaderUpdate] = field(default_factory=list)
    deletes: list[Delete] = field(default_factory=list)
    unchanged: list[Unchanged] = field(default_factory=list)
    #: Left out on purpose (symbolic links, special files): not a failure.
    skipped: list[Left] = field(default_factory=list)
    #: Wanted but impossible (names no key can hold, files changing): a failure.
    refused: list[Left] = field(default_factory=list)
    stats: PlanStats = field(default_factory=PlanStats)
    cache: ChecksumCache | None = field(default=None, repr=False)
    memory: ObjectMemory | None = field(default=None, repr=False)
    #: Every key listed under the prefix at planning.
    listed: list[str] = field(default_factory=list, repr=False)
    #: The shard this plan covers (None: the whole tree).
    shard: Shard | None = None

    @property
    def size(self) -> int:
        """Bytes of the files to upload (before any compression)."""
        return sum(upload.size for upload in self.uploads)

    @property
    def too_many_deletes(self) -> bool:
        return len(self.deletes) > self.max_delete

    def lines(self) -> list[str]:
        """The plan, one line per change, in the order a deploy makes them."""
        lines = []
        for entry in (False, True):
            for upload in self.uploads:
                if upload.entry == entry:
                    lines.append(
                        f"upload {shown(upload.key)} <- {shown(str(upload.file.path))} "
                        f"({upload.why})"
                    )
            for update in self.updates:
                if update.entry == entry:
                    lines.append(f"update headers {shown(update.key)} ({update.why})")
        lines += [f"delete {shown(d.key)}" for d in self.deletes]
        if self.too_many_deletes:
            lines.append(f"refuse: {len(self.deletes)} deletes exceed max_delete={self.max_delete}")
        return lines

    def __str__(self) -> str:
        part = f" (shard {self.shard})" if self.shard else ""
        head = (
            f"deploy {self.folder} -> {self.bucket}/{self.prefix}{part}: {len(self.uploads)} to "
            f"upload, {len(self.updates)} header updates, {len(self.deletes)} to delete, "
            f"{len(self.unchanged)} unchanged"
        )
        return "\n".join([shown(head), *self.lines()])


@dataclass
class _Candidate:
    """A local file on its way through planning."""

    file: LocalFile
    key: str
    headers: Headers
    entry: bool
    #: The listed object of the same key, once the listing has come to it.
    listed: ObjectInfo | None = None
    proven: Proven | None = None
    values: dict[str, Value] = field(default_factory=dict)


class PlanOptions(TypedDict, total=False):
    #: A :class:`Rules` or the path of a rules file (default: the built-in rules).
    rules: Rules | str | os.PathLike[str] | None
    #: Also delete objects under the prefix that have no file.
    delete: bool
    #: Refuse (changing nothing) to delete more objects than this.
    max_delete: int
    #: Ordered ``("include" | "exclude", glob)`` filters; last match wins.
    filters: Sequence[tuple[str, str]]
    #: Globs added after ``filters`` (includes, then excludes).
    include: Iterable[str]
    exclude: Iterable[str]
    #: HEAD every object whose size matches, ignoring what was remembered.
    recheck: bool
    #: Only this shard's files and objects, ``(K, N)`` with 1 ≤ K ≤ N
    #: (:mod:`cdn_manager.shard`); deletes too are confined to it.
    shard: Shard | tuple[int, int] | None


def plan_deploy(
    ops: Operations,
    folder: str | os.PathLike[str],
    bucket: str,
    prefix: str = "",
    **options: Unpack[PlanOptions],
) -> DeployPlan:
    """See :meth:`CDNManager.plan_deploy`."""
    rules = options.get("rules")
    delete = options.get("delete", False)
    max_delete = options.get("max_delete", MAX_DELETE)
    recheck = options.get("recheck", False)
    shard = Shard.of(options.get("shard"))
    root = Path(folder)
    if not root.is_dir():
        raise LocalIOError(f"{shown(str(root))}: not a folder", reason="NotAFolder")
    if max_delete < 0:
        raise InvalidRequest("max_delete must be 0 or more", reason="InvalidMaxDelete")
    chosen = rules if isinstance(rules, Rules) else Rules.load(rules) if rules else Rules()
    selected = Filters.of(
        options.get("filters", ()), options.get("include", ()), options.get("exclude", ())
    )
    key_prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
    plan = DeployPlan(
        bucket,
        key_prefix,
        root,
        chosen,
        ops.config.checksum_algorithm,
        delete,
        max_delete,
        shard=shard,
    )
    cache_folder = usable_folder(root)
    plan.cache = cache = ChecksumCache(cache_folder, root, shard)
    plan.memory = memory = ObjectMemory(cache_folder, ops.creds.host, bucket, key_prefix, shard)

    files = walk(root, plan.skipped, plan.refused)
    candidates = []
    for file in files:
        if not selected.included(file.relative):
            plan.stats.filtered_out += 1
            continue
        if not in_shard(shard, file.relative):
            plan.stats.other_shards += 1
            continue
        key = key_prefix + file.relative
        try:
            check_key(key)
        except InvalidRequest as err:
            plan.refused.append(Left(str(file.path), str(err)))
            continue
        candidates.append(
            _Candidate(
                file,
                key,
                chosen.headers(file.relative),
                chosen.is_entry(file.relative),
            )
        )
    plan.stats.files = len(candidates)

    listing = _list_and_prove(ops, plan, candidates, memory, recheck)
    plan.listed = list(listing)
    _hash_files(ops, plan, candidates, cache)
    for candidate in candidates:
        _decide(plan, candidate)

    if delete:
        wanted = {candidate.key for candidate in candidates}
        for key, info in listing.items():
            relative = key[len(key_prefix) :]
            if key in wanted or not relative or (key.endswith("/") and info.size == 0):
                continue
            if selected.included(relative) and in_shard(shard, relative):
                plan.deletes.append(Delete(key, info.etag, info.size))
    plan.stats.cache_hits, plan.stats.files_read = cache.hits, cache.files_read
    plan.stats.bytes_read, plan.stats.remembered = cache.bytes_read, memory.hits
    return plan


def _list_and_prove(
    ops: Operations,
    plan: DeployPlan,
    candidates: list[_Candidate],
    memory: ObjectMemory,
    recheck: bool,
) -> dict[str, ObjectInfo]:
    """Lists the prefix and finds what each listed object holds: remembered
    by its ETag, else a HEAD (read key), sent while the rest of the listing
    is still arriving. An object stored as is whose size differs needs
    neither: it differs. Returns the listing by key."""
    by_key = {candidate.key: candidate for candidate in candidates}
    listing: dict[str, ObjectInfo] = {}
    to_head: list[_Candidate] = []

    def head(candidate: _Candidate) -> Proven:
        return proven(ops.stat(plan.bucket, candidate.key))

    def heads() -> Iterator[Callable[[], Proven]]:
        with contextlib.closing(ops.list(plan.bucket, plan.prefix)) as objects:
            for listed in objects:
                listing[listed.key] = listed
                candidate = by_key.get(listed.key)
                if candidate is None:
                    continue
                candidate.listed = listed
                size_differs = listed.size != candidate.file.size
                if candidate.headers.content_encoding is None and size_differs and listed.etag:
                    continue  # differs; the listed ETag is all a conditional write needs
                candidate.proven = None if recheck else memory.get(candidate.key, listed.etag)
                if candidate.proven is None:
                    to_head.append(candidate)
                    yield partial(head, candidate)

    found = run_each(heads(), ops.config.max_in_flight, _core.Control())
    plan.stats.heads = len(to_head)
    for candidate, state in zip(to_head, found, strict=True):
        candidate.proven = state
        memory.remember(candidate.key, state)
    return listing


def _hash_files(
    ops: Operations, plan: DeployPlan, candidates: list[_Candidate], cache: ChecksumCache
) -> None:
    """Each file's checksum in the upload algorithm (and in the object's,
    where that is another): from the cache, else read once."""
    to_read = []
    for candidate in candidates:
        wanted = {plan.algorithm}
        if candidate.proven is not None and candidate.proven.content is not None:
            wanted.add(candidate.proven.content[0])
        known = cache.known(candidate.file.identity, wanted)
        if known is None:
            to_read.append((candidate, wanted))
        else:
            candidate.values = known

    def read(candidate: _Candidate, wanted: set[str]) -> dict[str, Value] | LocalIOError:
        try:
            return cache.digests(candidate.file.path, candidate.file.identity, wanted)
        except LocalIOError as err:
            return err

    jobs = [partial(read, c, w) for c, w in to_read]
    found = run_each(jobs, ops.config.concurrency, _core.Control())
    for (candidate, _), values in zip(to_read, found, strict=True):
        if isinstance(values, LocalIOError):
            plan.refused.append(Left(str(candidate.file.path), str(values)))
            candidate.values = {}
        else:
            candidate.values = values


def _decide(plan: DeployPlan, candidate: _Candidate) -> None:
    if not candidate.values:
        return  # refused: unreadable or changing
    crc = candidate.values[plan.algorithm]
    assert isinstance(crc, int)
    checksum = (plan.algorithm, crc)
    listed, state = candidate.listed, candidate.proven
    common = (candidate.key, candidate.file, candidate.headers)

    def upload(why: str, etag: str | None) -> None:
        plan.uploads.append(Upload(*common, candidate.entry, why, etag, checksum))

    if listed is None:
        return upload(NEW, None)
    if candidate.headers.content_encoding is None and listed.size != candidate.file.size:
        return upload(SIZE_DIFFERS, listed.etag if state is None else state.etag)
    assert state is not None, "proven by _prove_objects"
    if state.content is None:
        return upload(NO_STORED_CHECKSUM, state.etag)
    algorithm, value = state.content
    if candidate.values.get(algorithm) != value:
        return upload(CHECKSUM_DIFFERS, state.etag)
    if state.headers.content_encoding != candidate.headers.content_encoding:
        return upload(ENCODING_DIFFERS, state.etag)
    if state.headers != candidate.headers:
        plan.updates.append(HeaderUpdate(*common, candidate.entry, state.etag, checksum, state))
        return None
    plan.unchanged.append(Unchanged(*common, state.etag, checksum))
    return None
