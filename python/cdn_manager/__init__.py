"""cdn-manager: move files to and from S3-compatible CDN storage with a
read-only key for downloads and a write key for uploads, on a Rust core."""

from .audit import AuditReport, Finding
from .config import TransferConfig
from .credentials import CDNCredentials
from .errors import (
    AccessDenied,
    Cancelled,
    CDNError,
    ConfigError,
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
    "AuditReport",
    "CDNCredentials",
    "CDNError",
    "CDNManager",
    "Cancelled",
    "ConfigError",
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
