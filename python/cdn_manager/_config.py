"""Transfer settings: sizes, concurrency, retries and timeouts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from .errors import ConfigError

MiB = 1024 * 1024
#: S3 refuses multipart parts smaller than this (except the last one).
MIN_PART_SIZE = 5 * MiB
#: S3 allows at most this many parts in one multipart upload.
MAX_PARTS = 10_000
#: Longest lifetime S3 allows for a presigned URL (7 days).
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
#: Default of a sync's ``max_delete``: a plan deleting more is refused.
MAX_DELETE = 1000
#: Overrides the default of ``TransferConfig.data_plane`` (e.g. to run a
#: whole test suite on one plane).
DATA_PLANE_ENV = "CDN_MANAGER_DATA_PLANE"
#: "off" turns the native plane's socket tuning off by default.
SOCKET_TUNING_ENV = "CDN_MANAGER_SOCKET_TUNING"
DataPlaneChoice = Literal["auto", "native", "boto3"]
_DATA_PLANES = ("auto", "native", "boto3")


def _default_data_plane() -> DataPlaneChoice:
    value = os.environ.get(DATA_PLANE_ENV, "auto")
    if value not in _DATA_PLANES:
        raise ConfigError(f"{DATA_PLANE_ENV} must be one of {', '.join(_DATA_PLANES)}")
    return cast(DataPlaneChoice, value)


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
    #: Parts in flight at once for the manager's transfers, and files hashed at once.
    concurrency: int = 8
    #: Objects moved or looked up at once: the items of a batch
    #: (``upload_many``, ``download_many``), the files and HEADs of a push or
    #: pull, the calls of an :class:`AsyncCDNManager`; each on a worker thread
    #: of its own, its parts on the ``concurrency`` part workers. Small
    #: objects cost a round trip each, not bandwidth: at 8 a 3,000-file pull
    #: through a relay adding milliseconds took 17.6 s, at 32 8.3 s. Further
    #: items wait their turn holding no connection and no copy of their
    #: payload; with the part workers beside them, connections stay within
    #: the pool's size. A file under ``multipart_threshold`` is read whole
    #: when sent, so uploads of such files hold up to ``max_in_flight`` of them.
    max_in_flight: int = 32
    #: Attempts per request (and per part) before giving up, transient
    #: failures included: connection resets, timeouts, 500, 503 SlowDown,
    #: truncated or corrupted bodies.
    max_attempts: int = 5
    #: Seconds to wait for a TCP connection.
    connect_timeout: float = 3.0
    #: Seconds to wait for the next bytes of a response.
    read_timeout: float = 30.0
    #: The CRC family used for upload checksums ("crc32" or "crc32c").
    checksum_algorithm: str = "crc32"
    #: Tokens for retries, shared by all the manager's requests (botocore's
    #: standard retry quota): a retry costs 5 (10 after a timeout or a lost
    #: connection), a success earns 1 back. Bounds the retries a failing
    #: server gets from many parallel parts.
    retry_quota: int = 500
    #: Also compare each uploaded part's ETag with the MD5 of the bytes
    #: sent, and resend a part the server stored differently. For servers
    #: that do not check the CRC every request carries (moto, older
    #: S3-compatible stores); uploads then always go as multipart, and MD5
    #: costs about 2 s of CPU per GiB. AWS, MinIO and R2 check the CRC.
    verify_etag: bool = False
    #: Keep what an interrupted transfer of a file did for the next run: a
    #: ranged download's hidden temporary file and journal beside the
    #: destination, a multipart upload's stored parts (and its journal in
    #: the user's cache folder); the next run moves only the rest. False:
    #: an interrupted transfer leaves nothing (an upload is aborted) and
    #: the next starts from byte 0.
    resume: bool = True
    #: Seconds after which what an interrupted transfer kept is stale: the
    #: manager's first download into a folder removes the folder's older
    #: leftovers, its first file upload aborts this endpoint's older
    #: interrupted uploads (and removes their journals). Default 7 days.
    stale_after: float = 7 * 24 * 3600.0
    #: How object bytes travel: "native" (the Rust HTTP client), "boto3"
    #: (botocore's), or "auto": native unless the endpoint turns native
    #: requests away that boto3 gets through (then boto3, with a WARNING, as
    #: ``CDNManager.data_plane`` shows). Default: $CDN_MANAGER_DATA_PLANE,
    #: else "auto".
    data_plane: DataPlaneChoice = field(default_factory=_default_data_plane)
    #: Proxies by URL scheme, as botocore takes them
    #: (``{"https": "http://proxy:3128"}``); None: the environment's
    #: (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``). Both planes use them.
    proxies: Mapping[str, str] | None = None
    #: A PEM file of the CAs to trust for the endpoint's TLS certificate,
    #: instead of Mozilla's roots. Default: $AWS_CA_BUNDLE, as botocore.
    ca_bundle: str | None = field(default_factory=lambda: os.environ.get("AWS_CA_BUNDLE"))
    #: Linux socket tuning on the native plane (quick ACKs, batched reads of
    #: large bodies; see docs/design.md). Default: on, unless
    #: $CDN_MANAGER_SOCKET_TUNING is "off".
    socket_tuning: bool = field(
        default_factory=lambda: os.environ.get(SOCKET_TUNING_ENV, "").lower() != "off"
    )
    #: At most this many bytes per second through all of the manager's
    #: transfers together, uploads and downloads alike (one budget, shared by
    #: every part); None: no limit.
    max_bandwidth: int | None = None

    def __post_init__(self) -> None:
        if self.part_size < MIN_PART_SIZE:
            raise ConfigError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        for name in ("multipart_threshold", "download_threshold"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        if self.retry_quota < 0:
            raise ConfigError("retry_quota must not be negative")
        for name in ("concurrency", "max_in_flight", "max_attempts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        for name in ("connect_timeout", "read_timeout", "stale_after"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.checksum_algorithm not in ("crc32", "crc32c"):
            raise ConfigError("checksum_algorithm must be 'crc32' or 'crc32c'")
        if self.data_plane not in _DATA_PLANES:
            raise ConfigError(f"data_plane must be one of {', '.join(_DATA_PLANES)}")
        limit = self.max_bandwidth
        if limit is not None and (type(limit) is not int or limit < 1):
            raise ConfigError(
                "max_bandwidth must be a whole number of bytes per second, at least 1 "
                "(None: no limit)"
            )

    @property
    def pool_size(self) -> int:
        """Connections each HTTP client keeps for reuse: room for every
        in-flight transfer's own request plus the part workers."""
        return max(32, 4 * self.concurrency, self.max_in_flight + self.concurrency)

    def part_size_for(self, size: int) -> int:
        """The part size for an object of ``size`` bytes: ``part_size``, or
        larger if that would take more than 10,000 parts."""
        return max(self.part_size, -(-size // MAX_PARTS))
