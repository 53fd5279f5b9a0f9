"""The compiled Rust core: safe local paths, atomic writes, checksums."""

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import final

from typing_extensions import Buffer

__all__ = [
    "Bandwidth",
    "Control",
    "Destination",
    "Engine",
    "FileReader",
    "FileWriter",
    "MemoryWriter",
    "PartSink",
    "Response",
    "__version__",
    "checksum",
    "combine_checksums",
    "compress_file",
    "digest",
    "file_digests",
    "file_part_checksums",
    "file_part_hashes",
    "part_checksums",
    "sign_request",
]

#: ``(device, inode, size, mtime_ns, ctime_ns)`` of a file, as fstat saw it.
_Identity = tuple[int, int, int, int, int]

#: The package's version (Cargo.toml's).
__version__: str

def checksum(data: Buffer, algorithm: str = "crc32") -> int:
    """CRC ("crc32", "crc32c" or "crc64nvme") of a bytes-like object, GIL
    released (a mutable buffer is hashed from copies taken under the GIL)."""

def digest(data: Buffer, hash: str = "md5") -> bytes:
    """The ``hash`` ("md5", "sha1" or "sha256") of a bytes-like object, as
    raw bytes, GIL released (as ``checksum``)."""

def part_checksums(data: Buffer, part_size: int, algorithm: str = "crc32") -> list[int]:
    """CRC of each ``part_size`` slice of ``data``, in order."""

def sign_request(
    credentials: tuple[str, str, str | None],
    region: str,
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    unix_time: int,
) -> list[tuple[str, str]]:
    """The headers the native plane sends for ``method url`` (``url``
    percent-encoded as sent) with ``headers``, signed at ``unix_time``:
    the caller's headers (names in lower case, values as given, a repeated
    name as one line of its trimmed values joined by ``,``), ``host``,
    ``x-amz-date``, ``x-amz-content-sha256`` (``UNSIGNED-PAYLOAD`` for PUT,
    the hash of an empty body otherwise), ``x-amz-security-token`` and
    ``authorization``."""

def combine_checksums(parts: Sequence[tuple[int, int]], algorithm: str = "crc32") -> int:
    """CRC of the concatenation of parts given as ``(crc, length)``."""

def file_part_checksums(
    path: str | os.PathLike[str], size: int, part_size: int, algorithm: str = "crc32"
) -> list[int]:
    """CRC of each ``part_size`` slice of the file's first ``size`` bytes."""

def file_part_hashes(
    path: str | os.PathLike[str], size: int, part_size: int, hash: str = "md5"
) -> list[bytes]:
    """The ``hash`` ("md5", "sha1" or "sha256") of each ``part_size`` slice
    of the file's first ``size`` bytes: what a multipart object's composite
    hash (or multipart ETag) is made of."""

def file_digests(
    path: str | os.PathLike[str], algorithms: Sequence[str], md5: bool = False
) -> tuple[list[int], str | None, _Identity, _Identity]:
    """The whole file's CRC for each of ``algorithms`` and, if ``md5``, its
    hex MD5, from one read (symbolic links are not followed, only regular
    files are read); with the file's identity before and after the read."""

def compress_file(
    path: str | os.PathLike[str], encoding: str, algorithm: str = "crc32"
) -> tuple[bytes, int, _Identity, _Identity]:
    """The file compressed (``encoding`` "gzip" or "br"), the CRC of its
    uncompressed bytes, and its identity before and after the read."""

@final
class Destination:
    """Where a download lands: ``key`` checked, the folders it needs created
    below ``folder``, the file's folder held open (never through a link
    below ``folder``). Raises ``UnsafePath`` or ``OSError``."""

    def __new__(cls, folder: str | os.PathLike[str], key: str) -> Destination: ...
    @property
    def path(self) -> Path:
        """``folder/key``."""
    @property
    def journaled(self) -> bool:
        """Whether an earlier, interrupted download left a journal here."""

@final
class FileReader:
    """A local file opened once for an upload; every read uses that descriptor."""

    def __new__(
        cls,
        path: str | os.PathLike[str],
        follow: bool = False,
        expected: tuple[int, int] | None = None,
    ) -> FileReader:
        """Opens ``path`` (a final symbolic link refused unless ``follow``) and
        checks a regular file, of identity ``expected`` = (device, inode) if
        given. Raises ``UnsafePath`` or ``OSError``."""
    def part_checksums(
        self, part_size: int, algorithm: str = "crc32", control: Control | None = None
    ) -> list[int]:
        """CRC of each ``part_size`` slice; stops once ``control`` is cancelled."""
    def read(self, offset: int, length: int, algorithm: str = "crc32") -> tuple[bytes, int]:
        """``length`` bytes from ``offset`` and their CRC."""
    def close(self) -> None: ...
    @property
    def size(self) -> int: ...
    @property
    def device(self) -> int: ...
    @property
    def inode(self) -> int: ...
    @property
    def mtime_ns(self) -> int:
        """The file's modification time when opened, in nanoseconds."""
    @property
    def path(self) -> Path: ...

@final
class Bandwidth:
    """A manager's bandwidth limit: one token bucket for all its transfers."""

    def __new__(cls, bytes_per_second: int) -> Bandwidth:
        """At most ``bytes_per_second`` (>= 1; else ``ValueError`` or
        ``OverflowError``) through every ``Control`` given it."""

@final
class Control:
    """Progress, cancellation and bandwidth limit of one transfer."""

    def __new__(
        cls,
        progress: Callable[[int], object] | None = None,
        bandwidth: Bandwidth | None = None,
    ) -> Control: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...
    def check(self) -> None:
        """Raises ``Cancelled`` once ``cancel()`` was called."""
    def advance(self, n: int) -> None:
        """Records ``n`` bytes of progress (negative to take back a failed
        attempt) without spending bandwidth."""
    def moved(self, n: int) -> None:
        """Records ``n`` bytes that crossed the wire and waits, without the
        GIL, until the bandwidth limit allows them; raises ``Cancelled`` if
        the transfer is cancelled meanwhile."""
    @property
    def transferred(self) -> int: ...

@final
class Engine:
    """The native data plane: signed S3 requests over pooled connections."""

    def __new__(
        cls,
        endpoint: str,
        region: str | None,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int,
        ca_bundle: str | os.PathLike[str] | None = None,
        proxy: str | None = None,
        socket_tuning: bool = True,
        max_bandwidth: int | None = None,
    ) -> Engine:
        """Raises ``ConfigError`` for a proxy it cannot use (http and https
        proxies only), ``ValueError`` for a bad endpoint or bundle.
        ``max_bandwidth``: the manager's limit, which keeps each connection's
        receive buffer small."""
    def region_for(self, bucket: str) -> str:
        """The region requests on ``bucket`` are signed for: the configured
        one, else the one its server named, else ``us-east-1``."""
    def locate(self, credentials: tuple[str, str, str | None], bucket: str) -> str:
        """Asks the server which region ``bucket`` is signed for (learning
        it unless one is configured) and returns it. Raises
        ``WrongRegion`` when the configured one is refused with the
        server's own named, ``TransportError`` when it cannot be reached."""
    def get(
        self,
        credentials: tuple[str, str, str | None],
        bucket: str,
        key: str,
        byte_range: tuple[int, int] | None = None,
        if_match: str | None = None,
        control: Control | None = None,
    ) -> Response:
        """GET with the stored checksum asked for; the body is left unread.
        Raises ``S3Error`` for an error answer, ``TransportError`` when the
        server cannot be reached; stops waiting for the answer once
        ``control`` is cancelled."""
    def head(
        self, credentials: tuple[str, str, str | None], bucket: str, key: str
    ) -> dict[str, str]:
        """HEAD with the stored checksum asked for; returns the answer's
        headers, names in lower case. Raises ``S3Error`` (its code the
        status, as the answer has no body) or ``TransportError``."""
    def list(
        self,
        credentials: tuple[str, str, str | None],
        bucket: str,
        params: list[tuple[str, str]],
    ) -> bytes:
        """One ListObjectsV2 page of ``bucket``, its query ``params`` named as
        S3 names them (``list-type``, ``prefix``, ...); returns the XML body.
        Raises ``S3Error`` or ``TransportError``."""
    def put(
        self,
        credentials: tuple[str, str, str | None],
        bucket: str,
        key: str,
        body: Buffer,
        checksum: tuple[str, int],
        headers: Sequence[tuple[str, str]],
        control: Control,
        part: tuple[str, int] | None = None,
    ) -> dict[str, str]:
        """PUT ``body`` with its CRC ``checksum`` (``("crc32" | "crc32c",
        value)``, sent as ``x-amz-checksum-*``), or part ``(upload_id,
        number)`` of a multipart upload; returns the response headers. A
        ``bytes`` body is sent in place, any other buffer from a copy."""

@final
class Response:
    """A GET response whose body has not been read yet."""

    @property
    def headers(self) -> dict[str, str]: ...
    def read_into(self, sink: PartSink, length: int) -> None:
        """Streams exactly ``length`` body bytes into ``sink``."""
    def close(self) -> None:
        """Drops the connection unless the body was read to its end; during
        a read it returns at once, and the read ends the connection."""

@final
class FileWriter:
    """A download in progress: a temporary file committed atomically."""

    def __new__(
        cls,
        destination: Destination,
        size: int,
        journal: str | None = None,
        algorithm: str | None = None,
    ) -> FileWriter:
        """Creates the temporary file (``size`` bytes) in the folder
        ``destination`` holds open; with ``journal`` (a header line) and
        ``algorithm``, a resumable download that reopens what an earlier
        run kept (raises ``DownloadBusy`` if another process holds it)."""
    @property
    def kept(self) -> list[PartSink]:
        """Sinks of the ranges an earlier run completed, read back intact."""
    def finished(self, sink: PartSink) -> None:
        """Start writing ``sink``'s range to disk; if resumable, sync the file,
        then journal the range (a large file's writer thread does both later)."""
    def part(
        self,
        offset: int,
        algorithm: str | None = None,
        hash: str | None = None,
        control: Control | None = None,
    ) -> PartSink:
        """A sink writing consecutive bytes from ``offset``, digesting them."""
    def commit(self) -> None:
        """fsync, rename over the destination, fsync the folder."""
    def abort(self, keep: bool = False) -> None:
        """Remove the temporary file (``keep``: a resumable download that
        completed a range keeps it and its journal); idempotent."""
    @property
    def temp_path(self) -> Path | None: ...
    @property
    def destination(self) -> Path: ...

@final
class MemoryWriter:
    """A download into a new ``bytes`` object, handed out when complete."""

    def __new__(cls, size: int) -> MemoryWriter: ...
    def part(
        self,
        offset: int,
        algorithm: str | None = None,
        hash: str | None = None,
        control: Control | None = None,
    ) -> PartSink: ...
    def commit(self) -> bytes: ...
    def abort(self, keep: bool = False) -> None: ...
    @property
    def kept(self) -> list[PartSink]: ...
    def finished(self, sink: PartSink) -> None: ...

@final
class PartSink:
    """Writes one byte range of a download and digests it."""

    def write(self, data: Buffer) -> None: ...
    def discard(self) -> None:
        """Takes back this sink's progress before the part is fetched again."""
    @property
    def start(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def crc(self) -> int | None: ...
    @property
    def hash(self) -> bytes | None:
        """The hash asked for (``part(hash=...)``) of the bytes written."""
