"""What an upload reads from: a caller's buffer (never copied) or a local
file (read part by part by the Rust core), with each part's CRC."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Protocol

from . import _core
from .errors import InvalidRequest, LocalIOError


def as_byte_view(data: object) -> memoryview:
    """A flat byte view of ``bytes``, ``bytearray`` or ``memoryview``.

    Raises :class:`InvalidRequest` (a ``ValueError``) for anything else or for
    a non-contiguous view; never copies.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidRequest(
            f"file_bytes must be bytes, bytearray or memoryview, not {type(data).__name__}",
            reason="InvalidType",
        )
    view = memoryview(data)
    if not view.c_contiguous:
        raise InvalidRequest("file_bytes memoryview must be contiguous", reason="InvalidType")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


class Source(Protocol):
    size: int

    def part_checksums(self, part_size: int) -> list[int]:
        """The CRC of each ``part_size`` slice, computed before any is sent."""

    def read(self, offset: int, length: int, expected_crc: int | None) -> tuple[memoryview, int]:
        """The bytes of one part and their CRC (``expected_crc`` when it was
        computed ahead by :meth:`part_checksums`)."""


class BufferSource:
    """Slices of the caller's buffer, hashed in place."""

    def __init__(self, view: memoryview, algorithm: str) -> None:
        self._view = view
        self._algorithm = algorithm
        self.size = len(view)

    def part_checksums(self, part_size: int) -> list[int]:
        return _core.part_checksums(self._view, part_size, self._algorithm)

    def read(self, offset: int, length: int, expected_crc: int | None) -> tuple[memoryview, int]:
        part = self._view[offset : offset + length]
        if expected_crc is None:
            return part, _core.checksum(part, self._algorithm)
        return part, expected_crc


class FileSource:
    """Parts of a local file, read when they are sent, so memory holds only
    the parts in flight. A part whose bytes differ from the CRC taken ahead
    means the file changed during the upload, which fails it."""

    def __init__(self, path: str | os.PathLike[str], algorithm: str) -> None:
        self._path = Path(path)
        self._algorithm = algorithm
        status = self._path.stat()
        if not stat.S_ISREG(status.st_mode):
            raise LocalIOError(f"{self._path}: not a regular file", reason="NotAFile")
        self.size = status.st_size

    def part_checksums(self, part_size: int) -> list[int]:
        return _core.file_part_checksums(self._path, self.size, part_size, self._algorithm)

    def read(self, offset: int, length: int, expected_crc: int | None) -> tuple[memoryview, int]:
        data, crc = _core.read_file_range(self._path, offset, length, self._algorithm)
        if expected_crc is not None and crc != expected_crc:
            raise LocalIOError(
                f"{self._path} changed during the upload (bytes {offset}-{offset + length})",
                reason="FileChanged",
            )
        return memoryview(data), crc
