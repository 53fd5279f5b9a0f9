"""The user's cache folder, where cdn-manager keeps what it remembers
between runs: ``$XDG_CACHE_HOME/cdn-manager`` (``~/.cache/cdn-manager`` when
the variable is unset or empty), one subfolder per kind of memory."""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder(kind: str) -> Path:
    """``$XDG_CACHE_HOME/cdn-manager/<kind>`` (default ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cdn-manager" / kind
