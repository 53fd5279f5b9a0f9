"""What a deploy uploads from: the planned file, held to the content it was
planned with, or its compressed bytes (compressed by the Rust core).

A file that changed since planning would otherwise be uploaded under the
checksum and headers chosen for its old content; it fails with
:class:`LocalIOError` (reason ``FileChanged``) instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import _core
from .._escape import shown
from .._sync.local import LocalFile
from .._transfers.sources import BufferSource, FileSource, PlannedFile
from ..errors import LocalIOError


def _changed(file: LocalFile) -> LocalIOError:
    return LocalIOError(
        f"{shown(str(file.path))} changed since the deploy was planned", reason="FileChanged"
    )


class PlannedFileSource(FileSource):
    """The planned file: opened without following a link and checked on the
    open descriptor to be the very file planned (:class:`PlannedFile`: a
    link or another file is :class:`UnsafePath`), then refused as changed if
    its size or its bytes' checksum is not the planned one."""

    def __init__(self, file: LocalFile, algorithm: str, crc: int) -> None:
        device, inode, size = file.identity[:3]
        try:
            super().__init__(file.path, algorithm, planned=PlannedFile(file.path, device, inode))
        except FileNotFoundError:
            raise _changed(file) from None
        if self.size != size:
            self.close()
            raise _changed(file)
        self._file, self._algorithm_name, self._crc = file, algorithm, crc

    def part_checksums(self, part_size: int, control: _core.Control) -> list[int]:
        crcs = super().part_checksums(part_size, control)
        lengths = [min(part_size, self.size - start) for start in range(0, self.size, part_size)]
        pairs = list(zip(crcs, lengths, strict=True))
        if _core.combine_checksums(pairs, self._algorithm_name) != self._crc:
            raise _changed(self._file)
        return crcs

    def read(self, offset: int, length: int, expected_crc: int | None) -> tuple[memoryview, int]:
        data, crc = super().read(offset, length, expected_crc)
        if expected_crc is None and length == self.size and crc != self._crc:
            raise _changed(self._file)
        return data, crc


@dataclass(frozen=True)
class Compressed:
    """A file's compressed bytes, proven to come from the planned content."""

    data: bytes
    #: CRC of ``data`` (the stored bytes) in the upload algorithm.
    stored_crc: int

    def source(self, algorithm: str) -> BufferSource:
        return BufferSource(memoryview(self.data), algorithm)


def compress(file: LocalFile, encoding: str, algorithm: str, crc: int) -> Compressed:
    """``file`` compressed with ``encoding``; raises :class:`LocalIOError`."""
    try:
        data, source_crc, before, after = _core.compress_file(file.path, encoding, algorithm)
    except OSError as err:
        raise LocalIOError(
            f"compress {shown(str(file.path))}: {err.strerror or err}", reason=type(err).__name__
        ) from None
    if before[:3] != file.identity[:3] or after != before or source_crc != crc:
        raise _changed(file)
    return Compressed(data, _core.checksum(data, algorithm))
