"""Retrying one request of a transfer when a fault is transient, within a
budget the whole manager shares.

The budget is botocore's standard-mode retry quota: every retry spends
tokens (more after a timeout or a dropped connection, which cost the most
to wait for), every request that succeeds earns one back. When a server is
in trouble (a 503 SlowDown storm, a dead link), the parts of every transfer
stop retrying together once the quota is spent, instead of each hammering
it ``max_attempts`` times; backoff is "full jitter" (a random wait up to
the exponential cap), so parallel parts do not retry in lockstep.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from .._escape import shown
from .failures import TransportError, error_code, is_retryable, is_stream_error, note_attempts

T = TypeVar("T")
log = logging.getLogger("cdn_manager")

#: Tokens a retry costs, and a retry after a timeout or lost connection.
RETRY_COST = 5
TIMEOUT_RETRY_COST = 10
#: Longest wait before a retry, in seconds, and the first cap.
MAX_BACKOFF = 2.0
FIRST_BACKOFF = 0.1


def is_transient(err: BaseException) -> bool:
    """Faults that another attempt can cure: a cut, stalled or corrupted
    stream, or a server error the server itself calls temporary."""
    if is_stream_error(err):
        return True
    return is_retryable(error_code(err))


def _cost(err: BaseException) -> int:
    if isinstance(err, TimeoutError | ConnectionError | TransportError):
        return TIMEOUT_RETRY_COST
    return RETRY_COST


class RetryQuota:
    """Tokens for retries, shared by every request of one manager."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._tokens = capacity
        self._lock = threading.Lock()

    @property
    def available(self) -> int:
        return self._tokens

    def acquire(self, cost: int) -> bool:
        """Spends ``cost`` tokens; False (and nothing spent) if too few."""
        with self._lock:
            if cost > self._tokens:
                return False
            self._tokens -= cost
            return True

    def release(self, amount: int) -> None:
        if self._tokens >= self.capacity:
            return  # the usual case (nothing spent): no lock on every success
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + amount)


def with_retries(attempt: Callable[[], T], attempts: int, quota: RetryQuota, what: str) -> T:
    """Runs ``attempt`` up to ``attempts`` times while it fails transiently
    and the quota allows, waiting a jittered exponential backoff between
    tries; the last failure propagates."""
    spent = 0
    for n in range(1, attempts + 1):
        try:
            result = attempt()
        except Exception as err:
            if n == attempts or not is_transient(err):
                note_attempts(err, n)
                raise
            cost = _cost(err)
            if not quota.acquire(cost):
                log.debug(
                    "%s: retry quota spent, not retrying (%s)", shown(what), type(err).__name__
                )
                note_attempts(err, n)
                raise
            spent += cost
            log.debug("%s: attempt %d failed (%s), retrying", shown(what), n, type(err).__name__)
            time.sleep(random.uniform(0, min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (n - 1))))
            continue
        # A success pays back what its retries spent, or one token.
        quota.release(spent or 1)
        return result
    raise AssertionError("unreachable")
