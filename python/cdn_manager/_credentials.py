"""CDN credentials: the host and the two key pairs, loaded from YAML or env."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._escape import shown
from .errors import ConfigError

#: Environment variables read by :meth:`CDNCredentials.from_env`, per field.
ENV_VARS = {
    "host": "CDN_HOST",
    "downloader_access_key": "CDN_DOWNLOADER_ACCESS_KEY",
    "downloader_access_secret": "CDN_DOWNLOADER_ACCESS_SECRET",
    "uploader_access_key": "CDN_UPLOADER_ACCESS_KEY",
    "uploader_access_secret": "CDN_UPLOADER_ACCESS_SECRET",
    "region": "CDN_REGION",
}
#: The fields that may be left out (the five seed fields may not).
OPTIONAL = ("region",)

_SECRETS = ("downloader_access_secret", "uploader_access_secret")


def yaml() -> Any:
    """PyYAML, imported when a file is read or written (not by a command
    whose credentials come from the environment, or that needs none)."""
    import yaml

    return yaml


log = logging.getLogger("cdn_manager")
#: Files already warned about in this process (one line each, not per load).
_warned: set[str] = set()


def _warn_if_readable_by_others(path: str) -> None:
    """One warning line (as ssh gives for a private key) when a file holding
    both secrets can be read by the group or by others."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not mode & (stat.S_IRGRP | stat.S_IROTH) or path in _warned:
        return
    _warned.add(path)
    log.warning(
        "%s holds two secret keys and is readable by %s (mode %03o): chmod 600 %s",
        shown(path),
        "others" if mode & stat.S_IROTH else "the group",
        stat.S_IMODE(mode),
        shown(path),
    )


@dataclass(frozen=True, repr=False)
class CDNCredentials:
    """Endpoint and two key pairs: a read-only one and a write one; and the
    region requests are signed for, if the server's is known (else it is
    learnt from the server, once per bucket).

    Raises :class:`ConfigError` (a ``ValueError``) naming the bad field; a
    secret's value is never part of a message or a ``repr``.
    """

    host: str
    downloader_access_key: str
    downloader_access_secret: str
    uploader_access_key: str
    uploader_access_secret: str
    region: str | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None and field.name in OPTIONAL:
                continue
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{field.name} must be a non-empty string")
        parts = urlsplit(self.host)
        # A user:password in the URL would be shown by repr() and the logs.
        if "@" in parts.netloc:
            raise ConfigError("host must not contain a user name or password")
        try:
            _ = parts.port  # parsed on access: raises for a bad port
        except ValueError:
            raise ConfigError(f"host has an invalid port: {self.host!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"host must be an http(s) URL, got {self.host!r}")

    def __repr__(self) -> str:
        return (
            f"CDNCredentials(host={self.host!r}, "
            f"downloader_access_key={self.downloader_access_key!r}, "
            "downloader_access_secret='***', "
            f"uploader_access_key={self.uploader_access_key!r}, "
            "uploader_access_secret='***', "
            f"region={self.region!r})"
        )

    __str__ = __repr__

    def secrets(self) -> tuple[str, str]:
        """The two secret values (for redacting them from text)."""
        return (self.downloader_access_secret, self.uploader_access_secret)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str) -> CDNCredentials:
        """Builds credentials from the five fields and the optional region;
        ``source`` names where they came from in error messages."""
        expected = [f.name for f in fields(cls)]
        missing = [name for name in expected if name not in data and name not in OPTIONAL]
        unknown = sorted(str(name) for name in data if name not in expected)
        if missing:
            raise ConfigError(f"{source}: missing key(s) {', '.join(missing)}")
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}")
        try:
            return cls(**{name: data[name] for name in expected if name in data})
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> CDNCredentials:
        """Reads a ``cdn.yaml`` holding the five fields (and optionally
        ``region``) as a flat mapping.
        Logs one warning if the group or others may read it."""
        source = os.fspath(path)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{source}: cannot read ({err.strerror})") from None
        try:
            data = yaml().safe_load(text)
        except yaml().YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{source}: not valid YAML{where}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of the five credential keys")
        credentials = cls.from_mapping(data, source)
        _warn_if_readable_by_others(source)
        return credentials

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CDNCredentials:
        """Reads the fields from the variables in :data:`ENV_VARS`
        (``CDN_REGION`` may be unset)."""
        env = os.environ if environ is None else environ
        missing = [
            var for name, var in ENV_VARS.items() if not env.get(var) and name not in OPTIONAL
        ]
        if missing:
            raise ConfigError(f"environment: missing variable(s) {', '.join(missing)}")
        given = {name: env[var] for name, var in ENV_VARS.items() if env.get(var)}
        return cls.from_mapping(given, "environment")

    def to_yaml(self) -> str:
        """The ``cdn.yaml`` text for these credentials (secrets included)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return str(yaml().safe_dump({k: v for k, v in values.items() if v is not None}))
