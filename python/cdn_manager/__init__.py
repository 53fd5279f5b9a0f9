"""cdn-manager: move files to and from S3-compatible CDN storage with a
read-only key for downloads and a write key for uploads, on a Rust core.

The public API is exactly what ``__all__`` names, importable from here;
``cdn_manager.errors`` (the same exceptions) and ``cdn_manager.local_server``
(the embedded test server, with the ``[server]`` extra) are the documented
submodules. Every module whose name starts with an underscore is internal.
"""

from ._config import TransferConfig
from ._credentials import CDNCredentials
from ._deploy.releases import Release
from ._deploy.rules import Rules
from ._faces.aio import AsyncCDNManager
from ._faces.manager import CDNManager
from ._operations.audit import AuditReport, Finding
from ._planes.adaptive import PlaneChoice
from ._results import ObjectInfo, TransferResult
from ._sync.headers import Headers
from ._sync.local import LeftOut
from ._sync.manifest import Retention
from ._sync.outcome import SyncReport
from ._sync.plan import Action, ActionKind, PlanStats, SyncPlan
from ._sync.pull import file_checksum
from ._sync.shard import Shard
from ._sync.target import Invalidation, Target
from ._transfers.sources import PlannedFile
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
    ReleaseIncomplete,
    ReleaseNotFound,
    TooManyDeletes,
    TransferError,
    UnsafePath,
    UploadBusy,
    WrongRegion,
)

__all__ = [
    "AccessDenied",
    "Action",
    "ActionKind",
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
    "Headers",
    "IntegrityError",
    "Interrupted",
    "InvalidRequest",
    "Invalidation",
    "LeftOut",
    "LocalIOError",
    "NotFound",
    "ObjectInfo",
    "PlanStats",
    "PlaneChoice",
    "PlannedFile",
    "Release",
    "ReleaseIncomplete",
    "ReleaseNotFound",
    "Retention",
    "Rules",
    "Shard",
    "SyncPlan",
    "SyncReport",
    "Target",
    "TooManyDeletes",
    "TransferConfig",
    "TransferError",
    "TransferResult",
    "UnsafePath",
    "UploadBusy",
    "WrongRegion",
    "file_checksum",
]
