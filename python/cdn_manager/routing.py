"""Which data plane a manager's object requests take, and through which proxy.

The native plane is the fast one; boto3's serves what it does not: a proxy
it cannot use (chosen up front) and endpoints that turn its requests away
(found out at the first request, then remembered).
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Mapping
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from . import _core
from .botoplane import Boto3Plane
from .config import TransferConfig
from .dataplane import DataPlane, ObjectOptions, Response
from .errors import ConfigError
from .nativeplane import NativePlane
from .s3errors import S3Error

log = logging.getLogger("cdn_manager")

#: Answers that may mean "this endpoint does not take native requests"
#: rather than "no": the same request is then tried through boto3.
REFUSALS = frozenset(
    (
        "AccessDenied",
        "SignatureDoesNotMatch",
        "AuthorizationHeaderMalformed",
        "InvalidRequest",
        "InvalidArgument",
        "NotImplemented",
        "MethodNotAllowed",
        "XAmzContentSHA256Mismatch",
        "400",
        "403",
        "405",
        "501",
    )
)


def endpoint_proxy(host: str, proxies: Mapping[str, str] | None) -> str | None:
    """The proxy botocore would use for the endpoint ``host``: ``proxies``
    by the endpoint's scheme if given (not consulting ``NO_PROXY``, as
    botocore does not), else ``HTTP(S)_PROXY`` from the environment unless
    ``NO_PROXY`` covers the host. A proxy given without a scheme is an
    ``http://`` one, as for botocore; one with another scheme (``socks5://``)
    is passed on as it is, for the native plane to refuse."""
    parts = urlsplit(host)
    if proxies:
        chosen = dict(proxies)
    elif urllib.request.proxy_bypass(parts.netloc):
        chosen = {}
    else:
        chosen = urllib.request.getproxies()
    proxy = chosen.get(parts.scheme)
    if not proxy:
        return None
    if "://" in proxy:
        return proxy
    return "http:" + proxy if proxy.startswith("//") else "http://" + proxy


def native_engine(host: str, config: TransferConfig) -> _core.Engine | None:
    """The native plane's client for ``host``, through the proxy botocore
    would use; None when the boto3 plane is configured, or on "auto" when the
    native plane cannot use that proxy (then boto3 carries the bytes, which
    is logged). Raises :class:`ConfigError` for such a proxy when the native
    plane is forced."""
    if config.data_plane == "boto3":
        return None
    proxy = endpoint_proxy(host, config.proxies)
    try:
        return _core.Engine(
            host,
            config.region,
            config.connect_timeout,
            config.read_timeout,
            config.pool_size,
            config.ca_bundle,
            proxy=proxy,
            socket_tuning=config.socket_tuning,
        )
    except ConfigError as err:
        if config.data_plane == "native":
            raise
        log.warning("object requests go through boto3: %s", err)
        return None


class AdaptivePlane:
    """The native plane until the endpoint shows it refuses it: a refusal
    (see :data:`REFUSALS`) before any native request has succeeded is tried
    again through boto3, and if boto3 succeeds, boto3 is used from then on."""

    def __init__(self, native: NativePlane, boto3: Boto3Plane, name: str) -> None:
        self._native = native
        self._boto3 = boto3
        self._name = name
        self._state: Literal["probing", "native", "boto3"] = "probing"
        self._switch = threading.Lock()

    def _route(self, operation: str, *args: Any) -> Any:
        if self._state == "boto3":
            return getattr(self._boto3, operation)(*args)
        try:
            result = getattr(self._native, operation)(*args)
        except S3Error as err:
            if self._state == "native" or err.code not in REFUSALS:
                self._state = "native"
                raise
            result = getattr(self._boto3, operation)(*args)
            if self._switch_to_boto3():
                log.warning(
                    "%s: the endpoint refused a native request (%s) but accepted boto3's; "
                    "using boto3 for this manager",
                    self._name,
                    err.code,
                )
            return result
        self._state = "native"
        return result

    def _switch_to_boto3(self) -> bool:
        """Route to boto3 from now on; True for the one thread that switched."""
        # Other threads may switch concurrently: read and write under the lock.
        with self._switch:
            switched = self._state != "boto3"
            self._state = "boto3"
        return switched

    def get(
        self,
        bucket: str,
        key: str,
        byte_range: tuple[int, int] | None = None,
        if_match: str | None = None,
    ) -> Response:
        return cast(Response, self._route("get", bucket, key, byte_range, if_match))

    def put(
        self,
        bucket: str,
        key: str,
        body: memoryview,
        crc: int,
        options: ObjectOptions,
        control: _core.Control,
    ) -> None:
        self._route("put", bucket, key, body, crc, options, control)

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: memoryview,
        crc: int,
        control: _core.Control,
    ) -> str:
        return str(self._route("upload_part", bucket, key, upload_id, number, body, crc, control))


def data_plane(
    client: Any,
    session: Any,
    engine: _core.Engine | None,
    host: str,
    config: TransferConfig,
    name: str,
) -> DataPlane:
    """The plane for the requests of one key pair (``client`` and the
    ``session`` it was made from) to ``host``; ``engine`` is the native
    plane's client (:func:`native_engine`), None for boto3 only."""
    boto3 = Boto3Plane(client, config.checksum_algorithm)
    if engine is None:
        log.debug("%s: object requests go through boto3", name)
        return boto3
    native = NativePlane(engine, session.get_credentials(), config.checksum_algorithm)
    if config.data_plane == "native":
        return native
    return AdaptivePlane(native, boto3, name)
