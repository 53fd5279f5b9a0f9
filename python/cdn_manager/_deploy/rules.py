"""Per-file headers from a rules file (``push --rules FILE``), and which
files are entry points.

A rules file is YAML::

    defaults: true            # keep the built-in rules below (the default)
    entry: ["*.html", "sw.js"]  # published last (default: *.html)
    public_url: https://www.example.com/  # where the prefix is served (invalidation)
    retention: {releases: 3, days: 7}   # what left the site stays for (releases)
    rules:
      - match: "*.css"
        cache_control: "public, max-age=3600"
        content_encoding: br   # gzip | br | identity
      - match: "downloads/**"
        content_type: application/octet-stream
        metadata: {team: web}

Every rule whose ``match`` glob (see :mod:`.globs`) matches a file applies,
in order: for each field, the last matching rule that sets it wins, so a
later rule overrides an earlier one and the user's rules override the
built-in ones, which come first:

- content-hashed names (``app.3f2a9c1d.js``, ``logo-0badc0ffee.png``: 8 or
  more hex digits) get ``public, max-age=31536000, immutable``;
- ``*.html`` gets ``public, max-age=0, must-revalidate``.

The content type is the rule's, else guessed from the name (a fixed table
for the web's common types, so two machines agree, then ``mimetypes``).
Compression applies only to compressible types (text, scripts, JSON, XML,
SVG, WebAssembly, fonts without their own compression); a rule asking for
it on an image is ignored for that file.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .._sync.globs import Glob, any_match
from .._sync.headers import Headers
from .._sync.manifest import Retention
from ..errors import ConfigError

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=0, must-revalidate"
ENCODINGS = ("gzip", "br", "identity")
_FIELDS = ("match", "cache_control", "content_type", "content_encoding", "metadata")
_HASHED = re.compile(r"^.+[.-][0-9a-fA-F]{8,}\.[^./]+$")
_METADATA_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: Types whose names vary between mimetypes tables, fixed here.
_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".xml": "application/xml",
    ".txt": "text/plain",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/vnd.microsoft.icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
}
_COMPRESSIBLE = re.compile(
    r"^(text/.*|application/(javascript|json|manifest\+json|xml|wasm|ld\+json|rss\+xml|"
    r"atom\+xml)|image/(svg\+xml|vnd\.microsoft\.icon|x-icon)|font/(ttf|otf))$"
)


def content_type_for(relative: str) -> str | None:
    suffix = os.path.splitext(relative)[1].lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(relative)[0]


def compressible(content_type: str | None) -> bool:
    base = (content_type or "").split(";")[0].strip().lower()
    return bool(_COMPRESSIBLE.match(base))


class Matcher(Protocol):
    def matches(self, relative: str) -> bool: ...


class HashedName:
    """Matches content-hashed file names: ``name.<8+ hex>.ext`` and
    ``name-<8+ hex>.ext``."""

    def matches(self, relative: str) -> bool:
        return _HASHED.match(relative.rsplit("/", 1)[-1]) is not None


@dataclass(frozen=True)
class Rule:
    """One entry of a rules file: the fields it sets for files it matches."""

    match: Matcher
    cache_control: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    metadata: Mapping[str, str] | None = None


#: The built-in rules; a file's own rules come after them.
DEFAULTS = (
    Rule(HashedName(), cache_control=IMMUTABLE),
    Rule(Glob("*.html"), cache_control=REVALIDATE),
)


@dataclass(frozen=True)
class Rules:
    """Ordered rules and entry-point patterns."""

    rules: tuple[Rule, ...] = ()
    entry: tuple[Glob, ...] = (Glob("*.html"),)
    #: Where they came from (for messages).
    source: str = "built-in rules"
    #: Applied before ``rules`` unless the file says ``defaults: false``.
    defaults: tuple[Rule, ...] = DEFAULTS
    #: The URL the prefix is served at, for CDN invalidations.
    public_url: str | None = None
    #: How long what left the site stays (None: the default window).
    retention: Retention | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Rules:
        """Reads a rules file; raises :class:`ConfigError` naming the file
        and the entry at fault."""
        import yaml  # only where a rules file is read: it costs start-up

        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise _bad(where, str(err.strerror)) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise _bad(where, f"invalid YAML: {err}") from None
        return cls.from_data(data, where)

    @classmethod
    def from_data(cls, data: Any, source: str = "rules") -> Rules:
        """Rules from a parsed rules file: a mapping with ``rules``,
        ``entry`` and ``defaults``, or just the list of rules."""
        if data is None:
            data = {}
        if isinstance(data, list):
            data = {"rules": data}
        if not isinstance(data, dict):
            raise _bad(source, "the file must hold a mapping or a list of rules")
        unknown = set(data) - {"rules", "entry", "defaults", "public_url", "retention"}
        if unknown:
            raise _bad(source, f"unknown key {sorted(unknown)[0]!r}")
        defaults = data.get("defaults", True)
        if not isinstance(defaults, bool):
            raise _bad(source, "'defaults' must be true or false")
        rules = tuple(_rule(entry, source, n) for n, entry in enumerate(data.get("rules") or [], 1))
        entry = data.get("entry", ["*.html"])
        if isinstance(entry, str):
            entry = [entry]
        if not isinstance(entry, list) or not all(isinstance(p, str) and p for p in entry):
            raise _bad(source, "'entry' must be a list of glob patterns")
        public_url = data.get("public_url")
        if public_url is not None and (
            not isinstance(public_url, str)
            or not re.match(r"^https?://[^/\s]+(/\S*)?$", public_url)
        ):
            raise _bad(source, "'public_url' must be an http(s) URL")
        return cls(
            rules,
            tuple(Glob(p) for p in entry),
            source,
            DEFAULTS if defaults else (),
            public_url,
            _retention(data.get("retention"), source),
        )

    def headers(self, relative: str) -> Headers:
        """The headers of the file ``relative`` (to the folder)."""
        fields: dict[str, Any] = {}
        for rule in (*self.defaults, *self.rules):
            if not rule.match.matches(relative):
                continue
            for name in ("cache_control", "content_type", "content_encoding", "metadata"):
                value = getattr(rule, name)
                if value is not None:
                    fields[name] = value
        content_type = fields.get("content_type") or content_type_for(relative)
        encoding = fields.get("content_encoding")
        if encoding == "identity" or not compressible(content_type):
            encoding = None
        metadata = tuple(sorted((fields.get("metadata") or {}).items()))
        return Headers(fields.get("cache_control"), content_type, encoding, metadata)

    def is_entry(self, relative: str) -> bool:
        """Whether the file is an entry point (published after the rest)."""
        return any_match(self.entry, relative)


def _retention(value: Any, source: str) -> Retention | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"releases", "days"}:
        raise _bad(source, "'retention' must be a mapping of 'releases' and 'days'")
    releases, days = value.get("releases", 3), value.get("days", 7)
    if isinstance(releases, bool) or isinstance(days, bool):
        raise _bad(source, "'retention' takes numbers")
    try:
        return Retention(releases, days)
    except ValueError as err:
        raise _bad(source, str(err)) from None


def _bad(source: str, message: str) -> ConfigError:
    return ConfigError(f"rules file {source}: {message}", reason="RulesFile")


def _rule(entry: Any, source: str, number: int) -> Rule:
    where = f"rule {number}"
    if not isinstance(entry, dict):
        raise _bad(source, f"{where} must be a mapping")
    unknown = set(entry) - set(_FIELDS)
    if unknown:
        raise _bad(source, f"{where}: unknown field {sorted(unknown)[0]!r}")
    match = entry.get("match")
    if not isinstance(match, str) or not match.strip("/"):
        raise _bad(source, f"{where}: 'match' must be a glob pattern")
    for name in ("cache_control", "content_type"):
        value = entry.get(name)
        if value is not None and (not isinstance(value, str) or not _header_value(value)):
            raise _bad(source, f"{where}: '{name}' must be a printable ASCII string")
    encoding = entry.get("content_encoding")
    if encoding is not None and encoding not in ENCODINGS:
        raise _bad(source, f"{where}: 'content_encoding' must be one of {', '.join(ENCODINGS)}")
    metadata = entry.get("metadata")
    if metadata is not None:
        metadata = _metadata(metadata, source, where)
    return Rule(
        Glob(match), entry.get("cache_control"), entry.get("content_type"), encoding, metadata
    )


def _metadata(value: Any, source: str, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _bad(source, f"{where}: 'metadata' must be a mapping")
    out = {}
    for name, item in value.items():
        if not isinstance(name, str) or not _METADATA_NAME.match(name) or name.startswith("cdn-"):
            raise _bad(
                source,
                f"{where}: metadata name {name!r} must be lower-case letters, digits and "
                "dashes, not starting with 'cdn-'",
            )
        if not isinstance(item, str | int | float) or not _header_value(str(item)):
            raise _bad(source, f"{where}: metadata {name!r} must be a printable ASCII string")
        out[name] = str(item)
    return out


def _header_value(value: str) -> bool:
    return value.isascii() and value.isprintable()
