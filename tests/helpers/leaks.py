"""Every secret the suite hands to cdn-manager, so a leak cannot hide.

Test secrets are long and distinctive (``<label>-SECRET-<uuid>``); the
generated ones of the IAM server are registered with :func:`remember`. The
autouse fixture in ``conftest.py`` checks every log record and every
``CDNError`` message of every test against this registry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

KNOWN_SECRETS: set[str] = set()


def new_secret(label: str) -> str:
    """A fresh, registered secret that no other text can contain by chance."""
    value = f"{label}-SECRET-{uuid.uuid4().hex}"
    KNOWN_SECRETS.add(value)
    return value


def remember(*secrets: str) -> None:
    KNOWN_SECRETS.update(secrets)


def leaked(texts: Iterable[str]) -> list[tuple[str, str]]:
    """Each (secret, text) pair where a known secret appears in the text."""
    return [(s, t) for t in texts for s in KNOWN_SECRETS if s in t]
