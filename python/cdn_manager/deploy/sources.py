"""What a deploy uploads from: the planned file, held to the content it was
planned with, or its compressed bytes (compressed by the Rust core).

A file that changed since planning would otherwise be uploaded under the
checksum and headers chosen for its old content; it fails with
:class:`LocalIOError` (reason ``FileChanged``) instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import _core
from ..errors import LocalIOError
from ..escape import shown
from ..source import BufferSource, FileSource
from .local import LocalFile, identity_of


def _changed(file: LocalFile) -> LocalIOError:
    return LocalIOError(
        f"{shown(str(file.path))} changed since the deploy was planned", reason="FileChanged"
    )


class PlannedFileSource(FileSource):
    """The planned file, refused if it is another file now (device, inode,
    size, not a symbolic link) or its bytes have another checksum."""

    def __init__(self, file: LocalFile, algorithm: str, crc: int) -> None:
        try:
            status = file.path.lstat()
        except OSError:
            raise _changed(file) from None
        if identity_of(status)[:3] != file.identity[:3]:
            raise _changed(file)
        super().__init__(file.path, algorithm)
        self._file, self._algorithm_name, self._crc = file, algorithm, crc

    def part_checksums(self, part_size: int) -> list[int]:
        crcs = super().part_checksums(part_size)
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
