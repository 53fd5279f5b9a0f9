"""cdn-manager: move files to and from S3-compatible CDN storage with a
read-only key for downloads and a write key for uploads, on a Rust core."""

from .aio import AsyncCDNManager
from .audit import AuditReport, Finding
from .config import TransferConfig
from .credentials import CDNCredentials
from .errors import (
    AccessDenied,
    Cancelled,
    CDNError,
    ConfigError,
    Conflict,
    CredentialsRejected,
    IntegrityError,
    InvalidRequest,
    LocalIOError,
    NotFound,
    TransferError,
    UnsafePath,
)
from .manager import CDNManager
from .objects import ObjectInfo, TransferResult

__all__ = [
    "AccessDenied",
    "AsyncCDNManager",
    "AuditReport",
    "CDNCredentials",
    "CDNError",
    "CDNManager",
    "Cancelled",
    "ConfigError",
    "Conflict",
    "CredentialsRejected",
    "Finding",
    "IntegrityError",
    "InvalidRequest",
    "LocalIOError",
    "NotFound",
    "ObjectInfo",
    "TransferConfig",
    "TransferError",
    "TransferResult",
    "UnsafePath",
]
