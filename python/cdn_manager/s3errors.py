"""Failures on the wire, from either data plane, and their translation into
cdn-manager's exceptions, in one place.

botocore raises its own exceptions; the native data plane (Rust) raises the
three classes defined here.
"""

from __future__ import annotations

from collections.abc import Iterable

from botocore import exceptions as bex

from .errors import (
    AccessDenied,
    CDNError,
    CredentialsRejected,
    IntegrityError,
    InvalidRequest,
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
    """The native data plane could not connect, send or receive (refused,
    reset, timed out, TLS failure)."""


class Truncated(Exception):
    """A response body ended before its announced length."""


_BY_CODE: dict[str, type[CDNError]] = {
    **dict.fromkeys(("NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NotFound", "404"), NotFound),
    **dict.fromkeys(("AccessDenied", "AllAccessDisabled", "Forbidden", "403"), AccessDenied),
    **dict.fromkeys(
        ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"),
        CredentialsRejected,
    ),
    **dict.fromkeys(
        ("BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "InvalidChecksum"),
        IntegrityError,
    ),
    **dict.fromkeys(
        ("InvalidBucketName", "InvalidArgument", "InvalidRequest", "KeyTooLongError"),
        InvalidRequest,
    ),
}

#: Server answers worth another try of the same request.
RETRYABLE_CODES = frozenset(
    (
        "BadDigest",
        "XAmzContentChecksumMismatch",
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "500",
        "502",
        "503",
        "504",
    )
)

#: Failures of a connection or of a response body as it streams in.
STREAM_ERRORS: tuple[type[Exception], ...] = (
    TransportError,
    Truncated,
    bex.ResponseStreamingError,
    bex.IncompleteReadError,
    bex.ReadTimeoutError,
    bex.ConnectionClosedError,
    bex.EndpointConnectionError,
    bex.FlexibleChecksumError,
    ConnectionError,
    TimeoutError,
)


def error_code(err: BaseException) -> str | None:
    """The S3 error code of a ``ClientError`` (``NoSuchKey``, ``403``, ...)."""
    if isinstance(err, bex.ClientError):
        code = err.response.get("Error", {}).get("Code")
        return str(code) if code else None
    if isinstance(err, S3Error):
        return err.code
    return None


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def translate(err: Exception, what: str, secrets: Iterable[str]) -> CDNError:
    """A ``CDNError`` for ``err``, which happened while doing ``what``.

    ``reason`` is the server's error code where there is one, else the
    exception's class name; the message never contains a secret.
    """
    if isinstance(err, CDNError):
        return err
    detail = redact(str(err), secrets)
    code = error_code(err)
    if code is not None:
        cls = _BY_CODE.get(code, TransferError)
        return cls(f"{what}: {detail}", reason=code)
    if isinstance(err, bex.FlexibleChecksumError):
        return IntegrityError(f"{what}: {detail}", reason="ChecksumMismatch")
    if isinstance(err, bex.ParamValidationError):
        return InvalidRequest(f"{what}: {detail}", reason="InvalidParameter")
    if isinstance(
        err, bex.BotoCoreError | TransportError | Truncated | ConnectionError | TimeoutError
    ):
        return TransferError(f"{what}: {detail}", reason=type(err).__name__)
    return CDNError(f"{what}: {detail}", reason=type(err).__name__)
