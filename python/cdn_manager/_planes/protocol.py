"""What every data plane does: perform the single requests that carry object
bytes (GET, PUT and UploadPart).

The transfer flows (``_transfers/download.py``, ``upload.py``) decide what to send and
verify what comes back; a plane only performs one request at a time. There
are two: the native one (``native.py``: signed and sent by the Rust core,
bytes moved with the GIL released) and one through the boto3 client
(``boto3_plane.py``); ``adaptive.py`` starts on the first and moves to the second,
loudly, when an endpoint turns the native one away.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import _core

#: Bytes read from a response per call into the Rust writer.
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ObjectOptions:
    """What an upload stores beside the bytes."""

    content_type: str | None = None
    cache_control: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: "gzip" or "br" when the bytes stored are compressed.
    content_encoding: str | None = None


@dataclass(frozen=True)
class Condition:
    """A conditional write: the object must still have ETag ``if_match``,
    or (``if_none_match``) must not exist yet. The server refuses otherwise
    (412, :class:`~cdn_manager.errors.Conflict`), so two writers never
    silently replace each other's object."""

    if_match: str | None = None
    if_none_match: bool = False


@dataclass(frozen=True)
class Get:
    """A GET of ``bucket/key``: the whole object, or bytes ``start..end``
    (end exclusive) of it; ``if_match`` an ETag the object must still have.
    The native plane stops waiting for the answer once ``control`` is
    cancelled."""

    bucket: str
    key: str
    byte_range: tuple[int, int] | None = None
    if_match: str | None = None
    control: _core.Control | None = None

    def __str__(self) -> str:
        return f"GET {self.bucket}/{self.key}"


@dataclass(frozen=True)
class Head:
    """A HEAD of ``bucket/key``, asking for the stored checksum."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"HEAD {self.bucket}/{self.key}"


@dataclass(frozen=True)
class Put:
    """A PUT of ``body`` at ``bucket/key`` with its CRC, which the server
    verifies; as part ``(upload_id, number)`` of a multipart upload when
    ``part`` is set (``options`` and ``condition`` then belong to the upload,
    not the part)."""

    bucket: str
    key: str
    body: memoryview
    crc: int
    control: _core.Control
    options: ObjectOptions = field(default_factory=ObjectOptions)
    part: tuple[str, int] | None = None
    condition: Condition = field(default_factory=Condition)

    def __str__(self) -> str:
        what = f"{self.bucket}/{self.key}"
        return f"PUT {what}" if self.part is None else f"PUT {what} part {self.part[1]}"


@dataclass(frozen=True)
class ListPage:
    """One ListObjectsV2 page of ``bucket``; ``params`` as boto3 names them
    (``Prefix``, ``Delimiter``, ``ContinuationToken``, ``MaxKeys``,
    ``StartAfter``)."""

    bucket: str
    params: Mapping[str, Any]

    def __str__(self) -> str:
        return f"LIST {self.bucket}/{self.params.get('Prefix', '')}"


class Response(Protocol):
    """An object GET whose body has not been read yet."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers, names in lower case."""

    def read_into(self, sink: _core.PartSink, length: int) -> None:
        """Streams exactly ``length`` body bytes into ``sink``; raises
        :class:`~cdn_manager._planes.failures.Truncated` if the body ends early."""

    def close(self) -> None: ...


class DataPlane(Protocol):
    """Sends the single requests that move object bytes."""

    def get(self, request: Get) -> Response:
        """Sends ``request``, asking for the stored checksum; the body is
        left unread."""

    def head(self, request: Head) -> Mapping[str, str]:
        """Sends ``request``; returns the answer's headers, names in lower
        case."""

    def put(self, request: Put) -> str:
        """Sends ``request``; returns the ETag the server gave the bytes."""

    def list_page(self, request: ListPage) -> dict[str, Any]:
        """Sends ``request``; returns the page as boto3's
        ``list_objects_v2`` does."""
