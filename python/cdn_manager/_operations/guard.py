"""Every operation's entry: the names checked before any request, and any
failure turned into a precise :class:`~cdn_manager.errors.CDNError` that
names the operation, the bucket and the key (as attributes, and escaped in
its message), with no secret in it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .._escape import shown
from .._names import check_bucket, check_key
from .._planes.failures import translate, with_hint
from .._transfers.kit import TransferKit
from ..errors import CDNError

T = TypeVar("T")


class Guard:
    """Runs the operations of one manager."""

    def __init__(self, kit: TransferKit) -> None:
        self._kit = kit

    def run(self, operation: str, bucket: str, key: str | None, action: Callable[[], T]) -> T:
        """Checks the names, runs ``action`` and raises every failure as a
        ``CDNError`` in the context of ``operation`` on ``bucket/key``."""
        try:
            check_bucket(bucket)
            if key is not None:
                check_key(key)
            self._kit.regions.confirm(bucket)
            return action()
        except CDNError as err:
            err.in_context(operation, bucket, key)
            raise
        except Exception as err:
            what = f"{operation} {bucket}/{shown(key or '')}"
            error = translate(err, what, self._kit.credentials.secrets())
            error.in_context(operation, bucket, key)
            raise with_hint(error, operation, bucket, self._kit.credentials.host) from None
