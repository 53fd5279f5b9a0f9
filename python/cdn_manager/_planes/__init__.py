"""The data planes (the requests that carry object bytes) and the choice of
which one a manager uses.

``base`` says what a plane does; ``native`` (the Rust client) and ``boto3``
(botocore's) do it; ``adaptive`` starts native and moves to boto3, loudly,
if the endpoint refuses native requests that boto3 gets through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from botocore.utils import get_environ_proxies

from .. import _core
from .._config import TransferConfig
from ..errors import ConfigError
from .adaptive import AdaptivePlane, PlaneChoice, PlaneSwitch
from .boto3_plane import Boto3Plane
from .clients import make_client
from .native import NativePlane
from .protocol import DataPlane
from .regions import DEFAULT_REGION

__all__ = ["DataPlane", "PlaneChoice", "Planes", "build_planes", "proxy_for"]


def proxy_for(host: str, configured: Mapping[str, str] | None) -> str | None:
    """The proxy botocore would use for ``host``: ``configured`` (a
    ``TransferConfig.proxies`` mapping, by URL scheme; ``NO_PROXY`` does not
    apply to it, as for botocore) if given, else the environment's
    (``HTTP_PROXY``, ``HTTPS_PROXY``, minus ``NO_PROXY``, read by botocore's
    own function), so both planes always take the same way. A proxy without
    a scheme is an ``http://`` one, as for botocore; one with another scheme
    (``socks5://``) is passed on for the native plane to refuse by name."""
    proxies = dict(configured) if configured is not None else get_environ_proxies(host)
    proxy = proxies.get(urlsplit(host).scheme)
    if not proxy:
        return None
    if "://" in proxy:
        return str(proxy)
    return "http:" + proxy if proxy.startswith("//") else "http://" + proxy


@dataclass(frozen=True)
class Planes:
    """A manager's planes: one per key pair, and the choice they share."""

    download: DataPlane
    upload: DataPlane
    switch: PlaneSwitch
    #: The native client (also what finds each bucket's region), unless the
    #: proxy is one it cannot use.
    engine: _core.Engine | None


def _engine(host: str, region: str | None, config: TransferConfig) -> _core.Engine:
    """The native plane's client; raises :class:`ConfigError` for a proxy it
    cannot use (the message never holds the proxy's password)."""
    return _core.Engine(
        host,
        region,
        config.connect_timeout,
        config.read_timeout,
        config.pool_size,
        config.ca_bundle,
        proxy=proxy_for(host, config.proxies),
        socket_tuning=config.socket_tuning,
        max_bandwidth=config.max_bandwidth,
    )


def build_planes(
    host: str,
    region: str | None,
    config: TransferConfig,
    reader: Any,
    writer: Any,
    steer: Callable[[Any], Any],
) -> Planes:
    """The planes for requests to ``host`` signed by the ``reader`` and
    ``writer`` key pairs (boto3 sessions), for ``region`` if given (else
    the one each bucket's server names); ``steer`` sets up a boto3 client
    to sign for each bucket's region."""
    algorithm = config.checksum_algorithm

    def boto3_plane(session: Any) -> Boto3Plane:
        client = partial(make_client, host, session, config, region or DEFAULT_REGION, attempts=1)
        return Boto3Plane(lambda: steer(client()), algorithm)

    boto3_down, boto3_up = boto3_plane(reader), boto3_plane(writer)
    try:
        engine = _engine(host, region, config)
    except ConfigError as err:
        if config.data_plane == "native":
            raise
        if config.data_plane == "boto3":
            return Planes(
                boto3_down, boto3_up, PlaneSwitch(PlaneChoice("boto3", "configured")), None
            )
        switch = PlaneSwitch(PlaneChoice("native", "default"))
        switch.to_boto3(f"the native plane cannot use the proxy ({err})")
        return Planes(boto3_down, boto3_up, switch, None)
    if config.data_plane == "boto3":
        return Planes(boto3_down, boto3_up, PlaneSwitch(PlaneChoice("boto3", "configured")), engine)
    native_down, native_up = (
        NativePlane(engine, session.get_credentials(), algorithm) for session in (reader, writer)
    )
    if config.data_plane == "native":
        return Planes(
            native_down, native_up, PlaneSwitch(PlaneChoice("native", "configured")), engine
        )
    switch = PlaneSwitch(PlaneChoice("native", "default"))
    return Planes(
        AdaptivePlane(native_down, boto3_down, switch),
        AdaptivePlane(native_up, boto3_up, switch),
        switch,
        engine,
    )
