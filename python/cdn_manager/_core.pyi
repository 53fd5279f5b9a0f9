"""The compiled Rust core: safe local paths, atomic writes, checksums."""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import final

from typing_extensions import Buffer

__all__ = [
    "FileWriter",
    "PartSink",
    "checksum",
    "combine_checksums",
    "part_checksums",
    "prepare_destination",
]

def checksum(data: Buffer, algorithm: str = "crc32") -> int:
    """CRC ("crc32" or "crc32c") of a bytes-like object, GIL released."""

def part_checksums(data: Buffer, part_size: int, algorithm: str = "crc32") -> list[int]:
    """CRC of each ``part_size`` slice of ``data``, in order."""

def combine_checksums(parts: Sequence[tuple[int, int]], algorithm: str = "crc32") -> int:
    """CRC of the concatenation of parts given as ``(crc, length)``."""

def prepare_destination(folder: str | os.PathLike[str], key: str) -> Path:
    """Checks ``key``, creates the folders it needs below ``folder``, returns
    ``folder/key``. Raises ``UnsafePath`` or ``OSError``."""

@final
class FileWriter:
    """A download in progress: a temporary file committed atomically."""

    def __new__(cls, destination: str | os.PathLike[str], size: int) -> FileWriter: ...
    def part(self, offset: int, algorithm: str | None = None, md5: bool = False) -> PartSink:
        """A sink writing consecutive bytes from ``offset``, digesting them."""
    def commit(self) -> None:
        """fsync, rename over the destination, fsync the folder."""
    def abort(self) -> None:
        """Remove the temporary file; idempotent."""
    @property
    def temp_path(self) -> Path | None: ...
    @property
    def destination(self) -> Path: ...

@final
class PartSink:
    """Writes one byte range of a download and digests it."""

    def write(self, data: Buffer) -> None: ...
    @property
    def length(self) -> int: ...
    @property
    def crc(self) -> int | None: ...
    @property
    def md5_hex(self) -> str | None: ...
