"""Purging a self-hosted cache by URL (``purge:https://www.example.com/``):
one HTTP ``PURGE`` request per URL, the convention of Varnish, nginx's
cache-purge module and Fastly. Each URL is the target's base URL followed
by the object's path below the prefix; an ``index.html`` is also purged by
its folder's URL (``docs/index.html`` is served as ``docs/`` too).

A cache answers 200 (purged) or 404 (it held nothing under that URL:
nothing to purge); anything else fails the purge. If
``$CDN_MANAGER_PURGE_TOKEN`` is set, every request carries it in the
header named by ``$CDN_MANAGER_PURGE_HEADER`` (default ``X-Purge-Token``;
Fastly's is ``Fastly-Key``); the token is never logged or shown.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from urllib.parse import quote, urlsplit

from .. import _core
from .._config import TransferConfig
from .._escape import shown
from .._sync.target import Invalidation, Target
from .._transfers.parts import run_each
from ..errors import ConfigError, InvalidRequest, TransferError
from .web import pool

TOKEN_VARIABLE = "CDN_MANAGER_PURGE_TOKEN"
HEADER_VARIABLE = "CDN_MANAGER_PURGE_HEADER"
DEFAULT_HEADER = "X-Purge-Token"
#: What a cache answers for a purged URL, and for one it did not hold.
_PURGED, _ABSENT = 200, 404


def base_url(spec: str) -> str:
    """The base URL of ``purge:URL``; :class:`InvalidRequest` unless it is an
    http(s) URL with a host and no query."""
    parts = urlsplit(spec)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidRequest(
            f"purge target must be purge:http(s)://HOST/PATH/, not purge:{shown(spec)}",
            reason="InvalidTarget",
        )
    return spec if spec.endswith("/") else spec + "/"


def urls(base: str, relatives: Sequence[str]) -> list[str]:
    """The URLs of ``relatives`` (paths below the prefix), with each
    ``index.html``'s folder."""
    found = set()
    for relative in relatives:
        found.add(base + quote(relative, safe="/-._~"))
        if relative == "index.html" or relative.endswith("/index.html"):
            found.add(base + quote(relative[: -len("index.html")], safe="/-._~"))
    return sorted(found)


def purge(target: Target, relatives: Sequence[str], config: TransferConfig) -> Invalidation:
    """Sends ``PURGE`` for the URL of each of ``relatives``, up to
    ``config.max_in_flight`` at once. Raises :class:`TransferError` when the
    cache refuses one (or cannot be reached), :class:`ConfigError` for a
    header name that is no HTTP header name."""
    from urllib3.exceptions import HTTPError  # here, not at start-up: only a purge uses it

    listed = urls(base_url(target.ident), relatives)
    headers = {}
    token = os.environ.get(TOKEN_VARIABLE)
    if token:
        name = os.environ.get(HEADER_VARIABLE) or DEFAULT_HEADER
        if not name.isascii() or not name.replace("-", "").isalnum():
            raise ConfigError(f"${HEADER_VARIABLE} is not an HTTP header name", reason="BadHeader")
        headers[name] = token
    http = pool(config, config.max_in_flight)

    def one(url: str) -> None:
        try:
            response = http.request("PURGE", url, headers=headers)
        except HTTPError as err:
            raise TransferError(
                f"purge {shown(url)}: {type(err).__name__}", reason=type(err).__name__
            ) from None
        if response.status not in (_PURGED, _ABSENT):
            raise TransferError(
                f"purge {shown(url)}: HTTP {response.status}", reason="PurgeRefused"
            )

    with http:
        run_each([partial(one, url) for url in listed], config.max_in_flight, _core.Control())
    return Invalidation(target, "", listed, "purged")
