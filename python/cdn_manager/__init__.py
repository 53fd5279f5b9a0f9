"""cdn-manager: move files to and from S3-compatible CDN storage with a
read-only key for downloads and a write key for uploads, on a Rust core.

The public API is exactly what ``__all__`` names, importable from here;
``cdn_manager.errors`` (the same exceptions) and ``cdn_manager.local_server``
(the embedded test server, with the ``[server]`` extra) are the documented
submodules. Every module whose name starts with an underscore is internal.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Where each public name lives, imported on first use (PEP 562): the
#: command line starts here, and a command that needs no boto3 (``--version``,
#: ``ls``) must not pay for importing it.
_HOMES = {
    "AccessDenied": ".errors",
    "Action": "._sync.plan",
    "ActionKind": "._sync.plan",
    "AsyncCDNManager": "._faces.aio",
    "AuditReport": "._operations.audit",
    "CDNCredentials": "._credentials",
    "CDNError": ".errors",
    "CDNManager": "._faces.manager",
    "Cancelled": ".errors",
    "ConfigError": ".errors",
    "Conflict": ".errors",
    "CredentialsRejected": ".errors",
    "DownloadBusy": ".errors",
    "Finding": "._operations.audit",
    "Headers": "._sync.headers",
    "IntegrityError": ".errors",
    "Interrupted": ".errors",
    "InvalidRequest": ".errors",
    "Invalidation": "._sync.target",
    "LeftOut": "._sync.local",
    "LocalIOError": ".errors",
    "NotFound": ".errors",
    "ObjectInfo": "._results",
    "PlanStats": "._sync.plan",
    "PlaneChoice": "._planes.adaptive",
    "PlannedFile": "._transfers.sources",
    "Release": "._deploy.releases",
    "ReleaseIncomplete": ".errors",
    "ReleaseNotFound": ".errors",
    "Retention": "._sync.manifest",
    "Rules": "._deploy.rules",
    "Shard": "._sync.shard",
    "SyncPlan": "._sync.plan",
    "SyncReport": "._sync.outcome",
    "Target": "._sync.target",
    "TooManyDeletes": ".errors",
    "TransferConfig": "._config",
    "TransferError": ".errors",
    "TransferResult": "._results",
    "UnsafePath": ".errors",
    "UploadBusy": ".errors",
    "WrongRegion": ".errors",
    "file_checksum": "._sync.pull",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
