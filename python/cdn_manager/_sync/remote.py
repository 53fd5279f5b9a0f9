"""What an object holds, as a sync compares it: the checksum of its stored
bytes, the checksum of its content (the bytes before a deploy compressed
them) and its headers, read from a HEAD; and the metadata a deploy writes so
the next one can tell without reading or decompressing.

An object a deploy compressed carries, beside the usual full-object CRC of
its stored bytes (``x-amz-meta-cdn-crc32``), the CRC of the uncompressed
file (``x-amz-meta-cdn-source-crc32``). For an object stored as is, its
content is its stored bytes: a full-object CRC32, CRC32C or CRC64NVME kept
by the server or as this library's metadata (so objects the AWS CLI or
boto3 wrote compare too); else a composite value of a multipart object
(a CRC or SHA of its parts' checksums, or a multipart ETag: the MD5 of its
parts' MD5s), which a file matches only cut into the same parts (learnt
with a HEAD of part 1); else the MD5 in a single-part ETag. Other tools'
metadata (rclone's ``md5chksum``) is a claim about bytes nobody read here,
never proof that a file is the object.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import _core
from .._checksums import (
    ALGORITHMS,
    METADATA_PREFIX,
    composite,
    decode,
    encode,
    proof,
    upload_metadata,
)
from .._results import ObjectInfo
from .headers import Headers

#: Metadata name (after ``x-amz-meta-``) of the uncompressed content's CRC.
SOURCE_PREFIX = METADATA_PREFIX + "source-"
_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})(?:-(\d+))?"?$')
#: A checksum value: a CRC, or a hash as hex (algorithm "md5", "sha256", …).
Value = int | str
#: ``(algorithm, value)``. The algorithm of a composite value names its
#: part layout: ``"crc32/5242880"`` is the CRC32 of the CRC32s of 5 MiB
#: parts (the last one shorter).
Checksum = tuple[str, Value]


def is_composite(algorithm: str) -> bool:
    return "/" in algorithm


def _layout(algorithm: str) -> tuple[str, int]:
    name, _, part_size = algorithm.partition("/")
    return name, int(part_size)


def describe(checksum: Checksum | None, size: int) -> str:
    """How a comparison by ``checksum`` proves ``size`` bytes, named as
    download results name it (``crc32 composite 4 parts``, ``md5 etag``)."""
    if checksum is None:
        return proof(None)
    algorithm, parts = checksum[0], None
    if is_composite(algorithm):
        algorithm, part_size = _layout(algorithm)
        parts = max(1, math.ceil(size / part_size))
    return proof(algorithm, parts)


def composite_of_file(path: str | os.PathLike[str], size: int, algorithm: str) -> Value:
    """The composite value (``algorithm`` names the layout) of the file's
    first ``size`` bytes. Raises ``OSError``."""
    name, part_size = _layout(algorithm)
    if name in ALGORITHMS:
        crc = composite(_core.file_part_checksums(path, size, part_size, name), name)
        assert isinstance(crc, int)
        return crc
    digest = composite(_core.file_part_hashes(path, size, part_size, name), name)
    assert isinstance(digest, bytes)
    return digest.hex()


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


def _stored(info: ObjectInfo, part_size: Callable[[], int] | None) -> Checksum | None:
    """The strongest checksum of the stored bytes that a file can be
    compared with; ``part_size`` (a HEAD of part 1) gives a composite's
    layout, and without it composites are left out."""
    if info.checksum is not None:
        return info.checksum
    md5 = _MD5_ETAG.match(info.etag)
    if md5 is not None and md5.group(2) is None:
        return ("md5", md5.group(1).lower())
    candidates: list[tuple[str, Value, int]] = []
    if info.composite is not None:
        kind, stored, count = info.composite
        candidates.append((kind, stored if isinstance(stored, int) else stored.hex(), count))
    if md5 is not None:
        candidates.append(("md5", md5.group(1).lower(), int(md5.group(2))))
    if not candidates or part_size is None:
        return None
    size = part_size()
    for name, value, parts in candidates:
        # Equal parts but the last, as every mainstream uploader cuts them.
        if size > 0 and (parts - 1) * size < info.size <= parts * size:
            return (f"{name}/{size}", value)
    return None


def proven(info: ObjectInfo, part_size: Callable[[], int] | None = None) -> Proven:
    """What a HEAD (:meth:`CDNManager.stat`) says the object holds;
    ``part_size`` asks for a multipart object's part layout when only a
    composite value can prove it."""
    encoding = content_encoding(info.content_encoding)
    stored = _stored(info, part_size)
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
