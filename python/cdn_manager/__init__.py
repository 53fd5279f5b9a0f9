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
    DownloadBusy,
    IntegrityError,
    Interrupted,
    InvalidRequest,
    LocalIOError,
    NotFound,
    TransferError,
    UnsafePath,
    UploadBusy,
    WrongRegion,
)
from .manager import CDNManager
from .objects import ObjectInfo, TransferResult
from .source import PlannedFile

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
    "DownloadBusy",
    "Finding",
    "IntegrityError",
    "Interrupted",
    "InvalidRequest",
    "LocalIOError",
    "NotFound",
    "ObjectInfo",
    "PlannedFile",
    "TransferConfig",
    "TransferError",
    "TransferResult",
    "UnsafePath",
    "UploadBusy",
    "WrongRegion",
]
