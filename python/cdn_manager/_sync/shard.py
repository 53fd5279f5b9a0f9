"""Shards: N machines (or N workers) split one push or pull of a tree with no
coordination between them.

``Shard(k, n)`` is the k-th of n shards, counted from 1 ("shard 1 of 4",
``--shard 1/4`` … ``--shard 4/4``). An object belongs to exactly one shard,
picked by the first 8 bytes of the SHA-256 of its path below the prefix (a
file's path below the folder) modulo n: the same on every machine, in every
run and every Python process (``hash()`` is salted per process), and the
same for a push and for the pull of the same tree, whatever the prefix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .._escape import shown
from ..errors import InvalidRequest


def shard_of(relative: str, count: int) -> int:
    """The shard (1 to ``count``) that the path ``relative`` belongs to."""
    digest = hashlib.sha256(relative.encode("utf-8", "surrogateescape")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


def in_shard(shard: Shard | None, relative: str) -> bool:
    """Whether ``relative`` is ``shard``'s (every path is when it is None)."""
    return shard is None or shard.owns(relative)


@dataclass(frozen=True)
class Shard:
    """The ``index``-th of ``count`` shards (1 ≤ index ≤ count)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        numbers = (self.index, self.count)
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
            raise InvalidRequest("a shard is two whole numbers (K, N)", reason="InvalidShard")
        if not 1 <= self.index <= self.count:
            raise InvalidRequest(
                f"shard {self.index}/{self.count}: K must be between 1 and N",
                reason="InvalidShard",
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"``; raises :class:`InvalidRequest`."""
        index, slash, count = text.partition("/")
        if not (slash and index.isdigit() and count.isdigit()):
            raise InvalidRequest(f"a shard is K/N, not '{shown(text)}'", reason="InvalidShard")
        return cls(int(index), int(count))

    @classmethod
    def of(cls, value: Shard | tuple[int, int] | None) -> Shard | None:
        """A :class:`Shard` from a ``(K, N)`` pair (or one, or None)."""
        if value is None or isinstance(value, Shard):
            return value
        if not isinstance(value, tuple) or len(value) != 2:
            raise InvalidRequest("shard must be a (K, N) pair", reason="InvalidShard")
        return cls(*value)

    def owns(self, relative: str) -> bool:
        """Whether the path ``relative`` (below the prefix or folder) is this
        shard's."""
        return shard_of(relative, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
