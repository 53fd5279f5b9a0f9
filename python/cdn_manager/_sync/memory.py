"""What a deploy remembers between runs, under the user's cache folder
(``$XDG_CACHE_HOME/cdn-manager/deploy``, else ``~/.cache/…``), never inside
the folder being pushed:

- :class:`ChecksumCache`: the checksums of local files, keyed by what
  identifies a file's content without reading it: device, inode, size,
  mtime and ctime (nanoseconds). Any write changes mtime and ctime; a rename
  or ``touch`` changes ctime. An entry whose mtime was within
  :data:`RACY_NS` of the moment it was hashed is not trusted (a write in the
  same clock tick would leave mtime unchanged), as git treats "racily clean"
  files.
- :class:`ObjectMemory`: per destination (endpoint, bucket, prefix), what
  each object was proven to hold (its content checksum and headers) and the
  ETag it had then. A listed object whose ETag is still that one is the
  same object, so it needs no HEAD; any other is checked for real. The
  latest release's manifest (:mod:`.manifest`) records the same of its
  objects, in the bucket: what this machine does not remember, it may.

Each is one JSON file written atomically, carrying a SHA-256 of its
entries: a file that does not parse, has another format or whose digest
does not match is ignored (and replaced on save), never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import _core
from .._escape import shown
from .._resume.cachedir import cache_folder as user_cache
from ..errors import LocalIOError
from .remote import Proven, Value, composite_of_file, is_composite
from .shard import Shard

log = logging.getLogger("cdn_manager")

FORMAT = "cdn-manager deploy cache 1"
#: A file modified this close to its hashing may change again unseen.
RACY_NS = 2_000_000_000
#: ``(device, inode, size, mtime_ns, ctime_ns)``.
Identity = tuple[int, int, int, int, int]


def identity_of(status: os.stat_result) -> Identity:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/cdn-manager/deploy`` (default ``~/.cache``)."""
    return user_cache("deploy")


def _name(kind: str, shard: Shard | None, *parts: str) -> str:
    # One file per shard: shards of one tree on one machine never drop
    # each other's entries (a save keeps only what its own run saw).
    parts = (*parts, str(shard)) if shard is not None else parts
    digest = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
    return f"{kind}-{digest[:24]}.json"


