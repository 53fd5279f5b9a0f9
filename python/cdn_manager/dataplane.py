"""The data plane: the requests that carry object bytes (GET, PUT, UploadPart).

The transfer flows in ``upload.py`` and ``download.py`` decide what to send and
verify what comes back; a data plane only performs single requests. There are
two: the native one (signed and sent by the Rust core, bytes moved with the
GIL released) and one through the boto3 client, for what the native one does
not serve (proxies, custom CA bundles, an endpoint that refuses it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import _core

#: Bytes read from a response per call into the Rust writer.
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ObjectOptions:
    """What an upload stores beside the bytes."""

    content_type: str | None = None
    cache_control: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def headers(self) -> list[tuple[str, str]]:
        headers = [("x-amz-meta-" + name.lower(), value) for name, value in self.metadata.items()]
        if self.content_type:
            headers.append(("content-type", self.content_type))
        if self.cache_control:
            headers.append(("cache-control", self.cache_control))
        return headers

    def boto3_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"Metadata": dict(self.metadata)}
        if self.content_type:
            params["ContentType"] = self.content_type
        if self.cache_control:
            params["CacheControl"] = self.cache_control
        return params


class Response(Protocol):
    """An object GET whose body has not been read yet."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers, names in lower case."""

    def read_into(self, sink: _core.PartSink, length: int) -> None:
        """Streams exactly ``length`` body bytes into ``sink``; raises
        :class:`~cdn_manager.s3errors.Truncated` if the body ends early."""

    def close(self) -> None: ...


class DataPlane(Protocol):
    """Sends the single requests that move object bytes."""

    def get(
        self,
        bucket: str,
        key: str,
        byte_range: tuple[int, int] | None = None,
        if_match: str | None = None,
    ) -> Response:
        """GET ``bucket/key`` (``byte_range`` is ``(start, end)``, end
        exclusive), asking for the stored checksum."""

    def put(
        self,
        bucket: str,
        key: str,
        body: memoryview,
        crc: int,
        options: ObjectOptions,
        control: _core.Control,
    ) -> None:
        """PUT ``body`` with its CRC, which the server verifies."""

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
        """Sends part ``number`` with its CRC; returns its ETag."""
