"""Checksum values as S3 writes them, and the metadata this library keeps
on every object it uploads.

S3 carries a CRC as base64 of its big-endian bytes; every upload of this
library also stores the full-object CRC it computed as user metadata
(``x-amz-meta-cdn-<algorithm>``), so a later download can prove every byte
on a server that keeps no checksum of its own.
"""

from __future__ import annotations

import base64
import binascii

ALGORITHMS = ("crc32", "crc32c", "crc64nvme")
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
