"""The native plane until the endpoint shows it refuses it, then boto3's,
loudly.

A refusal (a code :func:`~cdn_manager._planes.failures.is_refusal` names: a
signature or "not implemented" style answer) before any native request has
succeeded is tried again through boto3; if boto3's identical request
succeeds, the manager's object requests go through boto3 from then on. The
switch is never silent: it is logged at WARNING with the request, the native
error and the server's code, and ``CDNManager.data_plane`` shows it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from .._escape import shown
from .failures import S3Error, is_refusal
from .protocol import DataPlane, Get, Head, ListPage, Put, Response

log = logging.getLogger("cdn_manager")
R = TypeVar("R", Get, Head, Put, ListPage)
T = TypeVar("T")

#: Set (``extra=``) on the log record of every switch to boto3, so a test
#: suite can fail any test that switches without meaning to.
FALLBACK_MARK = "cdn_fallback"


@dataclass(frozen=True)
class PlaneChoice:
    """Which plane carries a manager's object requests, and why."""

    name: Literal["native", "boto3"]
    reason: str

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


class PlaneSwitch:
    """The choice shared by a manager's two planes (one per key pair): an
    endpoint that refuses one key's native requests refuses the other's."""

    def __init__(self, choice: PlaneChoice) -> None:
        self._lock = threading.Lock()
        self.choice = choice
        #: Whether a native request has succeeded: refusals are then real.
        self.proven = False

    def to_boto3(self, reason: str) -> None:
        """Routes to boto3 from now on, saying why in a WARNING (once)."""
        with self._lock:
            if self.choice.name == "boto3":
                return
            self.choice = PlaneChoice("boto3", reason)
        log.warning(
            "object requests of this manager now go through boto3: %s",
            reason,
            extra={FALLBACK_MARK: True},
        )


class AdaptivePlane:
    """Native requests while the endpoint takes them, else boto3's."""

    def __init__(self, native: DataPlane, boto3: DataPlane, switch: PlaneSwitch) -> None:
        self._native = native
        self._boto3 = boto3
        self._switch = switch

    def get(self, request: Get) -> Response:
        return self._route(self._native.get, self._boto3.get, request)

    def head(self, request: Head) -> Mapping[str, str]:
        return self._route(self._native.head, self._boto3.head, request)

    def put(self, request: Put) -> str:
        return self._route(self._native.put, self._boto3.put, request)

    def list_page(self, request: ListPage) -> dict[str, Any]:
        return self._route(self._native.list_page, self._boto3.list_page, request)

    def _route(self, native: Callable[[R], T], boto3: Callable[[R], T], request: R) -> T:
        if self._switch.choice.name == "boto3":
            return boto3(request)
        try:
            result = native(request)
        except S3Error as err:
            # A HEAD's answer has no body, so a refusal shows only as a 403.
            refused = is_refusal(err.code) or (isinstance(request, Head) and err.code == "403")
            if self._switch.proven or not refused:
                raise
            result = boto3(request)
            self._switch.to_boto3(
                f"the endpoint refused a native {shown(str(request))} ({shown(str(err))}) "
                "that boto3 got through"
            )
            return result
        self._switch.proven = True
        return result
