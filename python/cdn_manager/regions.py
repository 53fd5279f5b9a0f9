"""The region each bucket's requests are signed for: the configured one, or
the one its server names, learnt once per bucket.

S3-compatible servers disagree on the region (Garage's is "garage", R2's
"auto", an AWS bucket lives in one of many). Without a configured region the
native plane signs for ``us-east-1`` and, when the server refuses that scope
naming its own region (``AuthorizationHeaderMalformed``,
``PermanentRedirect``, a 301), signs again for the one named and keeps it
for the bucket; with one configured, that answer is :class:`WrongRegion`
instead. Only those answers teach a region: Garage names its region in every
error and refuses a bad signature with ``AccessDenied``, so a refusal code
alone cannot tell a wrong region from a signing bug. The boto3 clients get
the same region by botocore's redirector, which reads the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from . import _core

#: Signed for when no region is configured and none is learnt yet.
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Region:
    """A bucket's signing region and where it came from."""

    name: str
    #: "configured": given by the user; "learnt": the one the server named
    #: or accepted.
    source: Literal["configured", "learnt"]

    def __str__(self) -> str:
        return f"{self.name} ({self.source})"


class Regions:
    """The signing region of every bucket a manager uses, found once each."""

    def __init__(
        self,
        configured: str | None,
        engine: _core.Engine | None,
        read_keys: Callable[[], tuple[str, str, str | None]],
    ) -> None:
        self.configured = configured
        self._engine = engine
        self._read_keys = read_keys
        self._known: dict[str, Region] = {}

    def of(self, bucket: str) -> Region:
        """``bucket``'s region: asked of the server (a listing of no keys,
        with the read key) the first time. Raises :class:`WrongRegion` when
        the configured region is refused with the server's own named."""
        known = self._known.get(bucket)
        if known is not None:
            return known
        if self._engine is None:
            # No native client (its proxy is unusable): botocore's redirector
            # finds an unconfigured region on its own.
            name = self.configured or DEFAULT_REGION
        else:
            name = self._engine.locate(self._read_keys(), bucket)
        region = Region(name, "configured" if self.configured else "learnt")
        self._known[bucket] = region
        return region

    def confirm(self, bucket: str) -> None:
        """With a region configured, checks once per bucket that its server
        agrees (:class:`WrongRegion` if not): botocore's redirector would
        quietly re-sign the boto3 requests (listings, deletes), so they
        fail as the native ones do. Without, nothing to do: the native plane
        learns the region on its first request to the bucket."""
        if self.configured is not None:
            self.of(bucket)
