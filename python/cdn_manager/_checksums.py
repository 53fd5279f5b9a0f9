"""Checksum values as S3 writes them, and the metadata this library keeps
on every object it uploads.

S3 carries a CRC as base64 of its big-endian bytes, a SHA as base64 of its
digest; every upload of this library also stores the full-object CRC it
computed as user metadata (``x-amz-meta-cdn-<algorithm>``), so a later
download can prove every byte on a server that keeps no checksum of its own.
A multipart object may instead carry a *composite* value (``…-N``): the
checksum of its N parts' checksums, which only its part layout can prove.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from . import _core

ALGORITHMS = ("crc32", "crc32c", "crc64nvme")
#: The hashes S3 keeps (``x-amz-checksum-sha256``, …) or shows (an ETag is
#: an MD5), strongest first.
HASHES = ("sha256", "sha1", "md5")
#: Bytes of each algorithm's value on the wire.
WIDTHS = {"crc32": 4, "crc32c": 4, "crc64nvme": 8}
#: User-metadata key (before the algorithm name) holding the full-object CRC
#: this library computed, and the response header that carries it.
METADATA_PREFIX = "cdn-"
METADATA_HEADER = "x-amz-meta-" + METADATA_PREFIX


def encode(crc: int, algorithm: str = "crc32") -> str:
    """A CRC as S3 writes it: base64 of its big-endian bytes (four, or eight
    for CRC64NVME)."""
    return base64.b64encode(crc.to_bytes(WIDTHS[algorithm], "big")).decode("ascii")


def decode(value: str | None, algorithm: str = "crc32") -> int | None:
    """The ``algorithm`` CRC an S3 checksum header or metadata value holds,
    or None."""
    if not value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big") if len(raw) == WIDTHS[algorithm] else None


def upload_metadata(algorithm: str, crc: int) -> dict[str, str]:
    """The user metadata that makes an object provable on any server."""
    return {METADATA_PREFIX + algorithm: encode(crc, algorithm)}


#: How bytes proven by nothing but their size are named.
SIZE_ONLY = "size only"


def proof(algorithm: str | None, parts: int | None = None) -> str:
    """How a check names itself in results: ``crc64nvme full-object``,
    ``crc32 composite 13 parts``, ``md5 etag``, ``md5 etag 4 parts`` (a
    multipart ETag), ``size only`` (``algorithm`` None)."""
    if algorithm is None:
        return SIZE_ONLY
    counted = "" if parts is None else f" {parts} part{'s' if parts != 1 else ''}"
    if algorithm == "md5":
        return f"md5 etag{counted}"
    return f"{algorithm} full-object" if parts is None else f"{algorithm} composite{counted}"


def decode_hash(value: str | None, hash: str) -> bytes | None:
    """The ``hash`` digest an S3 checksum header (base64) holds, or None."""
    if not value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == len(_core.digest(b"", hash)) else None


def composite(values: Sequence[int | bytes], algorithm: str) -> int | bytes:
    """The value S3 composes for a multipart object from its parts' values
    (CRCs or hash digests, in part order): the ``algorithm`` of their bytes
    joined (a CRC's as big-endian)."""
    if algorithm in ALGORITHMS:
        joined = b"".join(int(value).to_bytes(WIDTHS[algorithm], "big") for value in values)
        return _core.checksum(joined, algorithm)
    return _core.digest(b"".join(bytes(value) for value in values), algorithm)
