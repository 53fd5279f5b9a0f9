"""Failures on the wire, from either data plane, and their translation into
cdn-manager's exceptions, in one place.

botocore raises its own exceptions; the native data plane (Rust) raises the
three classes defined here. botocore's are looked up only once botocore is
loaded (an error cannot be one of them before), so that a command that
never builds a boto3 client never imports it.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

from .._escape import printable, redact
from ..errors import (
    AccessDenied,
    CDNError,
    Conflict,
    CredentialsRejected,
    IntegrityError,
    InvalidRequest,
    LocalIOError,
    NotFound,
    TransferError,
)


class S3Error(Exception):
    """An error response of the native data plane: HTTP status, S3 error code
    (the status as text when the body has none) and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code} (HTTP {status}): {message}")
        self.status = status
        self.code = code


class TransportError(Exception):
    """The native data plane could not connect, send or receive. ``reason``
    names the failure as botocore names its own (``EndpointConnectionError``,
    ``ReadTimeoutError``, ``ConnectionClosedError``, ``SSLError``, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Truncated(Exception):
    """A response body ended before its announced length."""


class ETagMismatch(Exception):
    """The MD5 ETag the server returned for an uploaded part is not the MD5
    of the bytes sent: the body was corrupted on the way."""


@dataclass(frozen=True)
class Code:
    """What an S3 error code means to cdn-manager."""

    #: The exception a caller gets.
    error: type[CDNError]
    #: Worth sending the same request again.
    retry: bool = False
    #: May mean "this endpoint does not take this client's requests" rather
    #: than "no": the adaptive plane then tries boto3's identical request.
    refusal: bool = False
    #: The ``reason`` callers see, where the wire says less (a HEAD answer
    #: has no body, so its code is only the HTTP status).
    reason: str | None = None


#: Every S3 error code cdn-manager treats specially, in one table; any other
#: code is a :class:`TransferError` with the code as its reason.
CODES: dict[str, Code] = {
    **dict.fromkeys(("NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NotFound"), Code(NotFound)),
    "404": Code(NotFound, reason="NotFound"),
    "AccessDenied": Code(AccessDenied, refusal=True),
    "AllAccessDisabled": Code(AccessDenied),
    "Forbidden": Code(AccessDenied, reason="AccessDenied"),
    "403": Code(AccessDenied, refusal=True, reason="AccessDenied"),
    "SignatureDoesNotMatch": Code(CredentialsRejected, refusal=True),
    "AuthorizationHeaderMalformed": Code(InvalidRequest, refusal=True),
    "XAmzContentSHA256Mismatch": Code(IntegrityError, refusal=True),
    **dict.fromkeys(
        ("InvalidAccessKeyId", "InvalidToken", "ExpiredToken"), Code(CredentialsRejected)
    ),
    **dict.fromkeys(("BadDigest", "XAmzContentChecksumMismatch"), Code(IntegrityError, retry=True)),
    **dict.fromkeys(("InvalidDigest", "InvalidChecksum"), Code(IntegrityError)),
    **dict.fromkeys(("InvalidRequest", "InvalidArgument"), Code(InvalidRequest, refusal=True)),
    **dict.fromkeys(("InvalidBucketName", "KeyTooLongError"), Code(InvalidRequest)),
    "PreconditionFailed": Code(Conflict),
    "412": Code(Conflict, reason="PreconditionFailed"),
    **dict.fromkeys(("NotImplemented", "MethodNotAllowed"), Code(TransferError, refusal=True)),
    **dict.fromkeys(("400", "405", "501"), Code(TransferError, refusal=True)),
    **dict.fromkeys(
        ("InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"),
        Code(TransferError, retry=True),
    ),
    **dict.fromkeys(("500", "502", "503", "504"), Code(TransferError, retry=True)),
}


def is_retryable(code: str | None) -> bool:
    entry = CODES.get(code or "")
    return entry is not None and entry.retry


def is_refusal(code: str | None) -> bool:
    entry = CODES.get(code or "")
    return entry is not None and entry.refusal


def _botocore() -> ModuleType | None:
    """``botocore.exceptions`` if botocore is loaded, else None."""
    return sys.modules.get("botocore.exceptions")


#: Failures of a connection or of a response body as it streams in (and
#: botocore's, :func:`is_stream_error`).
STREAM_ERRORS: tuple[type[Exception], ...] = (
    TransportError,
    Truncated,
    ETagMismatch,
    ConnectionError,
    TimeoutError,
)
_BOTOCORE_STREAM_ERRORS = (
    "ResponseStreamingError",
    "IncompleteReadError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "EndpointConnectionError",
    "FlexibleChecksumError",
)


def _is_botocore(err: BaseException, *names: str) -> bool:
    """Whether ``err`` is one of botocore's exceptions ``names``."""
    bex = _botocore()
    return bex is not None and isinstance(err, tuple(getattr(bex, n) for n in names))


def is_stream_error(err: BaseException) -> bool:
    """A failure of a connection or of a response body as it streams in."""
    return isinstance(err, STREAM_ERRORS) or _is_botocore(err, *_BOTOCORE_STREAM_ERRORS)


