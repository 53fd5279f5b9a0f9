"""What a push stores beside an object's bytes and compares: the headers
and user metadata a deploy owns.

User metadata keys the rules do not set belong to whoever set them (rclone's
``mtime`` and ``md5chksum``, s3cmd's ``s3cmd-attrs``): they are never a
difference, and a header update keeps them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Headers:
    """What a deploy stores beside an object's bytes."""

    cache_control: str | None = None
    content_type: str | None = None
    #: "gzip" or "br" when the stored bytes are compressed; None: as is.
    content_encoding: str | None = None
    #: User metadata (``x-amz-meta-NAME``), sorted by name.
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def immutable(self) -> bool:
        return "immutable" in (self.cache_control or "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "cache_control": self.cache_control,
            "content_type": self.content_type,
            "content_encoding": self.content_encoding,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Headers:
        return cls(
            data.get("cache_control"),
            data.get("content_type"),
            data.get("content_encoding"),
            tuple(sorted(dict(data.get("metadata") or {}).items())),
        )

    def differences(self, other: Headers) -> list[str]:
        """The names of the fields of ``other`` (what an object has) that
        differ from these (what the rules want): the metadata differs only
        if a key set here has another value, or none, there."""
        found = [
            name
            for name in ("cache_control", "content_type", "content_encoding")
            if getattr(self, name) != getattr(other, name)
        ]
        theirs = dict(other.metadata)
        if any(theirs.get(name) != value for name, value in self.metadata):
            found.append("metadata")
        return found

    def others(self, other: Headers) -> dict[str, str]:
        """The metadata of ``other`` (an object's) whose keys these headers
        (the rules') do not set: another tool's, kept as it is."""
        mine = dict(self.metadata)
        return {name: value for name, value in other.metadata if name not in mine}
