"""A site's release history, as stored in the bucket: one manifest per
release, and the content of its mutable objects kept by content.

Everything lives under a reserved prefix at the bucket's root,
:data:`RESERVED` (``.cdn-manager/``), beside the site and never inside it:
the site at ``www/`` keeps its history under ``.cdn-manager/www/``, one at
the bucket's root under ``.cdn-manager/``. No sync covers a reserved key
(a push refuses files that would map there, neither direction lists,
deletes or pulls them) unless the sync's own prefix is inside it.

- ``releases/0000000007.json.gz``: release 7's manifest (gzip-compressed
  JSON), written with ``If-None-Match: *`` so two deploys cannot both make
  release 7: history is linear. It records when, what kind (a deploy or a
  rollback), the git commit of the deployed folder where there is one, and
  every object of the site: its content's size and checksum, its headers,
  whether it is an entry point and whether its content is kept.
- ``content/crc32-1a2b3c4d-1234.gzip``: the bytes a release published for a
  mutable key (an entry point, or any name without a content hash), named
  by the checksum and size of the content and the encoding it is stored
  with, so a rollback can restore a page that was overwritten since.
  Names with a content hash are not copied: the object itself is kept, at
  its own key, while a release in the retention window references it.

Two contents are the same here when they are the same by the comparison
every sync makes (:mod:`.compare`): same size, same checksum.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .._checksums import WIDTHS, decode, encode
from .headers import Headers
from .remote import Proven

#: The prefix of every key the release history uses.
RESERVED = ".cdn-manager/"
FORMAT = "cdn-manager release 1"
#: Digits of a release number in its manifest's key (lexical order is
#: numeric order).
ID_DIGITS = 10
_MANIFEST = re.compile(rf"^(\d{{{ID_DIGITS}}})\.json\.gz$")
_CONTENT = re.compile(r"^(crc32|crc32c|crc64nvme)-[0-9a-f]+-\d+(\.[a-z0-9]+)?$")

#: What a release was made by.
DEPLOY, ROLLBACK = "deploy", "rollback"
#: Where a release's deploy got to: writing, every change made, stopped by
#: a failure (a deploy interrupted for good stays "deploying").
DEPLOYING, COMPLETE, FAILED = "deploying", "complete", "failed"


def reserved(key: str, prefix: str) -> bool:
    """Whether ``key`` belongs to the release history and not to a sync of
    ``prefix`` (one whose own prefix is reserved covers it)."""
    return key.startswith(RESERVED) and not prefix.startswith(RESERVED)


def history_prefix(prefix: str) -> str:
    """Where the history of the site at ``prefix`` (a folder prefix,
    ``""`` or ``"www/"``) lives."""
    return RESERVED + prefix


def manifests_prefix(prefix: str) -> str:
    return history_prefix(prefix) + "releases/"


def content_prefix(prefix: str) -> str:
    return history_prefix(prefix) + "content/"


def manifest_key(prefix: str, release: int) -> str:
    return f"{manifests_prefix(prefix)}{release:0{ID_DIGITS}d}.json.gz"


def release_of(prefix: str, key: str) -> int | None:
    """The release number of a manifest key of the site at ``prefix``;
    None for any other key (another site's history nested below)."""
    found = _MANIFEST.match(key[len(manifests_prefix(prefix)) :])
    return None if found is None else int(found[1])


def is_content(prefix: str, key: str) -> bool:
    """Whether ``key`` is kept content of the site at ``prefix``."""
    return _CONTENT.match(key[len(content_prefix(prefix)) :]) is not None


@dataclass(frozen=True)
class Retention:
    """Which releases are inside the retention window: the newest
    ``releases`` (a deploy's new release counts as one), and every release
    at most ``days`` old. An object that left the site stays while a
    release inside the window references it, and so does the content kept
    for it."""

    releases: int = 3
    days: float = 7.0

    def __post_init__(self) -> None:
        if not isinstance(self.releases, int) or self.releases < 1:
            raise ValueError("retention must keep at least 1 release")
        if not isinstance(self.days, int | float) or self.days < 0:
            raise ValueError("retention days must be 0 or more")

    def keeps(self, rank: int, age: timedelta) -> bool:
        """Whether the release that is the ``rank``-th newest (0: newest)
        and ``age`` old is inside the window."""
        return rank < self.releases or age <= timedelta(days=self.days)


@dataclass(frozen=True)
class Entry:
    """One object of a release."""

    #: Its key below the site's prefix.
    relative: str
    #: Of the content (the bytes before any compression).
    size: int
    #: ``(algorithm, crc)`` of the content.
    checksum: tuple[str, int]
    headers: Headers
    #: An entry point (published after everything else).
    entry: bool = False
    #: Its content is kept under ``content/`` (a mutable name).
    kept: bool = False
    #: What the object was proven to hold (its ETag, stored size and this
    #: library's metadata too) when the release's push ended: a later push
    #: from any machine proves an object that still has that ETag without
    #: a HEAD. None until then, and for what the push did not complete.
    stored: Proven | None = field(default=None, compare=False)

    @property
    def address(self) -> str:
        """The kept content's name below ``content/``: same content, same
        stored encoding, same name."""
        algorithm, crc = self.checksum
        name = f"{algorithm}-{crc:0{2 * WIDTHS[algorithm]}x}-{self.size}"
        encoding = self.headers.content_encoding
        return name if encoding is None else f"{name}.{encoding}"

    def as_json(self, table: _Table) -> list[Any]:
        """``[size, algorithm, crc, headers, flags, stored]``: headers as an
        index into the manifest's table of distinct headers (most objects
        share a few), flags 1 for an entry point and 2 for kept content."""
        algorithm, crc = self.checksum
        flags = (1 if self.entry else 0) | (2 if self.kept else 0)
        stored = None
        if self.stored is not None:
            proof = self.stored
            stored = [
                proof.etag,
                proof.size,
                None if proof.stored is None else list(proof.stored),
                # The content's checksum when it is not the entry's own.
                None if proof.content in (self.checksum, None) else list(proof.content),
                table.index(proof.headers),
                dict(proof.ours),
            ]
        headers = table.index(self.headers)
        return [self.size, algorithm, encode(crc, algorithm), headers, flags, stored]

    @classmethod
    def from_json(cls, relative: str, data: list[Any], headers: list[Headers]) -> Entry:
        size, algorithm, value, header, flags, stored = data
        crc = decode(value, algorithm) if algorithm in WIDTHS else None
        if crc is None:
            raise ValueError(f"bad checksum for {relative!r}")
        checksum = (algorithm, crc)
        proof = None
        if stored is not None:
            etag, stored_size, stored_sum, content, proof_headers, ours = stored
            content = list(checksum) if content is None else content
            # Headers from the table, not parsed again for every object.
            proof = Proven.from_json([etag, stored_size, stored_sum, content, {}, ours])
            if proof is None:
                raise ValueError(f"bad record of {relative!r}")
            proof = replace(proof, headers=headers[proof_headers])
        return cls(
            relative,
            int(size),
            checksum,
            headers[header],
            bool(flags & 1),
            bool(flags & 2),
            proof,
        )


class _Table:
    """The distinct headers of a manifest, each written once."""

    def __init__(self) -> None:
        self.items: list[Headers] = []
        self._index: dict[Headers, int] = {}

    def index(self, headers: Headers) -> int:
        found = self._index.get(headers)
        if found is None:
            found = self._index[headers] = len(self.items)
            self.items.append(headers)
        return found


@dataclass(frozen=True)
class Manifest:
    """One release: when, by what, and every object of the site."""

    release: int
    time: datetime
    entries: Mapping[str, Entry] = field(default_factory=dict)
    kind: str = DEPLOY
    state: str = DEPLOYING
    #: The release a rollback made live again.
    rollback_of: int | None = None
    #: ``git rev-parse HEAD`` of the deployed folder, if in a repository.
    commit: str | None = None
    #: Where the site is served (for invalidations of a later rollback).
    public_url: str | None = None
    #: The window the push judged by: what a later prune or rollback
    #: without one of its own judges by.
    retention: Retention = field(default_factory=Retention)

    @property
    def files(self) -> int:
        return len(self.entries)

    @property
    def size(self) -> int:
        """Bytes of content (before any compression)."""
        return sum(entry.size for entry in self.entries.values())

    def recorded(self, prefix: str) -> dict[str, Proven]:
        """What each object held when this release's push ended, by key
        (``prefix`` + its name): proofs by ETag for a later push."""
        return {
            prefix + name: entry.stored
            for name, entry in self.entries.items()
            if entry.stored is not None
        }

    def to_bytes(self) -> bytes:
        document = {
            "format": FORMAT,
            "release": self.release,
            "time": self.time.astimezone(UTC).isoformat(timespec="microseconds"),
            "kind": self.kind,
            "state": self.state,
            "rollback_of": self.rollback_of,
            "commit": self.commit,
            "public_url": self.public_url,
            "retention": {"releases": self.retention.releases, "days": self.retention.days},
        }
        table = _Table()
        document["objects"] = {
            name: self.entries[name].as_json(table) for name in sorted(self.entries)
        }
        document["headers"] = [headers.as_dict() for headers in table.items]
        text = json.dumps(document, separators=(",", ":"), sort_keys=True)
        # mtime=0: the same release compresses to the same bytes.
        return gzip.compress(text.encode(), mtime=0)

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Raises ``ValueError`` for anything but a manifest."""
        try:
            document = json.loads(gzip.decompress(data))
            if document.get("format") != FORMAT:
                raise ValueError("not a cdn-manager release manifest")
            table = [Headers.from_dict(item) for item in document["headers"]]
            entries = {
                name: Entry.from_json(name, item, table)
                for name, item in document["objects"].items()
            }
            time = datetime.fromisoformat(document["time"])
            if time.tzinfo is None:
                raise ValueError("a release time without its time zone")
            return cls(
                int(document["release"]),
                time,
                entries,
                str(document["kind"]),
                str(document["state"]),
                document.get("rollback_of"),
                document.get("commit"),
                document.get("public_url"),
                Retention(**document["retention"]),
            )
        except (OSError, EOFError, KeyError, IndexError, TypeError, AttributeError) as err:
            raise ValueError(f"not a release manifest: {type(err).__name__}") from None
