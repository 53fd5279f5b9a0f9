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
alone cannot tell a wrong region from a signing bug. The boto3 clients sign
for what is known here or by the native plane (:meth:`Regions.steer`):
botocore's redirector cannot learn from a HEAD, whose error answer has no
body, so a HEAD refused that way asks the server once and is sent again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .. import _core

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
        self, configured: str | None, read_keys: Callable[[], tuple[str, str, str | None]]
    ) -> None:
        self.configured = configured
        #: What asks the server (set once the planes are built); None when
        #: the native client cannot be used (its proxy).
        self.engine: _core.Engine | None = None
        self._read_keys = read_keys
        self._known: dict[str, Region] = {}

    def steer(self, client: Any) -> Any:
        """Makes the boto3 ``client`` sign each bucket's requests for the
        region known for it (not presigned URLs: see
        ``TransferKit.presigner``); returns it."""
        client.meta.events.register("before-endpoint-resolution.s3", self._redirect)
        return client

    def _redirect(self, builtins: dict[str, Any], params: dict[str, Any], **_: Any) -> None:
        bucket = params.get("Bucket", "")
        known = self._known.get(bucket)
        if known is not None:
            builtins["AWS::Region"] = known.name
        elif self.configured is None and self.engine is not None:
            # What the native plane learnt from a refused request of its own
            # (its first GET or PUT): a HEAD through boto3 after it, which
            # could not learn for itself, is signed right.
            learnt = self.engine.region_for(bucket)
            if learnt != DEFAULT_REGION:
                builtins["AWS::Region"] = learnt

    def of(self, bucket: str) -> Region:
        """``bucket``'s region: asked of the server (a listing of no keys,
        with the read key) the first time, so that every request after it,
        on either plane, is signed for it. Raises :class:`WrongRegion` when
        the configured region is refused with the server's own named (so
        requests through boto3, which botocore's redirector would quietly
        re-sign, fail as the native ones do)."""
        known = self._known.get(bucket)
        if known is not None:
            return known
        if self.engine is None:
            # No native client (its proxy is unusable): botocore's redirector
            # finds an unconfigured region where it can.
            name = self.configured or DEFAULT_REGION
        else:
            name = self.engine.locate(self._read_keys(), bucket)
        region = Region(name, "configured" if self.configured else "learnt")
        self._known[bucket] = region
        return region

    def learn_after_bodyless_refusal(self, bucket: str) -> bool:
        """After a HEAD on ``bucket`` was refused with a bare 400 (no body, so
        no region named: Garage's answer to a HEAD signed for another
        region), asks the server once (:meth:`of`) if the region is neither
        configured nor known yet; True if it named another region, so the
        HEAD is worth sending again."""
        if self.configured is not None or bucket in self._known or self.engine is None:
            return False
        return self.of(bucket).name != DEFAULT_REGION

    def confirm(self, bucket: str) -> None:
        """With a region configured, checks once per bucket that its server
        agrees (:class:`WrongRegion` if not), before any request. Without,
        nothing is sent: the native plane learns the region from its first
        refused request, botocore's redirector from its own (except a HEAD,
        whose bodyless 400 names no region: see
        :meth:`learn_after_bodyless_refusal`)."""
        if self.configured is not None:
            self.of(bucket)
