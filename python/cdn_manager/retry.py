"""Retrying one part of a transfer when a fault is transient."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from .s3errors import RETRYABLE_CODES, STREAM_ERRORS, error_code

T = TypeVar("T")
log = logging.getLogger("cdn_manager")

#: Set on an exception that botocore raised after its own retries, so that
#: a request is not retried max_attempts squared times.
RETRIED_BY_BOTOCORE = "_cdn_retried_by_botocore"


def is_transient(err: BaseException) -> bool:
    """Faults that another attempt can cure: a cut, stalled or corrupted
    stream, or a server error the server itself calls temporary."""
    if getattr(err, RETRIED_BY_BOTOCORE, False):
        return False
    if isinstance(err, STREAM_ERRORS):
        return True
    return error_code(err) in RETRYABLE_CODES


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
