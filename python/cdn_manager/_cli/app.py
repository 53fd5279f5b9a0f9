"""What every command shares: the options, the credentials (looked up on
first use, so commands that need none never look), the manager, and the
output channels (lines for people, or one JSON document).

Exit statuses: 0 ok, 1 failure, 2 usage error, 130 interrupted."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._credentials import ENV_VARS, CDNCredentials
from .._escape import printable, redact, shown
from ..errors import CDNError, ConfigError
from .output import ProgressBar

if TYPE_CHECKING:
    from .._faces.manager import CDNManager
    from .._results import TransferResult

PROG = "cdn-manager"
#: Environment variable naming the configuration file.
CONFIG_ENV = "CDN_MANAGER_CONFIG"
DEFAULT_CONFIG = "cdn.yaml"
#: Exit statuses (argparse itself exits 2 on a usage error).
EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 130

log = logging.getLogger("cdn_manager")


class UsageError(Exception):
    """Arguments that parse but make no sense together (exit 2)."""


#: What runs a command: ``run(app, args)`` -> the exit status.
Handler = Callable[["App", argparse.Namespace], int]
#: Adds a command: ``command(name, run, summary, examples)`` -> its parser,
#: where ``run`` names the command's :data:`Handler` as ``"module:function"``
#: (a module of this package, imported only when the command runs: each
#: command loads what it needs and no other's).
CommandFactory = Callable[[str, str, str, str], argparse.ArgumentParser]

#: How aws, s5cmd and rclone users name a bucket: ``s3://BUCKET/KEY``.
S3_SCHEME = "s3://"


def strip_scheme(text: str) -> str | None:
    """``BUCKET[/KEY]`` of ``s3://BUCKET[/KEY]``; None if ``text`` is not such a URL."""
    return text[len(S3_SCHEME) :] if text[: len(S3_SCHEME)].lower() == S3_SCHEME else None


def split_location(location: str) -> tuple[str, str]:
    """``BUCKET[/PREFIX]`` or ``s3://BUCKET[/PREFIX]`` -> ``(bucket, prefix)``."""
    stripped = strip_scheme(location)
    bucket, _, prefix = (location if stripped is None else stripped).partition("/")
    if not bucket:
        raise UsageError(f"'{shown(location)}': expected BUCKET[/PREFIX] or s3://BUCKET[/PREFIX]")
    return bucket, prefix


# Configuration.


def user_config(environ: Mapping[str, str] = os.environ) -> Path:
    """The user's own configuration file: ``$XDG_CONFIG_HOME/cdn-manager/cdn.yaml``
    (``~/.config/cdn-manager/cdn.yaml`` when the variable is unset, empty or
    relative, as the XDG base directory specification says)."""
    base = Path(environ.get("XDG_CONFIG_HOME") or "")
    if not base.is_absolute():
        base = Path.home() / ".config"
    return base / PROG / DEFAULT_CONFIG


def load_credentials(
    explicit: str | None, environ: Mapping[str, str] = os.environ
) -> CDNCredentials:
    """The credentials from ``--config``, else ``$CDN_MANAGER_CONFIG``, else
    ``./cdn.yaml``, else the user's :func:`user_config`, else the ``CDN_*``
    variables; :class:`ConfigError` with one clear message when there are
    none."""
    if explicit:
        return CDNCredentials.from_yaml(explicit)
    named = environ.get(CONFIG_ENV)
    if named:
        try:
            return CDNCredentials.from_yaml(named)
        except ConfigError as err:
            raise ConfigError(f"${CONFIG_ENV}: {err}") from None
    for candidate in (Path(DEFAULT_CONFIG), user_config(environ)):
        if candidate.exists():
            return CDNCredentials.from_yaml(candidate)
    if any(environ.get(var) for var in ENV_VARS.values()):
        return CDNCredentials.from_env(environ)
    raise ConfigError(
        f"no configuration found: pass --config FILE, set ${CONFIG_ENV}, put a "
        f"{DEFAULT_CONFIG} in the current folder or at {shown(str(user_config(environ)))}, "
        f"or set {', '.join(ENV_VARS.values())} "
        f"(`{PROG} local-server` starts a local server and writes a {DEFAULT_CONFIG})"
    )


