"""What an object holds, as a deploy compares it: the checksum of its
uncompressed content and its headers, read from a HEAD; and the metadata a
deploy writes so the next one can tell without reading or decompressing.

An object a deploy compressed carries, beside the usual full-object CRC of
its stored bytes (``x-amz-meta-cdn-crc32``), the CRC of the uncompressed
file (``x-amz-meta-cdn-source-crc32``). For an object stored as is, the
content checksum is the stored one: a full-object CRC32, CRC32C or
CRC64NVME kept by the server or as this library's metadata (so objects the
AWS CLI or boto3 wrote compare too), else the MD5 in a single-part ETag.
"""

from __future__ import annotations

import re

from ..integrity import ALGORITHMS, METADATA_PREFIX, decode, encode, upload_metadata
from ..objects import ObjectInfo
from .cache import Proven, Value
from .rules import Headers

#: Metadata name (after ``x-amz-meta-``) of the uncompressed content's CRC.
SOURCE_PREFIX = METADATA_PREFIX + "source-"
_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')


def content_encoding(value: str | None) -> str | None:
    """None for bytes stored as they are."""
    value = (value or "").strip().lower()
    return None if value in ("", "identity") else value


def proven(info: ObjectInfo) -> Proven:
    """What a HEAD (:meth:`CDNManager.stat`) says the object holds."""
    encoding = content_encoding(info.content_encoding)
    content: tuple[str, Value] | None = None
    for algorithm in ALGORITHMS:
        crc = decode(info.metadata.get(SOURCE_PREFIX + algorithm), algorithm)
        if crc is not None:
            content = (algorithm, crc)
            break
    if content is None and encoding is None:
        md5 = _MD5_ETAG.match(info.etag)
        if info.checksum is not None:
            content = info.checksum
        elif md5 is not None:
            content = ("md5", md5.group(1).lower())
    user = {k: v for k, v in info.metadata.items() if not k.startswith(METADATA_PREFIX)}
    ours = {k: v for k, v in info.metadata.items() if k.startswith(METADATA_PREFIX)}
    headers = Headers(info.cache_control, info.content_type, encoding, tuple(sorted(user.items())))
    return Proven(info.etag, content, headers, tuple(sorted(ours.items())))


def stored_metadata(algorithm: str, stored_crc: int, source_crc: int | None) -> dict[str, str]:
    """This library's metadata on an object whose stored bytes have CRC
    ``stored_crc``, compressed from content with CRC ``source_crc``."""
    metadata = upload_metadata(algorithm, stored_crc)
    if source_crc is not None:
        metadata[SOURCE_PREFIX + algorithm] = encode(source_crc, algorithm)
    return metadata
