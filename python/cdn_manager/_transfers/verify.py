"""What a downloaded object must match, and the check itself.

The headers of an object tell, strongest first: a full-object CRC the
server keeps; the full-object CRC this library stored as user metadata; a
composite value of a multipart object (a CRC32/CRC32C, SHA-256 or SHA-1 of
its parts' checksums, checked part by part over the part layout); a
full-object SHA-256 or SHA-1 of a single-part object; the MD5 in its ETag
(of a single-part object, or of a multipart object's part MD5s, checked
likewise); the MD5 rclone keeps as metadata (``x-amz-meta-md5chksum``: a
claim, held against the bytes like any other). The size is always
checked, and is all that is left when nothing else is offered. Every
digest is computed by the Rust core as the bytes arrive, and every result
names the check that proved it (:attr:`Expectation.method`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from .. import _core
from .._checksums import (
    ALGORITHMS,
    HASHES,
    METADATA_HEADER,
    composite,
    decode,
    decode_hash,
    encode,
    proof,
)
from .._results import ObjectInfo
from ..errors import IntegrityError

_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})(?:-(\d+))?"?$')
_MULTIPART_ETAG = re.compile(r'-(\d+)"?$')
#: The prefix of a user metadata header.
_META = "x-amz-meta-"
#: rclone's record of an object's MD5 (base64), kept as user metadata.
RCLONE_MD5 = _META + "md5chksum"


@dataclass(frozen=True)
class Expectation:
    """What the downloaded bytes must match."""

    size: int
    etag: str
    #: "crc32", "crc32c" or "crc64nvme" (a CRC); "sha256", "sha1" or "md5"
    #: (a hash); None: the size only.
    algorithm: str | None = None
    #: The CRC (int) or digest (bytes) expected.
    value: int | bytes | None = None
    #: Parts of a composite value (a checksum of the parts' checksums);
    #: None for a value of the whole object.
    parts: int | None = None
    #: Where the expected value came from, for log lines.
    source: str = "size"

    @property
    def crc(self) -> str | None:
        """The CRC algorithm to compute as the bytes arrive, if a CRC applies."""
        return self.algorithm if self.algorithm in ALGORITHMS else None

    @property
    def hash(self) -> str | None:
        """The hash to compute as the bytes arrive, if a hash applies."""
        return self.algorithm if self.algorithm in HASHES else None

    @property
    def full_crc(self) -> int | None:
        """The expected CRC of the whole object, if that is the check."""
        if self.crc is None or self.parts is not None:
            return None
        assert isinstance(self.value, int)
        return self.value

    @property
    def needs_sequential_read(self) -> bool:
        """A hash of the whole object cannot be combined from parts: hash
        the body in order."""
        return self.hash is not None and self.parts is None

    @property
    def method(self) -> str:
        """How the bytes are proven, as results name it: ``crc64nvme
        full-object``, ``crc32 composite 13 parts``, ``md5 etag``,
        ``md5 etag 4 parts``, ``md5 md5chksum``, ``size only``."""
        if self.source == RCLONE_MD5:
            return "md5 md5chksum"
        return proof(self.algorithm, self.parts)

    def shown(self, value: int | bytes) -> str:
        """A value of this check as S3 writes it (hex for an ETag's MD5)."""
        if isinstance(value, int):
            assert self.algorithm is not None
            return encode(value, self.algorithm)
        if self.algorithm == "md5":
            return value.hex()
        return base64.b64encode(value).decode("ascii")


def _native(headers: Mapping[str, str], size: int, etag: str, multipart: bool) -> list[Expectation]:
    """The checks the server's own ``x-amz-checksum-*`` headers allow,
    full-object ones first. A multipart object's value without a part
    count or a checksum type (moto's HEAD drops both) could be of either
    kind, and is left out: a GET of it has them."""
    kind = headers.get("x-amz-checksum-type")
    full, parts = [], []
    for algorithm in (*ALGORITHMS, *HASHES[:2]):
        header = "x-amz-checksum-" + algorithm
        body, _, count = headers.get(header, "").partition("-")
        value = decode(body, algorithm) if algorithm in ALGORITHMS else decode_hash(body, algorithm)
        if value is None:
            continue
        whole = kind == "FULL_OBJECT" or (kind is None and not multipart and not count)
        if whole:
            full.append(Expectation(size, etag, algorithm, value, source=header))
        elif count.isdigit():
            parts.append(
                Expectation(size, etag, algorithm, value, int(count), f"{header} (composite)")
            )
    crcs = [e for e in full if e.crc is not None]
    hashes = [e for e in full if e.crc is None]
    return [*crcs, *parts, *hashes]


def object_size(headers: Mapping[str, str]) -> int:
    """The whole object's size: from ``Content-Range`` on a ranged answer,
    else ``Content-Length``."""
    total = headers.get("content-range", "").rpartition("/")[2]
    return int(total if total.isdigit() else headers["content-length"])


def expectations(headers: Mapping[str, str]) -> list[Expectation]:
    """Every check the headers of a full GET (or HEAD) allow, strongest
    first, the size alone last; header names in lower case, as both data
    planes give them."""
    size = object_size(headers)
    etag = headers["etag"]
    multipart = _MULTIPART_ETAG.search(etag) is not None
    native = _native(headers, size, etag, multipart)
    found = [e for e in native if e.full_crc is not None]
    for algorithm in ALGORITHMS:
        crc = decode(headers.get(METADATA_HEADER + algorithm), algorithm)
        if crc is not None:
            found.append(
                Expectation(size, etag, algorithm, crc, source=METADATA_HEADER + algorithm)
            )
    found += [e for e in native if e.full_crc is None]
    md5 = _MD5_ETAG.match(etag)
    encrypted = headers.get("x-amz-server-side-encryption") == "aws:kms" or (
        "x-amz-server-side-encryption-customer-algorithm" in headers
    )
    if md5 and not encrypted:
        digest, count = bytes.fromhex(md5.group(1)), md5.group(2)
        parts = int(count) if count else None
        found.append(Expectation(size, etag, "md5", digest, parts, "ETag (MD5)"))
    claimed = decode_hash(headers.get(RCLONE_MD5), "md5")
    if claimed is not None:
        found.append(Expectation(size, etag, "md5", claimed, source=RCLONE_MD5))
    found.append(Expectation(size, etag))
    return found


def expectation(headers: Mapping[str, str]) -> Expectation:
    """The strongest check the headers of a full GET (or HEAD) allow."""
    return expectations(headers)[0]


def verify(expected: Expectation, parts: Sequence[_core.PartSink]) -> None:
    """Checks the part sinks of a finished download against ``expected``.

    ``parts`` are the Rust ``PartSink`` objects in file order, each made
    with ``expected.crc`` and ``expected.hash``. Raises
    :class:`IntegrityError` saying which check failed.
    """
    received = sum(p.length for p in parts)
    if received != expected.size:
        raise IntegrityError(
            f"size mismatch: expected {expected.size} bytes, received {received}",
            reason="SizeMismatch",
        )
    algorithm, want = expected.algorithm, expected.value
    if algorithm is None or want is None:
        return
    values: list[int | bytes] = []
    for part in parts:
        value = part.crc if expected.crc is not None else part.hash
        assert value is not None, "a part sink made without the check's digest"
        values.append(value)
    if expected.parts is None and expected.crc is not None:
        lengths = [p.length for p in parts]
        crcs = [int(v) for v in values if isinstance(v, int)]
        got: int | bytes = _core.combine_checksums(list(zip(crcs, lengths, strict=True)), algorithm)
    elif expected.parts is None:
        (got,) = values
    else:
        if expected.parts != len(parts):
            raise IntegrityError(
                f"composite checksum covers {expected.parts} parts, downloaded {len(parts)}",
                reason="ChecksumMismatch",
            )
        got = composite(values, algorithm)
    if got != want:
        raise IntegrityError(
            f"{expected.method} mismatch against {expected.source}: "
            f"expected {expected.shown(want)}, computed {expected.shown(got)}",
            reason="ChecksumMismatch",
        )


def object_info(key: str, headers: Mapping[str, str]) -> ObjectInfo:
    """What the headers of a HEAD answer (names in lower case, as either
    data plane gives them) say of ``key``: its size, ETag, type, caching,
    metadata and the strongest full-object checksum they prove."""
    found = expectations(headers)
    exp = found[0]
    modified = headers.get("last-modified")
    return ObjectInfo(
        key=key,
        size=exp.size,
        etag=exp.etag,
        last_modified=_http_date(modified) if modified else None,
        content_type=headers.get("content-type"),
        cache_control=headers.get("cache-control"),
        checksum=_full_crc(found),
        composite=_composite(found),
        content_encoding=headers.get("content-encoding"),
        metadata={
            name.removeprefix(_META): value
            for name, value in headers.items()
            if name.startswith(_META)
        },
        version_id=headers.get("x-amz-version-id"),
    )


def _full_crc(found: list[Expectation]) -> tuple[str, int] | None:
    """``(algorithm, CRC)`` of the whole object, if ``found`` has one."""
    for exp in found:
        crc = exp.full_crc
        if crc is not None and exp.algorithm is not None:
            return (exp.algorithm, crc)
    return None


def _composite(found: list[Expectation]) -> tuple[str, int | bytes, int] | None:
    """``(algorithm, value, parts)`` of the server's composite checksum."""
    for exp in found:
        native = exp.source.startswith("x-amz-checksum-")
        if native and exp.parts is not None and exp.algorithm and exp.value is not None:
            return (exp.algorithm, exp.value, exp.parts)
    return None


def _http_date(text: str) -> datetime | None:
    """An HTTP date (``Wed, 02 Dec 2026 10:00:00 GMT``), or None if it is
    not one."""
    from email.utils import parsedate_to_datetime  # email costs start-up

    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
