"""What the store says about an object, and the result of one item of a batch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from .errors import CDNError
from .integrity import expectation


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

    @classmethod
    def from_head(cls, key: str, headers: Mapping[str, str]) -> ObjectInfo:
        """From the headers of a HEAD answer (names in lower case), as
        either data plane gives them."""
        exp = expectation(headers)
        checksum = None
        if exp.algorithm is not None and exp.full_crc is not None:
            checksum = (exp.algorithm, exp.full_crc)
        modified = headers.get("last-modified")
        return cls(
            key=key,
            size=exp.size,
            etag=exp.etag,
            last_modified=_http_date(modified) if modified else None,
            content_type=headers.get("content-type"),
            cache_control=headers.get("cache-control"),
            checksum=checksum,
            content_encoding=headers.get("content-encoding"),
            metadata={
                name.removeprefix(_META): value
                for name, value in headers.items()
                if name.startswith(_META)
            },
            version_id=headers.get("x-amz-version-id"),
        )


#: The prefix of a user metadata header.
_META = "x-amz-meta-"


def _http_date(text: str) -> datetime | None:
    """An HTTP date (``Wed, 02 Dec 2026 10:00:00 GMT``), or None if it is
    not one."""
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


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

    @property
    def ok(self) -> bool:
        return self.error is None
