"""The data planes (the requests that carry object bytes) and the choice of
which one a manager uses.

``base`` says what a plane does; ``native`` (the Rust client) and ``boto3``
(botocore's) do it; ``adaptive`` starts native and moves to boto3, loudly,
if the endpoint refuses native requests that boto3 gets through.

boto3 is imported when its first client is built, not before: a command
that the native plane serves alone (``ls``, a download) never loads it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .. import _core
from .._config import TransferConfig
from ..errors import ConfigError
from .adaptive import AdaptivePlane, PlaneChoice, PlaneSwitch
from .boto3_plane import Boto3Plane
from .native import Keys, NativePlane
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
    proxies = dict(configured) if configured is not None else _environ_proxies(host)
    proxy = proxies.get(urlsplit(host).scheme)
    if not proxy:
        return None
    if "://" in proxy:
        return str(proxy)
    return "http:" + proxy if proxy.startswith("//") else "http://" + proxy


def _environ_proxies(host: str) -> Mapping[str, str]:
    """The environment's proxies for ``host`` as botocore reads them; with
    no ``*_proxy`` variable at all there are none, and botocore (about
    0.1 s to import) is not asked."""
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return {}
    from botocore.utils import get_environ_proxies

    proxies: Mapping[str, str] = get_environ_proxies(host)
    return proxies


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
    keys: tuple[Keys, Keys],
    sessions: tuple[Callable[[], Any], Callable[[], Any]],
    steer: Callable[[Any], Any],
) -> Planes:
    """The planes for requests to ``host`` signed by the read and the write
    key pairs (``keys`` for the native plane; ``sessions`` make the boto3
    sessions of the same pairs, when a boto3 plane first needs one), for
    ``region`` if given (else the one each bucket's server names); ``steer``
    sets up a boto3 client to sign for each bucket's region."""
    algorithm = config.checksum_algorithm

    def boto3_plane(session: Callable[[], Any]) -> Boto3Plane:
        def client() -> Any:
            from .clients import make_client

            made = make_client(host, session(), config, region or DEFAULT_REGION, attempts=1)
            return steer(made)

        return Boto3Plane(client, algorithm)

    boto3_down, boto3_up = (boto3_plane(session) for session in sessions)
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
    native_down, native_up = (NativePlane(engine, pair, algorithm) for pair in keys)
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
