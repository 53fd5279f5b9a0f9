"""Self-describing contents: every object and file the soak writes says which
key and which version it is, so "exact or absent" can be checked anywhere
(in the bucket, on disk, in a worker) without a record of what was sent.

A blob is a 48-byte header (magic, size, version, seed, the first 16 bytes
of the SHA-256 of its key) and ``size - 48`` bytes drawn from
``random.Random(seed)``: any flipped, missing or extra byte, or a blob
stored under another key, fails :func:`check`.
"""

from __future__ import annotations

import hashlib
import random
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"CDNSOAK1"
HEADER = struct.Struct("<8sQQQ16s")
#: The smallest blob: its header.
MIN_SIZE = HEADER.size


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()[:16]


def seed_of(key: str, version: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{key}\0{version}".encode()).digest()[:8], "little")


def make(key: str, size: int, version: int = 1) -> bytes:
    """The blob of ``key`` at ``version``, ``size`` bytes (at least :data:`MIN_SIZE`)."""
    size = max(size, MIN_SIZE)
    seed = seed_of(key, version)
    head = HEADER.pack(MAGIC, size, version, seed, key_digest(key))
    return head + random.Random(seed).randbytes(size - HEADER.size)


@dataclass(frozen=True)
class Found:
    """What a blob says it is; ``problem`` is None when it is exact."""

    version: int
    problem: str | None


def check(data: bytes, key: str) -> Found:
    """Whether ``data`` is exactly some version of ``key``'s blob."""
    if len(data) < HEADER.size:
        return Found(0, f"{len(data)} bytes, shorter than a header")
    magic, size, version, seed, digest = HEADER.unpack_from(data)
    if magic != MAGIC:
        return Found(0, "no soak header (corrupt first bytes)")
    if digest != key_digest(key):
        return Found(version, "the blob of another key")
    if size != len(data):
        return Found(version, f"{len(data)} bytes where the header says {size}")
    if seed != seed_of(key, version):
        return Found(version, "a header whose seed is not its version's")
    body = random.Random(seed).randbytes(size - HEADER.size)
    if data[HEADER.size :] != body:
        at = next(
            i for i, (a, b) in enumerate(zip(data[HEADER.size :], body, strict=True)) if a != b
        )
        return Found(version, f"differs at byte {HEADER.size + at}")
    return Found(version, None)


def check_file(path: Path, key: str) -> Found:
    return check(path.read_bytes(), key)


def write(path: Path, key: str, size: int, version: int = 1) -> int:
    """Writes the blob of ``key`` to ``path`` (folders made); its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = make(key, size, version)
    path.write_bytes(data)
    return len(data)
