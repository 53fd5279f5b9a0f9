"""What an upload reads from: a caller's buffer (never copied) or a local
file (opened once and read part by part by the Rust core), with each part's
CRC; and :class:`PlannedFile`, a file pinned by its identity when an upload
was planned."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .. import _core
from .._escape import shown
from ..errors import IntegrityError, InvalidRequest, LocalIOError, UnsafePath


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


@dataclass(frozen=True)
class PlannedFile:
    """A local file as it was when an upload was planned: its path and its
    identity (``st_dev``, ``st_ino``).

    Given to ``upload_many`` as an item's data, it makes the upload open
    ``path`` without following a symbolic link and check, on the open
    descriptor and before reading a byte, that it is still that regular
    file: a file swapped (for a link to a secret, or another file) between
    planning and uploading fails its item with :class:`UnsafePath` and
    nothing of it is sent.
    """

    path: str | os.PathLike[str]
    device: int
    inode: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> PlannedFile:
        """The file at ``path`` as it is now, not following a symbolic link.
        Raises :class:`UnsafePath` for a link or anything but a regular
        file, ``OSError`` if it cannot be inspected."""
        status = os.lstat(path)
        if stat.S_ISLNK(status.st_mode):
            raise UnsafePath(f"{shown(os.fspath(path))}: is a symbolic link")
        if not stat.S_ISREG(status.st_mode):
            raise UnsafePath(f"{shown(os.fspath(path))}: is not a regular file")
        return cls(path, status.st_dev, status.st_ino)


class Source(Protocol):
    size: int

    def part_checksums(self, part_size: int, control: _core.Control) -> list[int]:
        """The CRC of each ``part_size`` slice, computed before any is sent;
        stops with the transfer's cancellation."""

    def read(self, offset: int, length: int, expected_crc: int | None) -> tuple[memoryview, int]:
        """The bytes of one part and their CRC (``expected_crc`` when it was
        computed ahead by :meth:`part_checksums`)."""

    def close(self) -> None:
        """Releases what the source holds (a file's descriptor)."""


def _immutable(view: memoryview) -> bool:
    """Whether nothing can change the bytes behind ``view`` (a ``bytes``)."""
    return isinstance(view.obj, bytes)


class BufferSource:
    """Slices of the caller's buffer. ``bytes`` are hashed and sent in
    place; any other buffer (a ``bytearray``, an mmap, ...) could change
    under the upload, so each part is copied once and the copy checked
    against the CRC taken ahead: a buffer changed since then fails the
    upload (``IntegrityError``, reason ``BufferChanged``) before the part is
    sent, and what is stored is always exactly what its CRCs say."""

    def __init__(self, view: memoryview, algorithm: str) -> None:
        self._view = view
        self._algorithm = algorithm
        self._stable = _immutable(view)
        self.size = len(view)

    def part_checksums(self, part_size: int, control: _core.Control) -> list[int]:
        # Memory is hashed at several GB/s: a cancellation waits for no more.
        return _core.part_checksums(self._view, part_size, self._algorithm)

    def read(self, offset: int, length: int, expected_crc: int | None) -> tuple[memoryview, int]:
        part = self._view[offset : offset + length]
        if self._stable and expected_crc is not None:
            # Nothing can change a ``bytes``: the CRC taken ahead still holds.
            return part, expected_crc
        if not self._stable:
            # One copy, taken while holding the GIL: no Python thread can
            # change it half-way, and nothing can change it afterwards.
            part = memoryview(part.tobytes())
        crc = _core.checksum(part, self._algorithm)
        if expected_crc is not None and crc != expected_crc:
            raise IntegrityError(
                f"the buffer changed during the upload (bytes {offset}-{offset + length})",
                reason="BufferChanged",
            )
        return part, crc

    def close(self) -> None:
        pass


class FileSource:
    """Parts of a local file, read when they are sent, so memory holds only
    the parts in flight. The file is opened once, here, and every part read
    from that descriptor (it cannot be swapped between parts); a part whose
    bytes differ from the CRC taken ahead means the file changed during the
    upload, which fails it.

    ``follow``: a symbolic link named by ``path`` is followed (once, now);
    otherwise it is refused. ``planned``: the file must still be that one.
    Raises :class:`UnsafePath` (link, not a regular file, not the planned
    file) or ``OSError``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        algorithm: str,
        *,
        follow: bool = False,
        planned: PlannedFile | None = None,
    ) -> None:
        expected = None if planned is None else (planned.device, planned.inode)
        self._reader = _core.FileReader(path, follow, expected)
        self._algorithm = algorithm
        self.size = self._reader.size

    @property
    def path(self) -> Path:
        return self._reader.path

    @property
    def identity(self) -> tuple[int, int, int, int]:
        """``(device, inode, size, mtime_ns)`` of the file as opened."""
        reader = self._reader
        return (reader.device, reader.inode, reader.size, reader.mtime_ns)

    def part_checksums(self, part_size: int, control: _core.Control) -> list[int]:
        return self._reader.part_checksums(part_size, self._algorithm, control)

    def read(self, offset: int, length: int, expected_crc: int | None) -> tuple[memoryview, int]:
        data, crc = self._reader.read(offset, length, self._algorithm)
        if expected_crc is not None and crc != expected_crc:
            raise LocalIOError(
                f"{shown(os.fspath(self._reader.path))} changed during the upload "
                f"(bytes {offset}-{offset + length})",
                reason="FileChanged",
            )
        return memoryview(data), crc

    def close(self) -> None:
        self._reader.close()
