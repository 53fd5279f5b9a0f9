"""What the store says about an object, and the result of one item of a batch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import CDNError


@dataclass(frozen=True)
class ObjectInfo:
    """One object: from a listing (key, size, etag, modified) or, with
    :meth:`CDNManager.stat`, also its type, caching and stored checksum."""

    key: str
    size: int
    etag: str
    last_modified: datetime | None = None
    content_type: str | None = None
    cache_control: str | None = None
    #: ``(algorithm, crc)`` of the whole object where the store keeps one
    #: (natively or as this library's metadata); only from ``stat``.
    checksum: tuple[str, int] | None = None
    #: ``(algorithm, value, parts)`` of a multipart object that carries a
    #: composite checksum (the CRC or SHA of its parts' checksums: the
    #: value is an ``int`` CRC or the digest's ``bytes``); only from ``stat``.
    composite: tuple[str, int | bytes, int] | None = None
    #: "gzip", "br", ... when the stored bytes are compressed; only from ``stat``.
    content_encoding: str | None = None
    #: User metadata (``x-amz-meta-NAME``: names in lower case, without the
    #: prefix); only from ``stat``.
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: Where the bucket keeps versions; only from ``stat``.
    version_id: str | None = None

    @classmethod
    def from_listing(cls, entry: Mapping[str, Any]) -> ObjectInfo:
        return cls(
            key=entry["Key"],
            size=int(entry["Size"]),
            etag=str(entry.get("ETag", "")),
            last_modified=entry.get("LastModified"),
        )


@dataclass(frozen=True)
class TransferResult:
    """The outcome of one item of ``upload_many`` / ``download_many``."""

    key: str
    #: Why the item failed, or None if it succeeded.
    error: CDNError | None = None
    #: Where a download landed.
    path: Path | None = None
    #: Bytes of a resumed download that an interrupted earlier run had
    #: already written (0: nothing was resumed).
    resumed_bytes: int = 0
    #: How a download's bytes were proven: ``"crc64nvme full-object"``,
    #: ``"crc32 composite 13 parts"``, ``"md5 etag"``, ``"size only"``, …
    #: (None for an upload, or a download that failed).
    verified: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
