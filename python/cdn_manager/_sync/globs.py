"""The glob patterns of ``--include``/``--exclude`` and of a rules file's
``match:`` and ``entry:``, matched against paths relative to the folder
(``css/site.css``), the same way on both sides of a sync.

- ``*`` matches within one path segment, ``**`` across segments, ``?`` one
  character, ``[abc]``/``[!abc]`` one of a set;
- a pattern without ``/`` matches a name at any depth: the file's, or a
  folder's on its way (``drafts`` matches ``drafts/a.html``);
- a pattern with ``/`` matches the whole path from the folder (a leading
  ``/`` is optional), or a folder on its way (``assets/img`` matches
  ``assets/img/logo.png``);
- a trailing ``/`` matches folders only (``tmp/`` matches ``tmp/x``, not a
  file named ``tmp``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property


def _translate(pattern: str) -> str:
    """A regular expression for one glob (no anchors)."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end + 1
                continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Glob:
    """One pattern, compiled."""

    pattern: str

    @cached_property
    def _folders_only(self) -> bool:
        return self.pattern.endswith("/")

    @cached_property
    def _anchored(self) -> bool:
        return "/" in self.pattern.strip("/")

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        return re.compile(_translate(self.pattern.strip("/")), re.DOTALL)

    def matches(self, relative: str) -> bool:
        """Whether the file ``relative`` (``/``-separated, no leading ``/``)
        or a folder on its way matches."""
        parts = relative.split("/")
        for depth in range(len(parts), 0, -1):
            is_folder = depth < len(parts)
            if self._folders_only and not is_folder:
                continue
            subject = "/".join(parts[:depth]) if self._anchored else parts[depth - 1]
            if self._regex.fullmatch(subject):
                return True
        return False


def any_match(globs: tuple[Glob, ...], relative: str) -> bool:
    return any(glob.matches(relative) for glob in globs)
