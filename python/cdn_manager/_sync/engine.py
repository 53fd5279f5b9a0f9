"""The sync engine: walk a folder and list a prefix, pair each file with its
object, prove what each object holds, compare (:mod:`.compare`), and plan.
One engine serves both directions, as rclone's march and NeedTransfer serve
copy, sync and check alike; a push adds the headers of its rules and a
pull the safety of local paths.

What each listed object holds comes from the memory of an earlier run (by
ETag, no request), else a HEAD with the read key, sent while the rest of
the listing is still arriving. A pair whose sizes already differ needs
neither. Local checksums come from the checksum cache, else one read of the
file (the Rust core, GIL released), in the algorithm the object's checksum
uses. A file and an object are the same only when that proves it.

A push's source side is a folder or, for a rollback, a release's manifest
(:mod:`.manifest`): each entry states its content's size and checksum and
its headers, and names where its bytes are kept; the listing, the proof
and the comparison are the same. Keys of the release history
(:data:`~.manifest.RESERVED`) are never listed, paired or deleted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict, Unpack

from .. import _core
from .._config import MAX_DELETE
from .._escape import shown
from .._names import check_key
from .._results import ObjectInfo
from .._transfers.parts import run_each
from ..errors import InvalidRequest, LocalIOError, UnsafePath
from .compare import Why, content_differs, stored_differs, wanted
from .filters import Filters
from .headers import Headers
from .local import LeftOut, LocalFile, walk
from .manifest import Entry, Manifest, content_prefix, reserved
from .memory import ChecksumCache, ObjectMemory, cache_folder, usable_folder
from .plan import Action, ActionKind, Direction, SyncPlan
from .remote import Proven, Value, proven
from .shard import Shard, in_shard
from .store import Store

if TYPE_CHECKING:
    from tempfile import TemporaryDirectory


class Publishing(Protocol):
    """What a push publishes each file with (a deploy's rules)."""

    @property
    def public_url(self) -> str | None: ...

    def headers(self, relative: str) -> Headers: ...

    def is_entry(self, relative: str) -> bool: ...


@dataclass(frozen=True)
class Scope:
    """Which pairs a sync covers, and what it may delete."""

    bucket: str
    prefix: str
    folder: Path
    selected: Filters = field(default_factory=Filters)
    shard: Shard | None = None
    delete: bool = False
    max_delete: int = MAX_DELETE
    #: HEAD every object whose size matches, trusting nothing remembered.
    recheck: bool = False
    #: Objects with no counterpart that a release inside the retention
    #: window references, by key: the newest such release. A push retains
    #: them instead of deleting them.
    keep: Mapping[str, int] = field(default_factory=dict)
    #: What the latest release recorded of each object, by key: proofs by
    #: ETag where this machine remembers none.
    recorded: Mapping[str, Proven] = field(default_factory=dict)

    def covers(self, relative: str) -> bool:
        return self.selected.included(relative) and in_shard(self.shard, relative)


@dataclass
class _Pair:
    """A file and its object on their way through planning."""

    relative: str
    key: str
    path: Path
    #: The regular file there, if any.
    file: LocalFile | None
    headers: Headers | None = None
    entry: bool = False
    listed: ObjectInfo | None = None
    proven: Proven | None = None
    values: dict[str, Value] = field(default_factory=dict)
    #: Its file could not be read: no action.
    refused: bool = False
    #: A release's entry (no file): its content's size and checksum, and
    #: the key its bytes are kept at, if they are.
    declared: tuple[int, tuple[str, int]] | None = None
    origin: str | None = None

    @property
    def size(self) -> int:
        """Of the content the source side has."""
        if self.file is not None:
            return self.file.size
        assert self.declared is not None
        return self.declared[0]


def folder_prefix(prefix: str) -> str:
    """The key prefix of a folder: ``"site"`` and ``"site/"`` both mean
    ``"site/"``; ``""`` is the whole bucket."""
    return prefix.rstrip("/") + "/" if prefix.strip("/") else ""


def plan_push(store: Store, scope: Scope, rules: Publishing) -> SyncPlan:
    """What a push of ``scope.folder`` to ``scope.bucket/scope.prefix``
    would do. Raises :class:`LocalIOError` if the folder is not one."""
    if not scope.folder.is_dir():
        raise LocalIOError(f"{shown(str(scope.folder))}: not a folder", reason="NotAFolder")
    plan = _new_plan(store, "push", scope)
    plan.public_url = rules.public_url
    pairs: dict[str, _Pair] = {}
    for file in _local_files(plan, scope, plan.skipped, plan.refused):
        key = plan.prefix + file.relative
        try:
            check_key(key)
        except InvalidRequest as err:
            plan.refused.append(LeftOut(str(file.path), str(err)))
            continue
        if reserved(key, plan.prefix):
            plan.refused.append(LeftOut(str(file.path), "the key is reserved for release history"))
            continue
        pairs[key] = _Pair(
            file.relative,
            key,
            file.path,
            file,
            rules.headers(file.relative),
            rules.is_entry(file.relative),
        )
    plan.stats.files = len(pairs)

    def match(listed: ObjectInfo) -> _Pair | None:
        return pairs.get(listed.key)

    listing = _list_and_prove(store, plan, scope, match, _push_needs_proof)
    _hash(store, plan, pairs.values(), _push_algorithms)
    for pair in pairs.values():
        if not pair.refused:
            plan.actions.append(_push_action(plan, pair))
    _removals(plan, scope, listing, pairs, rules)
    _count(plan)
    return plan


def plan_restore(store: Store, scope: Scope, release: Manifest, kept: Set[str]) -> SyncPlan:
    """What a push of ``release`` (a manifest: the source side) to
    ``scope.bucket/scope.prefix`` would do: an object whose content and
    headers are the entry's is kept, one whose content is the entry's gets
    its headers, any other is restored from the entry's kept content
    (``kept``: the kept content's keys). An entry that would need kept
    content there is not is refused (``plan.refused``, nothing planned for
    it): its bytes are gone."""
    plan = _new_plan(store, "push", scope, cache=False)
    plan.public_url = release.public_url
    pairs: dict[str, _Pair] = {}
    for entry in release.entries.values():
        if not scope.covers(entry.relative):
            continue
        key = plan.prefix + entry.relative
        address = content_prefix(plan.prefix) + entry.address
        pairs[key] = _Pair(
            entry.relative,
            key,
            scope.folder.joinpath(*entry.relative.split("/")),
            None,
            entry.headers,
            entry.entry,
            values=dict([entry.checksum]),
            declared=(entry.size, entry.checksum),
            origin=address if entry.kept and address in kept else None,
        )
    plan.stats.files = len(pairs)

    def match(listed: ObjectInfo) -> _Pair | None:
        return pairs.get(listed.key)

    listing = _list_and_prove(store, plan, scope, match, _push_needs_proof)
    for pair in pairs.values():
        action = _push_action(plan, pair)
        if action.kind is ActionKind.UPLOAD and action.origin is None:
            why = "its content was not kept" if pair.listed is None else "its content differs"
            plan.refused.append(LeftOut(pair.key, f"{why}, and no copy of it is kept"))
            continue
        plan.actions.append(action)
    _removals(plan, scope, listing, pairs, _Declared(release.entries))
    _count(plan)
    return plan


def plan_leftovers(store: Store, scope: Scope, site: Manifest, published: Set[str]) -> SyncPlan:
    """The removals of a push of ``site`` (the live release) that uploads
    nothing: the objects under the prefix that ``site`` does not publish
    and that some release did (``published``, keys), deleted or retained
    as ``scope.keep`` says. An object no release ever published is not a
    leftover: it is left alone."""
    plan = _new_plan(store, "push", scope, cache=False)
    plan.public_url = site.public_url
    listing = _list_and_prove(store, plan, scope, lambda listed: None, _push_needs_proof)
    leftovers = {key: info for key, info in listing.items() if key in published}
    live = {plan.prefix + relative for relative in site.entries}
    _removals(plan, scope, leftovers, live, _Declared(site.entries))
    _count(plan)
    return plan


class _Declared:
    """The headers a release gives its keys (for what a push without rules
    deletes: whether a CDN must drop it)."""

    def __init__(self, entries: Mapping[str, Entry]) -> None:
        self._entries = entries

    def headers(self, relative: str) -> Headers:
        entry = self._entries.get(relative)
        return entry.headers if entry is not None else Headers()


def _removals(
    plan: SyncPlan,
    scope: Scope,
    listing: Mapping[str, ObjectInfo],
    pairs: Container[str],
    rules: _Naming,
) -> None:
    """With ``scope.delete``, the objects the scope covers that have no
    counterpart: deleted, or retained while a release in the retention
    window references them (``scope.keep``)."""
    if not scope.delete:
        return
    for key, info in listing.items():
        relative = key[len(plan.prefix) :]
        if key in pairs or not relative or _folder_marker(info) or not scope.covers(relative):
            continue
        path = scope.folder.joinpath(*relative.split("/"))
        release = scope.keep.get(key)
        kind, why = (
            (ActionKind.DELETE, Why.NO_COUNTERPART)
            if release is None
            else (ActionKind.RETAIN, f"release {release} references it")
        )
        plan.actions.append(
            Action(kind, key, path, info.size, why, etag=info.etag, headers=rules.headers(relative))
        )


def plan_pull(store: Store, scope: Scope) -> SyncPlan:
    """What a pull of ``scope.bucket/scope.prefix`` into ``scope.folder``
    would do. Keys that cannot be stored strictly inside the folder are
    refused; zero-byte folder markers (keys ending in ``/``) are skipped."""
    _check_folder_path(scope.folder)
    plan = _new_plan(store, "pull", scope)
    files = {}
    if scope.folder.is_dir():
        # Local oddities (links, special files) are never pulled over nor
        # deleted; they are not the pull's to report.
        files = {f.relative: f for f in _local_files(plan, scope, [], [])}
    plan.stats.files = len(files)
    pairs: list[_Pair] = []
    wanted_files: set[str] = set()

    with _KeyJudge(scope.folder) as judge:

        def match(listed: ObjectInfo) -> _Pair | None:
            relative = listed.key[len(plan.prefix) :]
            if _folder_marker(listed):
                plan.skipped.append(LeftOut(listed.key, "folder marker"))
                return None
            if not scope.covers(relative):
                return None
            wanted_files.add(relative)
            try:
                path = judge.local_path(relative)
            except UnsafePath as err:
                plan.refused.append(LeftOut(listed.key, str(err)))
                return None
            except OSError as err:
                plan.refused.append(LeftOut(listed.key, str(err.strerror or err)))
                return None
            pair = _Pair(relative, listed.key, path, files.get(relative))
            pairs.append(pair)
            return pair

        _list_and_prove(store, plan, scope, match, _pull_needs_proof)
    _hash(store, plan, pairs, _pull_algorithms)
    for pair in pairs:
        if not pair.refused:
            plan.actions.append(_pull_action(pair))
    if scope.delete:
        for relative, file in files.items():
            if relative not in wanted_files:
                key = plan.prefix + relative
                plan.actions.append(
                    Action(ActionKind.DELETE, key, file.path, file.size, Why.NO_COUNTERPART)
                )
    _count(plan)
    return plan


class _Naming(Protocol):
    def headers(self, relative: str) -> Headers: ...


def _new_plan(store: Store, direction: Direction, scope: Scope, cache: bool = True) -> SyncPlan:
    if scope.max_delete < 0:
        raise InvalidRequest("max_delete must be 0 or more", reason="InvalidMaxDelete")
    prefix = folder_prefix(scope.prefix)
    plan = SyncPlan(
        direction,
        scope.bucket,
        prefix,
        scope.folder,
        store.config.checksum_algorithm,
        scope.delete,
        scope.max_delete,
        shard=scope.shard,
    )
    folder = usable_folder(scope.folder) if cache else cache_folder()
    if cache:
        plan.cache = ChecksumCache(folder, scope.folder, scope.shard)
    plan.memory = ObjectMemory(folder, store.endpoint, scope.bucket, prefix, scope.shard)
    plan.memory.recall(scope.recorded)
    return plan


def _local_files(
    plan: SyncPlan, scope: Scope, skipped: list[LeftOut], refused: list[LeftOut]
) -> Iterator[LocalFile]:
    """The regular files below the folder that the scope covers."""
    for file in walk(scope.folder, skipped, refused):
        if not scope.selected.included(file.relative):
            plan.stats.filtered_out += 1
        elif not in_shard(scope.shard, file.relative):
            plan.stats.other_shards += 1
        else:
            yield file


def _folder_marker(info: ObjectInfo) -> bool:
    return info.key.endswith("/") and info.size == 0


def _push_needs_proof(pair: _Pair) -> bool:
    """An object stored as is whose size differs from the file's differs;
    its listed ETag is all a conditional write needs."""
    assert pair.listed is not None and pair.headers is not None
    size_differs = pair.listed.size != pair.size
    return not (pair.headers.content_encoding is None and size_differs and pair.listed.etag)


def _pull_needs_proof(pair: _Pair) -> bool:
    """A missing file, or one of another size, is downloaded unproven."""
    assert pair.listed is not None
    return pair.file is not None and pair.file.size == pair.listed.size


def _list_and_prove(
    store: Store,
    plan: SyncPlan,
    scope: Scope,
    match: Callable[[ObjectInfo], _Pair | None],
    needs_proof: Callable[[_Pair], bool],
) -> dict[str, ObjectInfo]:
    """Lists the prefix, pairs each object (``match``) and finds what the
    paired objects that ``needs_proof`` hold: remembered by ETag, else a
    HEAD sent while the listing goes on. Returns the listing by key."""
    assert plan.memory is not None
    memory = plan.memory
    listing: dict[str, ObjectInfo] = {}
    to_head: list[_Pair] = []

    def head(pair: _Pair) -> Proven:
        layout = partial(store.part_size, plan.bucket, pair.key)
        return proven(store.stat(plan.bucket, pair.key), layout)

    def heads() -> Iterator[Callable[[], Proven]]:
        with contextlib.closing(store.list(plan.bucket, plan.prefix)) as objects:
            for listed in objects:
                if reserved(listed.key, plan.prefix):
                    continue
                listing[listed.key] = listed
                pair = match(listed)
                if pair is None:
                    continue
                pair.listed = listed
                if not needs_proof(pair):
                    continue
                pair.proven = None if scope.recheck else memory.get(pair.key, listed.etag)
                if pair.proven is None:
                    to_head.append(pair)
                    yield partial(head, pair)

    found = run_each(heads(), store.config.max_in_flight, _core.Control())
    plan.stats.heads = len(to_head)
    for pair, state in zip(to_head, found, strict=True):
        pair.proven = state
        memory.remember(pair.key, state)
    plan.listed = list(listing)
    return listing


def _push_algorithms(plan: SyncPlan, pair: _Pair) -> set[str]:
    """The upload algorithm (the upload states it), and the one the
    object's content is proven in."""
    return {plan.algorithm} | wanted(pair.proven.content if pair.proven else None)


def _pull_algorithms(plan: SyncPlan, pair: _Pair) -> set[str]:
    return wanted(pair.proven.stored) if pair.proven else set()


def _hash(
    store: Store,
    plan: SyncPlan,
    pairs: Iterable[_Pair],
    algorithms: Callable[[SyncPlan, _Pair], set[str]],
) -> None:
    """Each paired file's checksums in ``algorithms``: from the cache, else
    read once. A file that cannot be read is refused."""
    assert plan.cache is not None
    cache = plan.cache
    to_read: list[tuple[_Pair, LocalFile, set[str]]] = []
    for pair in pairs:
        needed = algorithms(plan, pair)
        if pair.file is None or not needed:
            continue
        known = cache.known(pair.file.identity, needed)
        if known is None:
            to_read.append((pair, pair.file, needed))
        else:
            pair.values = known

    def read(file: LocalFile, needed: set[str]) -> dict[str, Value] | LocalIOError:
        try:
            return cache.digests(file.path, file.identity, needed)
        except LocalIOError as err:
            return err

    jobs = [partial(read, file, needed) for _, file, needed in to_read]
    found = run_each(jobs, store.config.concurrency, _core.Control())
    for (pair, file, _), values in zip(to_read, found, strict=True):
        if isinstance(values, LocalIOError):
            plan.refused.append(LeftOut(str(file.path), str(values)))
            pair.refused = True
        else:
            pair.values = values


def _push_action(plan: SyncPlan, pair: _Pair) -> Action:
    assert pair.headers is not None
    if pair.declared is not None:
        checksum = pair.declared[1]
    else:
        crc = pair.values[plan.algorithm]
        assert isinstance(crc, int)
        checksum = (plan.algorithm, crc)
    listed, state, headers = pair.listed, pair.proven, pair.headers

    def upload(why: str, etag: str | None) -> Action:
        return _action(ActionKind.UPLOAD, pair, why, etag, checksum)

    if listed is None:
        return upload(Why.NEW, None)
    if state is None:
        # Not proven: the sizes of an object stored as is differ.
        return upload(Why.SIZE_DIFFERS, listed.etag)
    why = content_differs(pair.size, pair.values, state)
    if why is not None:
        return upload(why, state.etag)
    if state.headers.content_encoding != headers.content_encoding:
        return upload(Why.ENCODING_DIFFERS, state.etag)
    fields = ", ".join(headers.differences(state.headers))
    if fields:
        update = _action(
            ActionKind.UPDATE, pair, f"{Why.HEADERS_DIFFER}: {fields}", state.etag, checksum
        )
        # Without a file, a header update that cannot copy re-sends the
        # object's own bytes.
        if pair.file is None:
            update = replace(update, origin=pair.origin or pair.key)
        return update
    return _action(ActionKind.KEEP, pair, Why.SAME, state.etag, checksum)


def _pull_action(pair: _Pair) -> Action:
    listed, state = pair.listed, pair.proven
    assert listed is not None
    etag = state.etag if state is not None else listed.etag
    if pair.file is None:
        why: Why | None = Why.NEW
    elif state is None:
        why = Why.SIZE_DIFFERS
    else:
        why = stored_differs(pair.file.size, pair.values, state)
    kind = ActionKind.KEEP if why is None else ActionKind.DOWNLOAD
    return Action(kind, pair.key, pair.path, listed.size, why or Why.SAME, etag, proven=state)


def _action(
    kind: ActionKind, pair: _Pair, why: str, etag: str | None, checksum: tuple[str, int]
) -> Action:
    return Action(
        kind,
        pair.key,
        pair.path,
        pair.size,
        why,
        etag,
        pair.file,
        pair.headers,
        pair.entry,
        checksum,
        pair.proven,
        pair.origin,
    )


def _count(plan: SyncPlan) -> None:
    assert plan.memory is not None
    if plan.cache is not None:
        plan.stats.cache_hits, plan.stats.files_read = plan.cache.hits, plan.cache.files_read
        plan.stats.bytes_read = plan.cache.bytes_read
    plan.stats.remembered = plan.memory.hits


class _KeyJudge:
    """Asks the Rust core whether a key may become ``folder/relative``,
    without creating anything: against the real folder when every folder
    on the way exists (then symbolic links are checked too), else against
    an empty scratch folder (the key's form only; the real check runs
    again just before each download)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._scratch: TemporaryDirectory[str] | None = None

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
            from tempfile import TemporaryDirectory

            self._scratch = TemporaryDirectory(prefix="cdn-manager-keys-")
        _core.Destination(self._scratch.name, relative)
        return path


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


class ScopeOptions(TypedDict, total=False):
    """What both directions take."""

    #: Also delete what has no counterpart (objects for a push, files for
    #: a pull), after every transfer succeeded.
    delete: bool
    #: Refuse (changing nothing) to delete more than this.
    max_delete: int
    #: Ordered ``("include" | "exclude", glob)`` filters; last match wins.
    filters: Sequence[tuple[str, str]]
    #: Globs added after ``filters`` (includes, then excludes).
    include: Iterable[str]
    exclude: Iterable[str]
    #: HEAD every object whose size matches, ignoring what was remembered.
    recheck: bool
    #: Only this shard's files and objects, ``(K, N)`` with 1 ≤ K ≤ N
    #: (:class:`~cdn_manager.Shard`); deletes too are confined to it.
    shard: Shard | tuple[int, int] | None


def scope_of(
    bucket: str, prefix: str, folder: str | os.PathLike[str], **options: Unpack[ScopeOptions]
) -> Scope:
    """A :class:`Scope` from the options both directions take."""
    return Scope(
        bucket,
        prefix,
        Path(folder),
        Filters.of(
            options.get("filters", ()), options.get("include", ()), options.get("exclude", ())
        ),
        Shard.of(options.get("shard")),
        options.get("delete", False),
        options.get("max_delete", MAX_DELETE),
        options.get("recheck", False),
    )
