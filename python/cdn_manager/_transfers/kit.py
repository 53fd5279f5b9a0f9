"""What a manager moves objects with, built in one place: the two boto3
clients (one per key pair), the data planes, the part workers, the retry
quota and the bandwidth limit, all shared by every transfer of that
manager."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .. import _core
from .. import _threads as workers
from .._config import TransferConfig
from .._credentials import CDNCredentials
from .._planes import Planes, build_planes
from .._planes.clients import make_client, make_session
from .._planes.native import signing_keys
from .._planes.protocol import DataPlane
from .._planes.regions import DEFAULT_REGION, Regions
from .._planes.retry import RetryQuota
from .._resume.unaborted import Unaborted


@dataclass(frozen=True)
class TransferKit:
    """A manager's means of moving objects."""

    credentials: CDNCredentials
    config: TransferConfig
    #: The boto3 clients of the read key and of the write key: the control
    #: plane (list, multipart steps, delete, presign).
    download_client: Any
    upload_client: Any
    planes: Planes
    #: The part workers every transfer of the manager shares, so concurrent
    #: callers cannot multiply the connections in flight.
    executor: Executor
    retries: RetryQuota
    #: ``config.max_bandwidth`` as the one token bucket every transfer's
    #: ``Control`` spends from; None without a limit.
    bandwidth: _core.Bandwidth | None
    #: Each bucket's signing region, which both planes and clients use.
    regions: Regions
    #: The read key's session, for presigning in a learnt region.
    reader: Any
    #: Multipart uploads whose abort failed (server unreachable), or whose
    #: creation's answer was lost, aborted on the next multipart upload and
    #: at close.
    unaborted: Unaborted = field(default_factory=Unaborted)
    _presigners: dict[str, Any] = field(default_factory=dict)

    @property
    def download_plane(self) -> DataPlane:
        return self.planes.download

    @property
    def upload_plane(self) -> DataPlane:
        return self.planes.upload

    def control(self, progress: Callable[[int], object] | None = None) -> _core.Control:
        """A new transfer's progress, cancellation and share of the
        bandwidth limit."""
        return _core.Control(progress, self.bandwidth)

    def presigner(self, bucket: str) -> Any:
        """A read-key client made for ``bucket``'s region: botocore does not
        apply a learnt region to a presigned URL, which must carry it."""
        region = self.regions.of(bucket).name
        if region == self.download_client.meta.region_name:
            return self.download_client
        if region not in self._presigners:
            self._presigners[region] = make_client(
                self.credentials.host, self.reader, self.config, region
            )
        return self._presigners[region]

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.unaborted.retry(self.upload_client, self.download_client, now=True)


def build_kit(credentials: CDNCredentials, config: TransferConfig) -> TransferKit:
    """The clients, planes, workers and quota for ``credentials``."""
    host = credentials.host
    reader = make_session(credentials.downloader_access_key, credentials.downloader_access_secret)
    writer = make_session(credentials.uploader_access_key, credentials.uploader_access_secret)
    region = credentials.region
    regions = Regions(region, partial(signing_keys, reader.get_credentials()))
    download_client, upload_client = (
        regions.steer(make_client(host, session, config, region or DEFAULT_REGION))
        for session in (reader, writer)
    )
    planes = build_planes(host, region, config, reader, writer, regions.steer)
    regions.engine = planes.engine

    return TransferKit(
        credentials=credentials,
        config=config,
        download_client=download_client,
        upload_client=upload_client,
        planes=planes,
        executor=workers.executor(config.concurrency, "cdn-manager"),
        retries=RetryQuota(config.retry_quota),
        bandwidth=None if config.max_bandwidth is None else _core.Bandwidth(config.max_bandwidth),
        regions=regions,
        reader=reader,
    )
