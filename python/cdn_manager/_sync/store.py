"""What a sync needs of the store it syncs with: reads with the read key,
writes with the write key. A manager's operations layer provides it; the
sync engine and deploys know nothing else of a manager."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, Protocol

from .. import _core
from .._config import TransferConfig
from .._planes.protocol import Condition, ObjectOptions
from .._results import ObjectInfo, TransferResult
from .._transfers.sources import Source


class Store(Protocol):
    @property
    def endpoint(self) -> str:
        """The store's URL (what receipts and caches are keyed by)."""

    @property
    def config(self) -> TransferConfig: ...

    def secrets(self) -> tuple[str, ...]:
        """What no message may show."""

    def list(self, bucket: str, prefix: str) -> Generator[ObjectInfo, None, None]: ...

    def stat(self, bucket: str, key: str) -> ObjectInfo: ...

    def part_size(self, bucket: str, key: str) -> int:
        """The size of part 1 of a multipart object."""

    def store(
        self,
        control: _core.Control,
        bucket: str,
        key: str,
        source: Source | Callable[[], Source],
        options: ObjectOptions,
        condition: Condition,
    ) -> str:
        """Uploads, conditionally; the new ETag. A lost condition raises
        :class:`~cdn_manager.errors.Conflict`."""

    def replace_headers(
        self, bucket: str, key: str, options: ObjectOptions, if_match: str | None
    ) -> str: ...

    def delete(self, bucket: str, key: str, if_match: str | None = None) -> None: ...

    def download_bytes(self, control: _core.Control, bucket: str, key: str) -> bytes:
        """The verified bytes of an object (read key)."""

    def fetch_file(
        self,
        control: _core.Control,
        bucket: str,
        key: str,
        folder: Path,
        name: str | None,
        size: int | None = None,
    ) -> TransferResult: ...

    def cloudfront(self) -> Any:
        """A CloudFront client signed with the write key."""
