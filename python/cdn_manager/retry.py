"""Retrying one part of a transfer when a fault is transient."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from botocore import exceptions as bex

from .s3errors import RETRYABLE_CODES, STREAM_ERRORS, error_code

T = TypeVar("T")
log = logging.getLogger("cdn_manager")


class Truncated(Exception):
    """A response body ended before its announced length."""


def is_transient(err: BaseException) -> bool:
    """Faults that another attempt can cure: a cut, stalled or corrupted
    stream, or a server error the server itself calls temporary."""
    if isinstance(err, (*STREAM_ERRORS, Truncated)):
        return True
    if isinstance(err, bex.ClientError):
        return error_code(err) in RETRYABLE_CODES
    return False


def with_retries(attempt: Callable[[], T], attempts: int, what: str) -> T:
    """Runs ``attempt`` up to ``attempts`` times while it fails transiently,
    with jittered exponential backoff; the last failure propagates."""
    for n in range(1, attempts + 1):
        try:
            return attempt()
        except Exception as err:
            if n == attempts or not is_transient(err):
                raise
            delay = min(2.0, 0.05 * 2**n) * random.uniform(0.5, 1.0)
            log.debug("%s: attempt %d failed (%s), retrying", what, n, type(err).__name__)
            time.sleep(delay)
    raise AssertionError("unreachable")