def _canonical(entries: Any) -> str:
    return json.dumps(entries, sort_keys=True, separators=(",", ":"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class _CacheFile:
    """One cache file: its entries as loaded, and a save that writes them
    only when they changed (an unchanged re-push rewrites nothing)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        #: The digest of the entries on disk, once loaded.
        self.digest: str | None = None

    def load(self) -> dict[str, Any]:
        """The entries; empty if absent, and if unreadable or corrupt (with
        one log line)."""
        if self.path is None:
            return {}
        try:
            document = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            log.warning(
                "ignoring the deploy cache %s: %s", shown(str(self.path)), type(err).__name__
            )
            return {}
        if (
            not isinstance(document, dict)
            or document.get("format") != FORMAT
            or not isinstance(document.get("entries"), dict)
            or document.get("digest") != _digest(_canonical(document["entries"]))
        ):
            log.warning("ignoring the deploy cache %s: it is corrupt", shown(str(self.path)))
            return {}
        self.digest = document["digest"]
        entries: dict[str, Any] = document["entries"]
        return entries

    def save(self, entries: Mapping[str, Any]) -> None:
        """Writes the file atomically, unless it holds these entries already;
        a failure is logged, not raised (the cache only saves work)."""
        if self.path is None:
            return
        text = _canonical(entries)
        digest = _digest(text)
        if digest == self.digest:
            return
        # The document as json.dump(sort_keys=True) writes it, the entries
        # serialised once for both the digest and the file.
        document = f'{{"digest":"{digest}","entries":{text},"format":{json.dumps(FORMAT)}}}'
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            from tempfile import mkstemp  # on saving only: tempfile costs start-up

            fd, temp = mkstemp(prefix=".tmp-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w") as out:
                    out.write(document)
                os.replace(temp, self.path)
            except BaseException:
                os.unlink(temp)
                raise
        except OSError as err:
            log.warning(
                "could not save the deploy cache %s: %s", shown(str(self.path)), err.strerror
            )
            return
        self.digest = digest


def usable_folder(pushed: Path) -> Path | None:
    """The cache folder, or None (no cache) if it lies inside ``pushed``."""
    folder = cache_folder().resolve()
    root = pushed.resolve()
    if folder == root or root in folder.parents:
        log.warning(
            "not caching checksums: the cache folder %s is inside the pushed folder",
            shown(str(folder)),
        )
        return None
    return folder


class ChecksumCache:
    """Checksums of local files by identity, with counters a test (or a
    curious user) can read: ``hits``, ``files_read``, ``bytes_read``."""

    def __init__(self, folder: Path | None, pushed: Path, shard: Shard | None = None) -> None:
        self._file = _CacheFile(
            None if folder is None else folder / _name("files", shard, str(pushed.resolve()))
        )
        self._entries = self._file.load()
        self._seen: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.files_read = 0
        self.bytes_read = 0

    def known(self, identity: Identity, algorithms: Iterable[str]) -> dict[str, Value] | None:
        """The cached values of every one of ``algorithms``, or None."""
        key, entry = self._entry(identity)
        if entry is None:
            return None
        values = entry[3]
        wanted = list(algorithms)
        if not all(a in values for a in wanted):
            return None
        with self._lock:
            self.hits += 1
            self._seen[key] = entry
        return {a: values[a] for a in wanted}

    def _entry(self, identity: Identity) -> tuple[str, Any]:
        device, inode, size, mtime, ctime = identity
        key = f"{device}:{inode}"
        with self._lock:
            entry = self._seen.get(key) or self._entries.get(key)
        if (
            isinstance(entry, list)
            and len(entry) == 5
            and entry[:3] == [size, mtime, ctime]
            and isinstance(entry[3], dict)
            and isinstance(entry[4], int)
            and mtime + RACY_NS < entry[4]
        ):
            return key, entry
        return key, None

    def digests(
        self, path: Path, identity: Identity, algorithms: Iterable[str]
    ) -> dict[str, Value]:
        """The file's checksums (``"md5"``, a CRC name, or a composite's
        name over a part layout: :func:`~.remote.composite_of_file`): from
        the cache, else read (the Rust core, GIL released) and remembered.
        Raises :class:`LocalIOError` (reason ``FileChanged`` if the file is
        no longer the one planned, or changed while it was read)."""
        wanted = set(algorithms)
        cached = self.known(identity, wanted)
        if cached is not None:
            return cached
        composites = sorted(name for name in wanted if is_composite(name))
        plain = wanted.difference(composites)
        crcs = sorted(plain - {"md5"})
        started = time.time_ns()
        found: dict[str, Value] = {}
        try:
            if plain or not composites:
                values, md5, before, after = _core.file_digests(path, crcs, "md5" in plain)
                found.update(zip(crcs, values, strict=True))
                if md5 is not None:
                    found["md5"] = md5
            else:
                before = after = identity_of(path.lstat())
            if composites:
                for name in composites:
                    found[name] = composite_of_file(path, identity[2], name)
                after = identity_of(path.lstat())
        except OSError as err:
            raise LocalIOError(
                f"checksum {shown(str(path))}: {err.strerror or err}", reason=type(err).__name__
            ) from None
        if before != identity or after != identity:
            raise LocalIOError(
                f"{shown(str(path))} changed while the deploy was planned", reason="FileChanged"
            )
        device, inode, size, mtime, ctime = identity
        key = f"{device}:{inode}"
        with self._lock:
            self.files_read += 1
            self.bytes_read += size
            old = self._seen.get(key) or self._entries.get(key)
            kept = old[3] if isinstance(old, list) and old[:3] == [size, mtime, ctime] else {}
            merged = {**kept, **found}
            self._seen[key] = [size, mtime, ctime, merged, started]
        return found

    def save(self) -> None:
        """Keeps the entries of the files this run looked at (files gone
        from the folder drop out)."""
        with self._lock:
            entries = dict(self._seen)
        self._file.save(entries)


class ObjectMemory:
    """What each object of one destination was proven to hold, by ETag.
    ``hits`` counts the objects this spared a HEAD."""

    def __init__(
        self,
        folder: Path | None,
        endpoint: str,
        bucket: str,
        prefix: str,
        shard: Shard | None = None,
    ) -> None:
        name = _name("objects", shard, endpoint, bucket, prefix)
        self._file = _CacheFile(None if folder is None else folder / name)
        self._entries = self._file.load()
        self._updates: dict[str, Proven | None] = {}
        self._recorded: dict[str, Proven] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: str, etag: str) -> Proven | None:
        """What the object ``key`` holds if it still has ETag ``etag``:
        as this machine remembers it, else as the release history recorded
        it (:meth:`recall`)."""
        proven = Proven.from_json(self._entries.get(key))
        if proven is None or proven.etag != etag:
            proven = self._recorded.get(key)
        if proven is None or proven.etag != etag:
            return None
        with self._lock:
            self.hits += 1
        return proven

    def recall(self, recorded: Mapping[str, Proven]) -> None:
        """Adds what a release recorded of its objects (by key), proofs as
        good as this machine's own: a push from a machine that never pushed
        here needs no HEAD for an object that still has the recorded ETag."""
        self._recorded = dict(recorded)

    def remember(self, key: str, proven: Proven) -> None:
        with self._lock:
            self._updates[key] = proven

    def forget(self, key: str) -> None:
        with self._lock:
            self._updates[key] = None

    def save(self, present: Iterable[str]) -> None:
        """Keeps what is known of the ``present`` keys."""
        with self._lock:
            updates = dict(self._updates)
        entries = {}
        for key in present:
            if key in updates:
                proven = updates[key]
                if proven is not None:
                    entries[key] = proven.as_json()
            elif key in self._entries:
                entries[key] = self._entries[key]
        self._file.save(entries)
