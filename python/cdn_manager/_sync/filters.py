"""``--include GLOB`` / ``--exclude GLOB``: which files a push considers and
which keys a pull considers, the same on both sides.

Filters are read in order and the last one that matches a path decides, as
rsync's filter rules read bottom-up; a path no filter matches is included.
So ``--exclude '*' --include '*.html'`` keeps only pages, and
``--include 'drafts/keep.html' --exclude drafts`` keeps nothing of drafts.
An excluded file is neither uploaded nor, with ``--delete``, deleted on the
other side: what is filtered out is left alone everywhere. Patterns are
described in :mod:`.globs`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidRequest
from .globs import Glob

Action = Literal["include", "exclude"]


@dataclass(frozen=True)
class Filters:
    """An ordered list of ``(action, glob)`` filters."""

    rules: tuple[tuple[Action, Glob], ...] = ()

    @classmethod
    def of(
        cls,
        filters: Sequence[tuple[str, str]] = (),
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
    ) -> Filters:
        """``filters`` in their order, then every ``include``, then every
        ``exclude`` (so an ``exclude`` overrides an ``include``). Raises
        :class:`InvalidRequest` for an unknown action or an empty pattern."""
        ordered = [
            *filters,
            *(("include", p) for p in include),
            *(("exclude", p) for p in exclude),
        ]
        rules: list[tuple[Action, Glob]] = []
        for action, pattern in ordered:
            if action not in ("include", "exclude"):
                raise InvalidRequest(
                    f"filter action must be 'include' or 'exclude', not {action!r}",
                    reason="InvalidFilter",
                )
            if not pattern.strip("/"):
                raise InvalidRequest(f"empty {action} pattern", reason="InvalidFilter")
            rules.append(("include" if action == "include" else "exclude", Glob(pattern)))
        return cls(tuple(rules))

    def included(self, relative: str) -> bool:
        """Whether the path (relative to the folder or prefix) is synced."""
        for action, glob in reversed(self.rules):
            if glob.matches(relative):
                return action == "include"
        return True

    def __bool__(self) -> bool:
        return bool(self.rules)
