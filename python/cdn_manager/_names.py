"""Which bucket names and object keys a request may carry.

Checked before any request, on either data plane: a name that is not a
bucket name could otherwise change which path the request addresses.
"""

from __future__ import annotations

import re

from .errors import InvalidRequest

#: S3's bucket naming rules: 3 to 63 lower-case letters, digits, dots and
#: hyphens, starting and ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")
#: The longest key S3 stores, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


def check_bucket(bucket: object) -> str:
    """Returns ``bucket`` if it is a valid bucket name; raises
    :class:`InvalidRequest` (reason ``InvalidBucketName``) saying why not."""
    if not isinstance(bucket, str):
        raise InvalidRequest(
            f"bucket must be a str, not {type(bucket).__name__}", reason="InvalidBucketName"
        )
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or _IP_ADDRESS.fullmatch(bucket):
        raise InvalidRequest(
            f"invalid bucket name {bucket!r}: use 3 to 63 lower-case letters, digits, dots "
            "and hyphens, starting and ending with a letter or digit",
            reason="InvalidBucketName",
        )
    return bucket


def check_key(key: object) -> str:
    """Returns ``key`` if S3 can store it (a non-empty str of at most 1024
    UTF-8 bytes); raises :class:`InvalidRequest` otherwise. Whether a key can
    also be a local file name is the download's own check."""
    if not isinstance(key, str):
        raise InvalidRequest(f"key must be a str, not {type(key).__name__}", reason="InvalidKey")
    if not key:
        raise InvalidRequest("key must not be empty", reason="InvalidKey")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidRequest("key is not valid Unicode text", reason="InvalidKey") from None
    if size > MAX_KEY_BYTES:
        raise InvalidRequest(
            f"key is {size} bytes long; S3 allows at most {MAX_KEY_BYTES}", reason="KeyTooLong"
        )
    return key
