"""A seekable file-like view of a caller's buffer, so boto3 can stream and
re-send (on retry) any slice of it without a copy of the whole."""

from __future__ import annotations

import io
from typing import Any

from .errors import InvalidRequest


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


class BufferReader(io.RawIOBase):
    """Reads a memoryview; ``read`` copies only the chunk asked for."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view
        self._pos = 0

    def __len__(self) -> int:
        return len(self._view)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), len(self._view) - self._pos)
        if n <= 0:
            return 0
        buffer[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos
