"""Transfer settings: sizes, concurrency, retries and timeouts."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError

MiB = 1024 * 1024
#: S3 refuses multipart parts smaller than this (except the last one).
MIN_PART_SIZE = 5 * MiB
#: S3 allows at most this many parts in one multipart upload.
MAX_PARTS = 10_000


@dataclass(frozen=True)
class TransferConfig:
    """How the manager moves bytes. Every field has a default that suits a
    CDN origin on a fast network; all sizes are in bytes."""

    #: Uploads larger than this use multipart, with parts sent concurrently.
    multipart_threshold: int = 16 * MiB
    #: Downloads larger than this use concurrent ranged GETs.
    download_threshold: int = 16 * MiB
    #: Size of each upload part and download range (grown if an object would
    #: otherwise need more than 10,000 parts).
    part_size: int = 8 * MiB
    #: Parts in flight at once for one transfer, and the connection pool size.
    concurrency: int = 8
    #: Transfers (or other calls) an :class:`AsyncCDNManager` runs at once,
    #: each on one of its worker threads; further calls wait their turn holding
    #: no connection and no copy of their payload. With ``concurrency`` part
    #: workers beside them, connections stay within the pool's size.
    max_in_flight: int = 16
    #: Attempts per request (and per part) before giving up, transient
    #: failures included: connection resets, timeouts, 500, 503 SlowDown,
    #: truncated or corrupted bodies.
    max_attempts: int = 5
    #: Seconds to wait for a TCP connection.
    connect_timeout: float = 3.0
    #: Seconds to wait for the next bytes of a response.
    read_timeout: float = 30.0
    #: Region used for signing; S3-compatible stores mostly ignore it.
    region: str = "us-east-1"
    #: The CRC family used for upload checksums ("crc32" or "crc32c").
    checksum_algorithm: str = "crc32"

    def __post_init__(self) -> None:
        if self.part_size < MIN_PART_SIZE:
            raise ConfigError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        for name in ("multipart_threshold", "download_threshold"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        for name in ("concurrency", "max_in_flight", "max_attempts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        for name in ("connect_timeout", "read_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.checksum_algorithm not in ("crc32", "crc32c"):
            raise ConfigError("checksum_algorithm must be 'crc32' or 'crc32c'")

    def part_size_for(self, size: int) -> int:
        """The part size for an object of ``size`` bytes: ``part_size``, or
        larger if that would take more than 10,000 parts."""
        return max(self.part_size, -(-size // MAX_PARTS))
