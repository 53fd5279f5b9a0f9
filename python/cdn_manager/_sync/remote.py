"""What an object holds, as a sync compares it: the checksum of its stored
bytes, the checksum of its content (the bytes before a deploy compressed
them) and its headers, read from a HEAD; and the metadata a deploy writes so
the next one can tell without reading or decompressing.

An object a deploy compressed carries, beside the usual full-object CRC of
its stored bytes (``x-amz-meta-cdn-crc32``), the CRC of the uncompressed
file (``x-amz-meta-cdn-source-crc32``). For an object stored as is, its
content is its stored bytes: a full-object CRC32, CRC32C or CRC64NVME kept
by the server or as this library's metadata (so objects the AWS CLI or
boto3 wrote compare too), else the MD5 in a single-part ETag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .._checksums import ALGORITHMS, METADATA_PREFIX, decode, encode, upload_metadata
from .._results import ObjectInfo
from .headers import Headers

#: Metadata name (after ``x-amz-meta-``) of the uncompressed content's CRC.
SOURCE_PREFIX = METADATA_PREFIX + "source-"
_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')
#: A checksum value: a CRC, or the hex MD5 (algorithm "md5").
Value = int | str
#: ``(algorithm, value)``.
Checksum = tuple[str, Value]


@dataclass(frozen=True)
class Proven:
    """What an object held when it was last proven, and the ETag it had then."""

    etag: str
    #: Bytes stored.
    size: int
    #: Of the stored bytes, if known.
    stored: Checksum | None
    #: Of the content (the uncompressed bytes), if known; the stored bytes'
    #: own checksum for an object stored as is.
    content: Checksum | None
    headers: Headers
    #: This library's ``cdn-*`` metadata on the object (re-sent on a copy).
    ours: tuple[tuple[str, str], ...] = ()

    def as_json(self) -> list[Any]:
        return [
            self.etag,
            self.size,
            None if self.stored is None else list(self.stored),
            None if self.content is None else list(self.content),
            self.headers.as_dict(),
            dict(self.ours),
        ]

    @classmethod
    def from_json(cls, data: Any) -> Proven | None:
        try:
            etag, size, stored, content, headers, ours = data
            return cls(
                str(etag),
                int(size),
                _checksum(stored),
                _checksum(content),
                Headers.from_dict(headers),
                tuple(sorted((str(k), str(v)) for k, v in dict(ours).items())),
            )
        except (TypeError, ValueError, AttributeError):
            return None


def _checksum(data: Any) -> Checksum | None:
    if data is None:
        return None
    algorithm, value = data
    if not isinstance(algorithm, str) or not isinstance(value, int | str):
        raise ValueError("not a checksum")
    return (algorithm, value)


def content_encoding(value: str | None) -> str | None:
    """None for bytes stored as they are."""
    value = (value or "").strip().lower()
    return None if value in ("", "identity") else value


def proven(info: ObjectInfo) -> Proven:
    """What a HEAD (:meth:`CDNManager.stat`) says the object holds."""
    encoding = content_encoding(info.content_encoding)
    stored: Checksum | None = info.checksum
    if stored is None:
        md5 = _MD5_ETAG.match(info.etag)
        if md5 is not None:
            stored = ("md5", md5.group(1).lower())
    content: Checksum | None = stored if encoding is None else None
    for algorithm in ALGORITHMS:
        crc = decode(info.metadata.get(SOURCE_PREFIX + algorithm), algorithm)
        if crc is not None:
            content = (algorithm, crc)
            break
    user = {k: v for k, v in info.metadata.items() if not k.startswith(METADATA_PREFIX)}
    ours = {k: v for k, v in info.metadata.items() if k.startswith(METADATA_PREFIX)}
    headers = Headers(info.cache_control, info.content_type, encoding, tuple(sorted(user.items())))
    return Proven(info.etag, info.size, stored, content, headers, tuple(sorted(ours.items())))


def stored_metadata(algorithm: str, stored_crc: int, source_crc: int | None) -> dict[str, str]:
    """This library's metadata on an object whose stored bytes have CRC
    ``stored_crc``, compressed from content with CRC ``source_crc``."""
    metadata = upload_metadata(algorithm, stored_crc)
    if source_crc is not None:
        metadata[SOURCE_PREFIX + algorithm] = encode(source_crc, algorithm)
    return metadata
