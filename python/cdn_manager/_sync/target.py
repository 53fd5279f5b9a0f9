"""Where a deploy invalidates, and what it made there."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """Where to invalidate: ``provider`` ("cloudfront", "cloudflare" or
    "purge") and its id (for "purge", the base URL)."""

    provider: str
    ident: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.ident}"


@dataclass(frozen=True)
class Invalidation:
    """An invalidation made: its id(s), the paths or URLs it lists, its last
    status."""

    target: Target
    id: str
    paths: list[str]
    status: str
