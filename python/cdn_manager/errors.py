"""The exceptions cdn-manager raises. All derive from :class:`CDNError`.

The Rust core raises :class:`UnsafePath` itself (it imports this module), so
both halves of the library share one hierarchy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._escape import shown

if TYPE_CHECKING:
    from ._results import TransferResult


class CDNError(Exception):
    """Base of every error cdn-manager raises.

    ``reason`` is a short machine-readable cause: the server's error code
    (``NoSuchKey``, ``AccessDenied``, ...) or a local one (``UnsafePath``, ...).
    Where they are known, the error also says what was being done, to
    what, and what the server answered, so callers match on fields rather
    than on the message: ``operation`` ("upload", "download", "list", ...),
    ``bucket``, ``key``, ``code`` (the server's error code or HTTP status;
    None for a local failure) and ``attempts`` (requests made before giving
    up). None of them ever holds a secret.
    """

    reason: str = "CDNError"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        operation: str | None = None,
        bucket: str | None = None,
        key: str | None = None,
        code: str | None = None,
        attempts: int | None = None,
    ) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.operation = operation
        self.bucket = bucket
        self.key = key
        self.code = code
        self.attempts = attempts

    def in_context(self, operation: str, bucket: str, key: str | None) -> CDNError:
        """Fills in what was being done, where the raiser did not; returns
        the error itself."""
        self.operation = self.operation or operation
        self.bucket = self.bucket or bucket
        self.key = self.key if self.key is not None else key
        return self


class ConfigError(CDNError, ValueError):
    """Credentials or settings are missing or malformed."""

    reason = "ConfigError"


class WrongRegion(ConfigError):
    """The configured region is not the one the server signs the bucket
    for; ``server_region`` is the one it named."""

    reason = "WrongRegion"

    def __init__(self, bucket: str, configured: str, server_region: str) -> None:
        super().__init__(
            f"bucket {shown(bucket)} is signed for region {shown(server_region)}, "
            f"not the configured {shown(configured)}: set region: {shown(server_region)}",
            bucket=bucket,
        )
        self.server_region = server_region


class InvalidRequest(CDNError, ValueError):
    """The call itself is wrong: an argument type, a bucket name, ..."""

    reason = "InvalidRequest"


class NotFound(CDNError):
    """The bucket or object does not exist."""

    reason = "NotFound"


class AccessDenied(CDNError):
    """The key in use is not allowed to do this."""

    reason = "AccessDenied"


class CredentialsRejected(AccessDenied):
    """The server does not accept the key pair (unknown key, wrong secret)."""

    reason = "CredentialsRejected"


class IntegrityError(CDNError):
    """The bytes received do not match what the server says it stores."""

    reason = "IntegrityError"


class UnsafePath(CDNError):
    """An object key that cannot be stored strictly inside the target folder."""

    reason = "UnsafePath"


class LocalIOError(CDNError):
    """The local file system refused a read or write."""

    reason = "LocalIOError"


class TransferError(CDNError):
    """The server could not be reached or kept failing after all retries."""

    reason = "TransferError"


class Conflict(CDNError):
    """A conditional write lost: the object changed since it was planned
    (another writer got there first)."""

    reason = "Conflict"


class ReleaseNotFound(NotFound):
    """The site has no such release (or no release at all)."""

    reason = "NoSuchRelease"


class ReleaseIncomplete(NotFound):
    """A release cannot be restored: content it needs is gone (pruned, or
    changed in place without a kept copy). Nothing was changed.
    ``release`` is its number, ``missing`` the keys whose bytes are gone."""

    reason = "ReleaseIncomplete"

    def __init__(self, message: str, *, release: int, missing: list[str], bucket: str) -> None:
        super().__init__(message, bucket=bucket)
        self.release = release
        self.missing = missing


class TooManyDeletes(CDNError):
    """A sync would delete more than its ``max_delete`` allows; nothing was
    changed."""

    reason = "TooManyDeletes"


class DownloadBusy(Conflict):
    """Another process is downloading the same object to the same place
    (it holds the resumable download's journal): run again once it ended."""

    reason = "DownloadBusy"


class UploadBusy(Conflict):
    """Another process is uploading the same file to the same key (it holds
    the resumable upload's journal): run again once it ended."""

    reason = "UploadBusy"


class Cancelled(CDNError):
    """The transfer was cancelled (task cancellation, Ctrl-C); nothing it
    started is left behind but what a resumable transfer keeps for its next
    run. For a cancelled batch, ``completed`` holds the
    items that finished successfully before it stopped."""

    reason = "Cancelled"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        completed: list[TransferResult] | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.completed: list[TransferResult] = completed or []


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM in the command line) stopped a batch
    (``upload_many``, ``download_many``).

    Raised only once every transfer of the batch has stopped: nothing is
    sent, committed or written after it. ``completed`` holds the items that
    finished successfully before the interrupt, in the batch's order; every
    other item was cancelled (an upload left no object or multipart upload
    behind, a download no temporary file) or had failed. A
    ``KeyboardInterrupt``, so code that already handles Ctrl-C keeps working.
    """

    def __init__(self, completed: list[TransferResult]) -> None:
        super().__init__(f"interrupted after {len(completed)} completed item(s)")
        self.completed = completed