def config_target(explicit: str | None) -> Path:
    """Where ``local-server`` writes its configuration: where the other
    commands will look for one first."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


class App:
    """What every command shares: the options, the manager (built on first
    use, so commands that need no credentials never look for them) and the
    output channels."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.json: bool = args.json
        self.quiet: bool = args.quiet
        self.debug: bool = args.debug
        #: The ``--config`` option, if given.
        self.config: str | None = args.config
        #: The ``--bwlimit`` option (bytes per second) of commands that move bytes.
        self.bwlimit: int | None = getattr(args, "bwlimit", None)
        #: ``--no-resume``, on the commands whose transfers resume.
        self.resume: bool = not getattr(args, "no_resume", False)
        #: What an interrupted command kept for its next run, told after
        #: an interrupt: ``(bytes, what to do about them)``, or None.
        self.kept: Callable[[], tuple[int, str] | None] | None = None
        #: The ``--max-in-flight`` option of push and pull.
        self.max_in_flight: int | None = getattr(args, "max_in_flight", None)
        self._manager: CDNManager | None = None
        self._secrets: tuple[str, ...] = ()

    @property
    def manager(self) -> CDNManager:
        if self._manager is None:
            credentials = load_credentials(self.config)
            self._secrets = credentials.secrets()
            # Imported here: `--version` and `--help` need none of it.
            from .._config import TransferConfig
            from .._faces.manager import CDNManager

            config = TransferConfig(max_bandwidth=self.bwlimit, resume=self.resume)
            if self.max_in_flight is not None:
                config = replace(config, max_in_flight=self.max_in_flight)

            self._manager = CDNManager(credentials, config)
        return self._manager

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def show(self, text: str) -> None:
        """A command's output proper (a listing, a URL): not with ``--json``."""
        if not self.json:
            print(text, flush=True)

    def say(self, text: str) -> None:
        """What a command did: not with ``--json`` or ``--quiet``."""
        if not (self.json or self.quiet):
            print(text, flush=True)

    def warn(self, text: str) -> None:
        """One line on stderr (not with ``--quiet``). Names in ``text``
        should be escaped with ``shown``; any control character left is
        escaped here, so nothing reaches the terminal raw."""
        if not self.quiet:
            print(f"{PROG}: {printable(self.redact(text))}", file=sys.stderr, flush=True)

    def error(self, text: str) -> None:
        """One line on stderr, whatever the options (escaped as ``warn``)."""
        line = printable(" ".join(self.redact(text).split()))
        print(f"{PROG}: error: {line}", file=sys.stderr, flush=True)

    def emit(self, document: dict[str, Any]) -> None:
        """The command's JSON document (only with ``--json``)."""
        if self.json:
            import json  # here: only --json needs it

            print(json.dumps(document, default=str), flush=True)

    @property
    def shows_progress(self) -> bool:
        return not self.quiet and sys.stderr.isatty()

    @contextlib.contextmanager
    def progress(self, total: int, label: str) -> Iterator[Callable[[int], None] | None]:
        """A progress callback drawing a bar on stderr if it is a terminal
        (and not ``--quiet``) and there are bytes to move, else None."""
        if not self.shows_progress or total <= 0:
            yield None
            return
        bar = ProgressBar(sys.stderr, total, shown(label))
        completed = False
        try:
            yield bar
            completed = True
        finally:
            bar.close(completed)


def error_document(err: BaseException, message: str) -> dict[str, Any]:
    reason = err.reason if isinstance(err, CDNError) else type(err).__name__
    return {
        "ok": False,
        "error": {"type": type(err).__name__, "reason": reason, "message": message},
    }


def result_document(result: TransferResult) -> dict[str, Any]:
    """One item of a batch in a JSON document: the exact key (and path)."""
    return {"key": result.key, "path": None if result.path is None else str(result.path)}


def warn_size_only(app: App, keys: list[str]) -> None:
    """Says once, on stderr, which objects no checksum could prove."""
    if keys:
        shown_keys = ", ".join(shown(key) for key in keys[:3])
        more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
        app.warn(
            f"verified by size only (no checksum, ETag or MD5 to prove the bytes): "
            f"{shown_keys}{more}"
        )