def is_client_error(err: BaseException) -> bool:
    """An error answer through botocore (``ClientError``)."""
    return _is_botocore(err, "ClientError")


def error_code(err: BaseException) -> str | None:
    """The S3 error code of a ``ClientError`` (``NoSuchKey``, ``403``, ...)."""
    if isinstance(err, S3Error):
        return err.code
    if is_client_error(err):
        code = err.response.get("Error", {}).get("Code")  # type: ignore[attr-defined]
        return str(code) if code else None
    return None


def translate(err: Exception, what: str, secrets: Iterable[str]) -> CDNError:
    """A ``CDNError`` for ``err``, which happened while doing ``what``.

    ``reason`` is the server's error code where there is one, else the
    exception's class name; the message never contains a secret.
    """
    if isinstance(err, CDNError):
        return err
    error = _translated(err, what, secrets)
    error.code = error_code(err)
    error.attempts = attempts_of(err)
    return error


def note_attempts(err: BaseException, attempts: int) -> None:
    """Records on ``err`` how many requests were made before it was given
    up (:func:`translate` passes it on as ``attempts``)."""
    if isinstance(err, CDNError):
        err.attempts = attempts
    else:
        err._cdn_attempts = attempts  # type: ignore[attr-defined]


def attempts_of(err: BaseException) -> int | None:
    """The requests made before ``err`` was given up: counted by this
    library's retries, else by botocore's."""
    counted = getattr(err, "_cdn_attempts", None)
    if isinstance(counted, int):
        return counted
    if is_client_error(err):
        retries = err.response.get("ResponseMetadata", {}).get("RetryAttempts")  # type: ignore[attr-defined]
        if isinstance(retries, int):
            return retries + 1
    return None


def _translated(err: Exception, what: str, secrets: Iterable[str]) -> CDNError:
    # A server's message may quote a key: no control character gets through.
    detail = printable(redact(str(err), secrets))
    code = error_code(err)
    if code is not None:
        entry = CODES.get(code, Code(TransferError))
        return entry.error(f"{what}: {detail}", reason=entry.reason or code)
    if isinstance(err, ETagMismatch):
        return IntegrityError(f"{what}: {detail}", reason="ETagMismatch")
    if _is_botocore(err, "FlexibleChecksumError"):
        return IntegrityError(f"{what}: {detail}", reason="ChecksumMismatch")
    if _is_botocore(err, "ParamValidationError"):
        return InvalidRequest(f"{what}: {detail}", reason="InvalidParameter")
    if isinstance(err, TransportError):
        return TransferError(f"{what}: {err.reason}: {detail}", reason=err.reason)
    if is_stream_error(err) or _is_botocore(err, "BotoCoreError"):
        return TransferError(f"{what}: {detail}", reason=type(err).__name__)
    if isinstance(err, ValueError):
        return InvalidRequest(f"{what}: {detail}", reason="InvalidParameter")
    if isinstance(err, OSError):
        local = printable(redact(err.strerror or str(err), secrets))
        return LocalIOError(f"{what}: {local}", reason=type(err).__name__)
    return CDNError(f"{what}: {detail}", reason=type(err).__name__)


#: The operations that use the write key; the others use the read key.
WRITE_OPERATIONS = frozenset(("upload", "delete"))


def with_hint(err: CDNError, operation: str, bucket: str, host: str) -> CDNError:
    """``err`` with the likely cause added where the server's word alone
    misleads: an ``AccessDenied`` is also what a missing (or someone else's)
    bucket looks like to a key limited to one bucket, and a TLS failure
    against a server that speaks plain HTTP reads as a corrupt message."""
    hint = None
    if type(err) is AccessDenied:
        key = "write" if operation in WRITE_OPERATIONS else "read"
        if operation == "list":
            # Only a listing is about the bucket itself: there a refusal is
            # as likely a mistyped name as a key without the right.
            hint = f"bucket '{bucket}' may not exist, or the read key may not be allowed to list it"
        else:
            # An object refused: most likely the key's rights (the demo's
            # swapped keys); doctor tells a missing bucket from a key.
            hint = (
                f"the {key} key may not be allowed to {operation} in bucket '{bucket}': "
                f"`cdn-manager doctor {bucket}` checks both keys and the bucket"
            )
    elif isinstance(err, TransferError) and host.startswith("https://") and _tls_to_plain(err):
        hint = "the server may speak plain HTTP: try host http://… in the configuration"
    if hint is None:
        return err
    hinted = copy.copy(err)
    hinted.args = (f"{err} ({hint})",)
    return hinted


def _tls_to_plain(err: CDNError) -> bool:
    """Whether a failure looks like a TLS handshake answered in plain HTTP
    (rustls: InvalidContentType / corrupt message; OpenSSL: wrong version
    number, record layer failure)."""
    text = str(err).lower()
    return any(
        sign in text
        for sign in (
            "invalidcontenttype",
            "corrupt message",
            "wrong version number",
            "wrong_version_number",
            "record layer failure",
            "packet length too long",
        )
    )
