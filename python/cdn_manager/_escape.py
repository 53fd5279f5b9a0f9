"""Names from the outside world, shown to people.

Object keys, file names and server messages are data: printed raw, a key
holding ESC could recolour or clear a terminal, set its title, or forge an
extra line of output or of a log. Wherever such text reaches a person (log
lines, the command line's output, error messages), it goes through
:func:`shown`, which escapes every control character visibly and reversibly.
Machine-readable output (``--json``) keeps the exact text. Secrets never
reach a person at all: :func:`redact` masks them.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Unicode's bidirectional embedding/override/isolate controls, which reorder
#: what a terminal shows (a name could display as another).
_BIDI = frozenset((*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_control(char: str) -> bool:
    """C0, DEL, C1, a bidi control, or a lone surrogate (a file name that was
    not valid UTF-8)."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or code in _BIDI or 0xD800 <= code <= 0xDFFF


def _escaped(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def shown(text: str) -> str:
    """``text`` with backslashes and control characters escaped (``\\\\``,
    ``\\n``, ``\\x1b``, ``\\u202e``…), safe to print and unambiguous."""
    if text.isprintable() and "\\" not in text:
        return text  # the common case, at C speed
    return "".join(_escaped(c) if c == "\\" or is_control(c) else c for c in text)


def printable(text: str) -> str:
    """``text`` with control characters escaped as :func:`shown` escapes
    them, backslashes left alone: for messages, which may already hold names
    escaped by :func:`shown` (escaping those again would double their
    backslashes). Not reversible; only :func:`shown` is."""
    if text.isprintable():
        return text
    return "".join(_escaped(c) if is_control(c) else c for c in text)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret in ``secrets`` replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
