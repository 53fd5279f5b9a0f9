"""The native data plane: object requests signed and sent by the Rust core,
bytes moved between the socket and the file or buffer with the GIL released."""

from __future__ import annotations

from typing import Any

from .. import _core
from . import pages
from .protocol import Condition, Get, Head, ListPage, ObjectOptions, Put

#: A key pair and session token (None), as the Rust core signs with them.
Keys = tuple[str, str, str | None]


class NativePlane:
    """Requests signed and sent by the Rust core with one key pair (the same
    one the manager's boto3 client of that pair is given: both are set once,
    from :class:`CDNCredentials`)."""

    def __init__(self, engine: _core.Engine, keys: Keys, algorithm: str) -> None:
        self._engine = engine
        self._keys_now = keys
        self._algorithm = algorithm

    def _keys(self) -> Keys:
        return self._keys_now

    def get(self, request: Get) -> _core.Response:
        return self._engine.get(
            self._keys(),
            request.bucket,
            request.key,
            request.byte_range,
            request.if_match,
            request.control,
        )

    def head(self, request: Head) -> dict[str, str]:
        return self._engine.head(self._keys(), request.bucket, request.key)

    def list_page(self, request: ListPage) -> dict[str, Any]:
        body = self._engine.list(self._keys(), request.bucket, pages.query(request.params))
        return pages.parse(body)

    def put(self, request: Put) -> str:
        # The Rust core adds the checksum headers itself.
        headers = []
        if request.part is None:
            headers = _object_headers(request.options) + _condition_headers(request.condition)
        response = self._engine.put(
            self._keys(),
            request.bucket,
            request.key,
            request.body,
            (self._algorithm, request.crc),
            headers,
            request.control,
            request.part,
        )
        return response.get("etag", "")


def _object_headers(options: ObjectOptions) -> list[tuple[str, str]]:
    """What a PUT stores beside the bytes, as request headers."""
    headers = [("x-amz-meta-" + name.lower(), value) for name, value in options.metadata.items()]
    if options.content_type:
        headers.append(("content-type", options.content_type))
    if options.cache_control:
        headers.append(("cache-control", options.cache_control))
    if options.content_encoding:
        headers.append(("content-encoding", options.content_encoding))
    return headers


def _condition_headers(condition: Condition) -> list[tuple[str, str]]:
    headers = []
    if condition.if_match is not None:
        headers.append(("if-match", condition.if_match))
    if condition.if_none_match:
        headers.append(("if-none-match", "*"))
    return headers
