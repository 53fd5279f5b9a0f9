"""What a downloaded object must match, and the check itself.

The server tells us, in order of preference: a full-object CRC it stores; the
full-object CRC this library stored as user metadata at upload; a composite
CRC (a CRC of the part CRCs) of a multipart object; the MD5 of a single-part
object in its ETag. The size is always checked. Every digest is computed by
the Rust core as the bytes arrive.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from .. import _core
from .._checksums import ALGORITHMS, METADATA_HEADER, WIDTHS, decode, encode
from .._results import ObjectInfo
from ..errors import IntegrityError

_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')
_MULTIPART_ETAG = re.compile(r'-(\d+)"?$')
#: The prefix of a user metadata header.
_META = "x-amz-meta-"


@dataclass(frozen=True)
class Expectation:
    """What the downloaded bytes must match."""

    size: int
    etag: str
    #: "crc32", "crc32c" or "crc64nvme" when a CRC check applies.
    algorithm: str | None = None
    full_crc: int | None = None
    #: (composite CRC, number of parts) of a multipart object.
    composite: tuple[int, int] | None = None
    md5: str | None = None
    #: Where the expected value came from, for log lines.
    source: str = "size"

    @property
    def needs_sequential_read(self) -> bool:
        """MD5 cannot be combined from parts: hash the body in order."""
        return self.md5 is not None


def _header_crc(headers: Mapping[str, str], algorithm: str) -> tuple[int, str] | None:
    """The stored CRC and its part-count suffix (``""`` for a full-object
    value), if the server sent one for ``algorithm``."""
    value = headers.get("x-amz-checksum-" + algorithm)
    if value is None:
        return None
    body, _, count = value.partition("-")
    crc = decode(body, algorithm)
    return None if crc is None else (crc, count)


def _native(
    headers: Mapping[str, str], size: int, etag: str, multipart: bool
) -> Expectation | None:
    kind = headers.get("x-amz-checksum-type")
    for algorithm in ALGORITHMS:
        stored = _header_crc(headers, algorithm)
        if stored is None:
            continue
        crc, count = stored
        if kind == "FULL_OBJECT" or (kind is None and not multipart and not count):
            return Expectation(
                size, etag, algorithm, full_crc=crc, source=f"x-amz-checksum-{algorithm}"
            )
        if count.isdigit():
            return Expectation(
                size,
                etag,
                algorithm,
                composite=(crc, int(count)),
                source=f"x-amz-checksum-{algorithm} (composite)",
            )
    return None


def object_size(headers: Mapping[str, str]) -> int:
    """The whole object's size: from ``Content-Range`` on a ranged answer,
    else ``Content-Length``."""
    total = headers.get("content-range", "").rpartition("/")[2]
    return int(total if total.isdigit() else headers["content-length"])


def expectation(headers: Mapping[str, str]) -> Expectation:
    """The strongest check the headers of a full GET (or HEAD) allow; header
    names in lower case, as both data planes give them."""
    size = object_size(headers)
    etag = headers["etag"]
    multipart = _MULTIPART_ETAG.search(etag) is not None
    native = _native(headers, size, etag, multipart)
    if native is not None and native.full_crc is not None:
        return native
    for algorithm in ALGORITHMS:
        crc = decode(headers.get(METADATA_HEADER + algorithm), algorithm)
        if crc is not None:
            return Expectation(
                size, etag, algorithm, full_crc=crc, source=f"{METADATA_HEADER}{algorithm}"
            )
    if native is not None:
        return native
    md5 = _MD5_ETAG.match(etag)
    encrypted = headers.get("x-amz-server-side-encryption") == "aws:kms" or (
        "x-amz-server-side-encryption-customer-algorithm" in headers
    )
    if md5 and not multipart and not encrypted:
        return Expectation(size, etag, md5=md5.group(1).lower(), source="ETag (MD5)")
    return Expectation(size, etag)


def verify(expected: Expectation, parts: Sequence[_core.PartSink]) -> None:
    """Checks the part sinks of a finished download against ``expected``.

    ``parts`` are the Rust ``PartSink`` objects in file order. Raises
    :class:`IntegrityError` saying which check failed.
    """
    received = sum(p.length for p in parts)
    crcs = [p.crc or 0 for p in parts]
    if received != expected.size:
        raise IntegrityError(
            f"size mismatch: expected {expected.size} bytes, received {received}",
            reason="SizeMismatch",
        )
    if expected.algorithm is not None:
        if expected.full_crc is not None:
            got = _core.combine_checksums(
                [(crc, p.length) for crc, p in zip(crcs, parts, strict=True)], expected.algorithm
            )
            want = expected.full_crc
        else:
            assert expected.composite is not None
            want, count = expected.composite
            if count != len(parts):
                raise IntegrityError(
                    f"composite checksum covers {count} parts, downloaded {len(parts)}",
                    reason="ChecksumMismatch",
                )
            digest = b"".join(crc.to_bytes(WIDTHS[expected.algorithm], "big") for crc in crcs)
            got = _core.checksum(digest, expected.algorithm)
        if got != want:
            raise IntegrityError(
                f"{expected.algorithm} mismatch against {expected.source}: "
                f"expected {encode(want, expected.algorithm)}, "
                f"computed {encode(got, expected.algorithm)}",
                reason="ChecksumMismatch",
            )
    if expected.md5 is not None:
        (part,) = parts
        if part.md5_hex != expected.md5:
            raise IntegrityError(
                f"MD5 mismatch against {expected.source}: expected {expected.md5}, "
                f"computed {part.md5_hex}",
                reason="ChecksumMismatch",
            )


def object_info(key: str, headers: Mapping[str, str]) -> ObjectInfo:
    """What the headers of a HEAD answer (names in lower case, as either
    data plane gives them) say of ``key``: its size, ETag, type, caching,
    metadata and the strongest full-object checksum they prove."""
    exp = expectation(headers)
    checksum = None
    if exp.algorithm is not None and exp.full_crc is not None:
        checksum = (exp.algorithm, exp.full_crc)
    modified = headers.get("last-modified")
    return ObjectInfo(
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


def _http_date(text: str) -> datetime | None:
    """An HTTP date (``Wed, 02 Dec 2026 10:00:00 GMT``), or None if it is
    not one."""
    from email.utils import parsedate_to_datetime  # email costs start-up

    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
