"""What a manager moves objects with, built in one place: the two boto3
clients (one per key pair), the data planes, the part workers, the retry
quota and the bandwidth limit, all shared by every transfer of that
manager.

The boto3 sessions and clients are built when first used (importing boto3
alone takes about 0.15 s): the native plane signs with the same key pairs
without them, so a listing or a download never builds one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from .. import _core
from .. import _threads as workers
from .._config import TransferConfig
from .._credentials import CDNCredentials
from .._planes import Planes, build_planes
from .._planes.native import Keys
from .._planes.protocol import DataPlane
from .._planes.regions import DEFAULT_REGION, Regions
from .._planes.retry import RetryQuota
from .._resume.unaborted import Unaborted


class _Once:
    """A value made on first use, once, whichever thread asks first."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._made = False
        self._value: Any = None

    def __call__(self) -> Any:
        if not self._made:
            with self._lock:
                if not self._made:
                    self._value = self._make()
                    self._made = True
        return self._value


class TransferKit:
    """A manager's means of moving objects."""

    def __init__(self, credentials: CDNCredentials, config: TransferConfig) -> None:
        self.credentials = credentials
        self.config = config
        host, region = credentials.host, credentials.region
        read_keys: Keys = (
            credentials.downloader_access_key,
            credentials.downloader_access_secret,
            None,
        )
        write_keys: Keys = (
            credentials.uploader_access_key,
            credentials.uploader_access_secret,
            None,
        )
        self._reader = _Once(lambda: _session(*read_keys[:2]))
        self._writer = _Once(lambda: _session(*write_keys[:2]))
        #: Each bucket's signing region, which both planes and clients use.
        self.regions = Regions(region, lambda: read_keys)
        steer = self.regions.steer
        self._download_client = _Once(
            lambda: steer(_client(host, self.reader, config, region or DEFAULT_REGION))
        )
        self._upload_client = _Once(
            lambda: steer(_client(host, self._writer(), config, region or DEFAULT_REGION))
        )
        self.planes: Planes = build_planes(
            host, region, config, (read_keys, write_keys), (self._reader, self._writer), steer
        )
        self.regions.engine = self.planes.engine
        #: The part workers every transfer of the manager shares, so
        #: concurrent callers cannot multiply the connections in flight.
        self.executor: Executor = workers.executor(config.concurrency, "cdn-manager")
        self.retries = RetryQuota(config.retry_quota)
        #: ``config.max_bandwidth`` as the one token bucket every transfer's
        #: ``Control`` spends from; None without a limit.
        self.bandwidth: _core.Bandwidth | None = (
            None if config.max_bandwidth is None else _core.Bandwidth(config.max_bandwidth)
        )
        #: Multipart uploads whose abort failed (server unreachable), or
        #: whose creation's answer was lost, aborted on the next multipart
        #: upload and at close.
        self.unaborted = Unaborted()
        self._presigners: dict[str, Any] = {}

    @property
    def download_client(self) -> Any:
        """The boto3 client of the read key: the control plane's reads
        (list fallback, multipart part layouts, presign), built on first use."""
        return self._download_client()

    @property
    def upload_client(self) -> Any:
        """The boto3 client of the write key: multipart steps, delete."""
        return self._upload_client()

    @property
    def reader(self) -> Any:
        """The read key's boto3 session, for presigning in a learnt region."""
        return self._reader()

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
            self._presigners[region] = _client(
                self.credentials.host, self.reader, self.config, region
            )
        return self._presigners[region]

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        if self.unaborted:
            self.unaborted.retry(self.upload_client, self.download_client, now=True)


def _session(access_key: str, secret: str) -> Any:
    from .._planes.clients import make_session

    return make_session(access_key, secret)


def _client(host: str, session: Any, config: TransferConfig, region: str) -> Any:
    from .._planes.clients import make_client

    return make_client(host, session, config, region)


def build_kit(credentials: CDNCredentials, config: TransferConfig) -> TransferKit:
    """The clients, planes, workers and quota for ``credentials``."""
    return TransferKit(credentials, config)
