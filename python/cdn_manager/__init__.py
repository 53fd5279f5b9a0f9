"""cdn-manager: move files to and from S3-compatible CDN storage with a
read-only key for downloads and a write key for uploads, on a Rust core."""

from .audit import AuditReport, Finding
from .config import TransferConfig
from .credentials import CDNCredentials
from .errors import (
    AccessDenied,
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

__all__ = [
    "AccessDenied",
    "AuditReport",
    "CDNCredentials",
    "CDNError",
    "CDNManager",
    "ConfigError",
    "CredentialsRejected",
    "Finding",
    "IntegrityError",
    "InvalidRequest",
    "LocalIOError",
    "NotFound",
    "TransferConfig",
    "TransferError",
    "UnsafePath",
]
