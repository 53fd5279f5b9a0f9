"""The ``cdn-manager`` command (also ``python -m cdn_manager``).

Every command runs on the library's raising API and reports in one of two
ways: lines for people on stdout (errors on stderr), or with ``--json`` one
JSON document on stdout. Progress bars go to stderr, only when stderr is a
terminal, so piping or redirecting the output never captures them.
Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import mmap
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from . import sync
from .credentials import ENV_VARS, CDNCredentials
from .errors import CDNError, ConfigError
from .manager import MAX_PRESIGN_SECONDS, CDNManager
from .objects import TransferResult
from .s3errors import redact

PROG = "cdn-manager"
#: Environment variable naming the configuration file.
CONFIG_ENV = "CDN_MANAGER_CONFIG"
DEFAULT_CONFIG = "cdn.yaml"
#: Exit statuses (argparse itself exits 2 on a usage error).
EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 130

log = logging.getLogger("cdn_manager")


class UsageError(Exception):
    """Arguments that parse but make no sense together (exit 2)."""


# Configuration.


def load_credentials(
    explicit: str | None, environ: Mapping[str, str] = os.environ
) -> CDNCredentials:
    """The credentials from ``--config``, else ``$CDN_MANAGER_CONFIG``, else
    ``./cdn.yaml``, else the ``CDN_*`` variables; :class:`ConfigError` with
    one clear message when there are none."""
    if explicit:
        return CDNCredentials.from_yaml(explicit)
    named = environ.get(CONFIG_ENV)
    if named:
        try:
            return CDNCredentials.from_yaml(named)
        except ConfigError as err:
            raise ConfigError(f"${CONFIG_ENV}: {err}") from None
    if Path(DEFAULT_CONFIG).exists():
        return CDNCredentials.from_yaml(DEFAULT_CONFIG)
    if any(environ.get(var) for var in ENV_VARS.values()):
        return CDNCredentials.from_env(environ)
    raise ConfigError(
        f"no configuration found: pass --config FILE, set ${CONFIG_ENV}, put a "
        f"{DEFAULT_CONFIG} in the current folder, or set {', '.join(ENV_VARS.values())} "
        f"(`{PROG} local-server` starts a local server and writes a {DEFAULT_CONFIG})"
    )


def config_target(explicit: str | None) -> Path:
    """Where ``local-server`` writes its configuration: where the other
    commands will look for one first."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


# Output.


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class ProgressBar:
    """One line on a terminal: percent, bytes, rate and ETA. Called with
    byte increments from any thread; redrawn at most ten times a second."""

    REDRAW = 0.1
    #: Seconds of history behind the rate (and so the ETA).
    WINDOW = 5.0

    def __init__(self, stream: TextIO, total: int, label: str) -> None:
        self._stream = stream
        self._total = max(total, 0)
        self._label = label if len(label) <= 32 else "…" + label[-31:]
        self._done = 0
        self._start = time.monotonic()
        self._drawn = 0.0
        self._samples: deque[tuple[float, int]] = deque([(self._start, 0)])
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self._done += n
            now = time.monotonic()
            if now - self._drawn >= self.REDRAW:
                self._drawn = now
                self._draw(now, final=False)

    def close(self, completed: bool) -> None:
        """Draws the last frame (with the average rate if ``completed``)."""
        with self._lock:
            if completed:
                self._done = self._total
                self._draw(time.monotonic(), final=True)
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self, now: float, final: bool) -> None:
        done = min(max(self._done, 0), self._total)
        fraction = done / self._total if self._total else 1.0
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.WINDOW:
            self._samples.popleft()
        if final:
            elapsed = max(now - self._start, 1e-9)
            rate, tail = done / elapsed, f"in {clock(elapsed)}"
        else:
            since, then = self._samples[0]
            rate = (done - then) / (now - since) if now > since else 0.0
            eta = clock((self._total - done) / rate) if rate > 0 else "-:--"
            tail = f"ETA {eta}"
        head = f"{self._label} {fraction:4.0%} "
        sizes = f"{human_size(done):>9}/{human_size(self._total)}"
        numbers = f" {sizes}  {human_size(rate):>9}/s  {tail}"
        try:
            width = os.get_terminal_size(self._stream.fileno()).columns or 80
        except (OSError, ValueError):
            width = 80
        room = max(width - 1 - len(head) - len(numbers) - 2, 10)
        filled = int(room * fraction)
        bar = "█" * filled + "░" * (room - filled)
        self._stream.write(f"\r{head}|{bar}|{numbers}"[: width + 1])
        self._stream.flush()


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
        self._manager: CDNManager | None = None
        self._secrets: tuple[str, ...] = ()

    @property
    def manager(self) -> CDNManager:
        if self._manager is None:
            credentials = load_credentials(self.config)
            self._secrets = credentials.secrets()
            self._manager = CDNManager(credentials)
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
        if not self.quiet:
            print(f"{PROG}: {self.redact(text)}", file=sys.stderr, flush=True)

    def error(self, text: str) -> None:
        """One line on stderr, whatever the options."""
        line = " ".join(self.redact(text).split())
        print(f"{PROG}: error: {line}", file=sys.stderr, flush=True)

    def emit(self, document: dict[str, Any]) -> None:
        """The command's JSON document (only with ``--json``)."""
        if self.json:
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
        bar = ProgressBar(sys.stderr, total, label)
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


# Commands.


def split_location(location: str) -> tuple[str, str]:
    """``BUCKET[/PREFIX]`` -> ``(bucket, prefix)``."""
    bucket, _, prefix = location.partition("/")
    if not bucket:
        raise UsageError(f"{location!r}: expected BUCKET or BUCKET/PREFIX")
    return bucket, prefix


@contextlib.contextmanager
def stdin_bytes() -> Iterator[memoryview]:
    """Standard input, spooled to an unnamed temporary file (nothing to clean
    up however the process ends) and mapped, so it is not held in memory."""
    with tempfile.TemporaryFile(prefix="cdn-manager-stdin-") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, 1024 * 1024)
        spool.flush()
        size = spool.tell()
        if size == 0:
            yield memoryview(b"")
            return
        mapped = mmap.mmap(spool.fileno(), size, access=mmap.ACCESS_READ)
        try:
            yield memoryview(mapped)
        finally:
            # A failure's traceback may still hold a view of the map; it is
            # then unmapped when that is freed.
            with contextlib.suppress(BufferError):
                mapped.close()


def cmd_upload(app: App, args: argparse.Namespace) -> int:
    options: dict[str, Any] = {
        "content_type": args.content_type,
        "cache_control": args.cache_control,
    }
    if args.file == "-":
        if sys.stdin.isatty():
            app.warn("reading the object from the terminal; end it with Ctrl-D")
        with stdin_bytes() as data:
            size = len(data)
            with app.progress(size, args.key) as bar:
                app.manager.put_bytes(args.bucket, args.key, data, progress=bar, **options)
    else:
        size = Path(args.file).stat().st_size
        with app.progress(size, args.key) as bar:
            app.manager.upload_file(args.bucket, args.key, args.file, progress=bar, **options)
    source = "stdin" if args.file == "-" else args.file
    app.say(f"uploaded {source} -> {args.bucket}/{args.key} ({human_size(size)})")
    app.emit({"ok": True, "bucket": args.bucket, "key": args.key, "source": source, "size": size})
    return EXIT_OK


def download_target(key: str, dest: str | None) -> Path:
    """``DEST`` as given, or the key's last component in ``DEST`` (a folder,
    or one ending in ``/``) or in the working directory."""
    if dest is not None and not dest.endswith("/") and not Path(dest).is_dir():
        return Path(dest)
    name = key.rpartition("/")[2]
    if not name:
        raise UsageError(f"key {key!r} ends with '/': give DEST, the file to write")
    return Path(dest or ".") / name


def cmd_download(app: App, args: argparse.Namespace) -> int:
    to_stdout = args.dest == "-"
    if to_stdout and app.json:
        raise UsageError("--json cannot be used with DEST '-': stdout carries the object")
    manager = app.manager
    total = manager.stat(args.bucket, args.key).size if app.shows_progress else 0
    if to_stdout:
        with app.progress(total, args.key) as bar:
            data = manager.download_bytes(args.bucket, args.key, progress=bar)
        # Only verified bytes reach stdout: the whole object was checked first.
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return EXIT_OK
    target = download_target(args.key, args.dest)
    with app.progress(total, args.key) as bar:
        path = manager.download_file(args.bucket, args.key, target, progress=bar)
    size = path.stat().st_size
    app.say(f"downloaded {args.bucket}/{args.key} -> {path} ({human_size(size)})")
    app.emit({"ok": True, "bucket": args.bucket, "key": args.key, "path": str(path), "size": size})
    return EXIT_OK


def report_sync(
    app: App,
    direction: str,
    plan: sync.SyncPlan,
    results: list[TransferResult] | None,
    seconds: float,
) -> int:
    """Prints what a push or pull did (or, for a dry run with ``results``
    None, would do); 1 if anything was refused or failed."""
    verb = "upload" if direction == "push" else "download"
    dry_run = results is None
    done, failed = [], []
    outcomes: Sequence[TransferResult | None] = results or [None] * len(plan.changes)
    for change, result in zip(plan.changes, outcomes, strict=True):
        if result is not None and result.error is not None:
            failed.append((change, result.error))
            app.error(f"{verb} {change.key} failed: {result.error}")
            continue
        done.append(change)
        arrow = "<-" if direction == "push" else "->"
        did = f"would {verb}" if dry_run else f"{verb}ed"
        app.say(
            f"{did} {change.key} {arrow} {change.path} ({human_size(change.size)}, {change.why})"
        )
    for left in plan.skipped:
        app.warn(f"skipped {left.name}: {left.why}")
    for left in plan.refused:
        app.error(f"refused {left.name}: {left.why}")
    moved = sum(change.size for change in done)
    counts = [
        f"{len(done)} {'to ' + verb if dry_run else verb + 'ed'} ({human_size(moved)})",
        f"{len(plan.unchanged)} unchanged",
    ]
    counts += [
        f"{len(items)} {name}"
        for name, items in (
            ("skipped", plan.skipped),
            ("refused", plan.refused),
            ("failed", failed),
        )
        if items
    ]
    app.say(f"{direction} {plan.bucket}/{plan.prefix}: {', '.join(counts)} in {seconds:.1f} s")
    ok = not plan.refused and not failed
    app.emit(
        {
            "ok": ok,
            "command": direction,
            "dry_run": dry_run,
            "bucket": plan.bucket,
            "prefix": plan.prefix,
            "folder": str(plan.folder),
            "transferred": [
                {"key": c.key, "path": str(c.path), "size": c.size, "why": c.why} for c in done
            ],
            "unchanged": plan.unchanged,
            "skipped": [asdict(left) for left in plan.skipped],
            "refused": [asdict(left) for left in plan.refused],
            "failed": [
                {"key": c.key, "reason": err.reason, "message": app.redact(str(err))}
                for c, err in failed
            ],
            "bytes": moved,
            "seconds": round(seconds, 3),
        }
    )
    return EXIT_OK if ok else EXIT_FAILURE


def cmd_push(app: App, args: argparse.Namespace) -> int:
    bucket, prefix = split_location(args.destination)
    started = time.monotonic()
    plan = sync.plan_push(app.manager, args.folder, bucket, prefix)
    results = None
    if not args.dry_run:
        with app.progress(plan.size, f"push {len(plan.changes)} files") as bar:
            results = sync.push(app.manager, plan, cache_control=args.cache_control, progress=bar)
    return report_sync(app, "push", plan, results, time.monotonic() - started)


def cmd_pull(app: App, args: argparse.Namespace) -> int:
    bucket, prefix = split_location(args.source)
    started = time.monotonic()
    plan = sync.plan_pull(app.manager, bucket, prefix, args.folder)
    results = None
    if not args.dry_run:
        with app.progress(plan.size, f"pull {len(plan.changes)} files") as bar:
            results = sync.pull(app.manager, plan, progress=bar)
    return report_sync(app, "pull", plan, results, time.monotonic() - started)


def cmd_ls(app: App, args: argparse.Namespace) -> int:
    bucket, prefix = split_location(args.location)
    objects = []
    for info in app.manager.list(bucket, prefix):
        modified = info.last_modified.strftime("%Y-%m-%d %H:%M:%S") if info.last_modified else "-"
        app.show(f"{info.size:>12}  {modified}  {info.key}")
        objects.append(
            {
                "key": info.key,
                "size": info.size,
                "etag": info.etag,
                "last_modified": info.last_modified.isoformat() if info.last_modified else None,
            }
        )
    app.emit({"ok": True, "bucket": bucket, "prefix": prefix, "objects": objects})
    return EXIT_OK


def cmd_rm(app: App, args: argparse.Namespace) -> int:
    deleted, failed = [], []
    for key in args.keys:
        try:
            app.manager.delete(args.bucket, key)
        except CDNError as err:
            app.error(f"rm {args.bucket}/{key} failed: {err}")
            failed.append({"key": key, "reason": err.reason, "message": app.redact(str(err))})
            continue
        deleted.append(key)
        app.say(f"deleted {args.bucket}/{key}")
    app.emit({"ok": not failed, "bucket": args.bucket, "deleted": deleted, "failed": failed})
    return EXIT_FAILURE if failed else EXIT_OK


def cmd_presign(app: App, args: argparse.Namespace) -> int:
    url = app.manager.presign_download_url(args.bucket, args.key, args.expires)
    app.show(url)
    expires_at = datetime.now(UTC) + timedelta(seconds=args.expires)
    app.emit(
        {
            "ok": True,
            "bucket": args.bucket,
            "key": args.key,
            "url": url,
            "expires_in": args.expires,
            "expires_at": expires_at.isoformat(timespec="seconds"),
        }
    )
    return EXIT_OK


def cmd_doctor(app: App, args: argparse.Namespace) -> int:
    report = app.manager.check(args.bucket)
    if not app.quiet or not report.ok:
        app.show(app.redact(str(report)))
    app.emit(
        {
            "ok": report.ok,
            "host": report.host,
            "bucket": report.bucket,
            "findings": [asdict(finding) for finding in report.findings],
        }
    )
    return EXIT_OK if report.ok else EXIT_FAILURE


def write_config(path: Path, text: str, force: bool) -> None:
    """Writes ``path`` (mode 600: it holds secrets) in one step; never
    replaces an existing file unless ``force``."""
    fd, temp = tempfile.mkstemp(prefix=".cdn-yaml-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        if force:
            os.replace(temp, path)
        else:
            os.link(temp, path)  # fails if path exists, so nothing is overwritten
    except FileExistsError:
        raise ConfigError(
            f"{path} exists: pass --force to replace it, or --config to write another file"
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def port_must_be_free(port: int) -> None:
    """Raises unless ``127.0.0.1:port`` can be listened on (moto's server
    would wait forever for a port it cannot have)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            raise CDNError(
                f"cannot listen on 127.0.0.1:{port}: {err.strerror}", reason="PortInUse"
            ) from None


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_local_server(app: App, args: argparse.Namespace) -> int:
    config = config_target(app.config)
    if config.exists() and not args.force:
        raise ConfigError(
            f"{config} exists: pass --force to replace it, or --config to write another file"
        )
    if args.port is not None:
        port_must_be_free(args.port)
    try:
        from .local_server import start_local_server

        server = start_local_server(bucket=args.bucket, port=args.port)
    except ModuleNotFoundError as err:
        raise CDNError(
            f"local-server needs {err.name}: pip install 'cdn-manager[server]'",
            reason="MissingDependency",
        ) from None
    text = server.credentials.to_yaml()
    # Ctrl-C and SIGTERM (kill, a service manager) both stop the server, even
    # when a shell started it with SIGINT ignored (a background job).
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in STOP_SIGNALS}
    try:
        write_config(config, text, args.force)
        try:
            creds = server.credentials
            flag = "" if str(config) == DEFAULT_CONFIG else f" --config {config}"
            app.say(
                f"local S3 server (moto, IAM enforced) at {server.endpoint}\n"
                f"  bucket     {server.bucket}\n"
                f"  read key   {creds.downloader_access_key} (may only read and list)\n"
                f"  write key  {creds.uploader_access_key} (may only write and delete)\n"
                f"  config     {config} (its keys end with the server)\n"
                f"try:  {PROG}{flag} push ./some-folder {server.bucket}/site\n"
                f"      {PROG}{flag} ls {server.bucket}\n"
                f"      {PROG}{flag} doctor {server.bucket}\n"
                "Ctrl-C stops the server."
            )
            app.emit(
                {
                    "ok": True,
                    "endpoint": server.endpoint,
                    "bucket": server.bucket,
                    "config": str(config.resolve()),
                }
            )
            while True:
                signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            with contextlib.suppress(OSError):
                if config.read_text(encoding="utf-8") == text:
                    config.unlink()
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    app.say(f"stopped the server and removed {config}")
    return EXIT_OK


# The command line.


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


EXAMPLES = f"""\
examples:
  {PROG} local-server                         # try it: local S3 server + ./cdn.yaml
  {PROG} upload cdn-demo docs/guide.pdf guide.pdf
  tar c site | {PROG} upload cdn-demo backups/site.tar -
  {PROG} download cdn-demo docs/guide.pdf ~/Downloads/
  {PROG} push ./public cdn-demo/site          # uploads only what changed
  {PROG} pull cdn-demo/site ./mirror --dry-run
  {PROG} ls cdn-demo/site/
  {PROG} rm cdn-demo site/old.html
  {PROG} presign cdn-demo docs/guide.pdf --expires 600
  {PROG} doctor cdn-demo                      # is each key least-privilege?

configuration: --config FILE, else ${CONFIG_ENV}, else ./{DEFAULT_CONFIG}, else the
  environment: {", ".join(list(ENV_VARS.values())[:2])},
  {", ".join(list(ENV_VARS.values())[2:4])},
  {list(ENV_VARS.values())[4]}.
progress bars are drawn on stderr when it is a terminal (never when redirected).
exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted (Ctrl-C).
"""


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, before or after its name (after it,
    an option left out must not reset what was given before)."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--config", metavar="FILE", default=default(None), help="credentials file (cdn.yaml)"
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON document on stdout",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="no progress, no summaries; errors only",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="log details and show tracebacks",
    )


def _expiry(text: str) -> int:
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 1 <= seconds <= MAX_PRESIGN_SECONDS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_PRESIGN_SECONDS} (7 days)")
    return seconds


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Move files to and from S3-compatible CDN storage with a read-only key\n"
        "for downloads and a write key for uploads.",
        epilog=EXAMPLES,
        formatter_class=_Formatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _global_options(parser, top=True)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(
        name: str, run: Callable[[App, argparse.Namespace], int], summary: str, examples: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog="examples:\n" + examples,
            formatter_class=_Formatter,
            allow_abbrev=False,
        )
        _global_options(sub, top=False)
        sub.set_defaults(run=run, parser=sub)
        return sub

    up = command(
        "upload",
        cmd_upload,
        "store a file (or stdin) as BUCKET/KEY with the write key",
        f"  {PROG} upload cdn-demo img/logo.png ./logo.png\n"
        f"  {PROG} upload cdn-demo data.json - --cache-control 'max-age=60' < data.json\n",
    )
    up.add_argument("bucket", metavar="BUCKET")
    up.add_argument("key", metavar="KEY")
    up.add_argument("file", metavar="FILE", help="the file to send, or - for stdin")
    up.add_argument("--content-type", help="default: guessed from KEY's extension")
    up.add_argument("--cache-control", help="e.g. 'public, max-age=86400'")

    down = command(
        "download",
        cmd_download,
        "fetch BUCKET/KEY with the read key, verified before it lands",
        f"  {PROG} download cdn-demo img/logo.png            # -> ./logo.png\n"
        f"  {PROG} download cdn-demo img/logo.png assets/    # -> assets/logo.png\n"
        f"  {PROG} download cdn-demo data.json - | jq .\n",
    )
    down.add_argument("bucket", metavar="BUCKET")
    down.add_argument("key", metavar="KEY")
    down.add_argument(
        "dest",
        metavar="DEST",
        nargs="?",
        help="file to write, or a folder for KEY's last component (default: the current "
        "folder); - writes to stdout once the whole object is verified",
    )

    push = command(
        "push",
        cmd_push,
        "upload the files of FOLDER that are new or differ (size, then checksum)",
        f"  {PROG} push ./public cdn-demo/site --dry-run   # what would move\n"
        f"  {PROG} push ./public cdn-demo/site             # FOLDER/a/b -> site/a/b\n"
        "symbolic links are skipped; nothing is deleted on either side.\n",
    )
    push.add_argument("folder", metavar="FOLDER")
    push.add_argument("destination", metavar="BUCKET[/PREFIX]")
    push.add_argument("--dry-run", action="store_true", help="list what would be uploaded")
    push.add_argument("--cache-control", help="Cache-Control of the uploaded objects")

    pull = command(
        "pull",
        cmd_pull,
        "download the objects under PREFIX that are new or differ into FOLDER",
        f"  {PROG} pull cdn-demo/site ./mirror --dry-run   # what would move\n"
        f"  {PROG} pull cdn-demo/site ./mirror             # site/a/b -> mirror/a/b\n"
        "keys that cannot be stored safely inside FOLDER are refused (exit 1);\n"
        "an object with no stored checksum is always downloaded.\n",
    )
    pull.add_argument("source", metavar="BUCKET[/PREFIX]")
    pull.add_argument("folder", metavar="FOLDER")
    pull.add_argument("--dry-run", action="store_true", help="list what would be downloaded")

    ls = command(
        "ls",
        cmd_ls,
        "list the objects whose key starts with PREFIX (size, modified UTC, key)",
        f"  {PROG} ls cdn-demo\n  {PROG} ls cdn-demo/site/ --json\n",
    )
    ls.add_argument("location", metavar="BUCKET[/PREFIX]")

    rm = command(
        "rm",
        cmd_rm,
        "delete objects with the write key",
        f"  {PROG} rm cdn-demo site/old.html site/older.html\n",
    )
    rm.add_argument("bucket", metavar="BUCKET")
    rm.add_argument("keys", metavar="KEY", nargs="+")

    presign = command(
        "presign",
        cmd_presign,
        "print a URL that lets anyone GET BUCKET/KEY for a while (signed with the read key)",
        f"  {PROG} presign cdn-demo img/logo.png --expires 600\n",
    )
    presign.add_argument("bucket", metavar="BUCKET")
    presign.add_argument("key", metavar="KEY")
    presign.add_argument(
        "--expires", type=_expiry, default=3600, metavar="SECONDS", help="default: 3600"
    )

    doctor = command(
        "doctor",
        cmd_doctor,
        "audit the keys: the read key reads and cannot write, the write key writes and "
        "cannot read (exit 1 if any check fails)",
        f"  {PROG} doctor cdn-demo\n",
    )
    doctor.add_argument("bucket", metavar="BUCKET")

    server = command(
        "local-server",
        cmd_local_server,
        "run a local S3 server (moto, IAM enforced, 127.0.0.1) in the foreground and "
        "write a cdn.yaml for it; Ctrl-C stops it",
        f"  {PROG} local-server                      # writes ./cdn.yaml\n"
        f"  {PROG} --config /tmp/try.yaml local-server --port 9000\n",
    )
    server.add_argument("--bucket", default="cdn-demo", help="default: cdn-demo")
    server.add_argument("--port", type=_port, help="default: a free port")
    server.add_argument("--force", action="store_true", help="replace an existing config file")
    return parser


def _version() -> str:
    try:
        return metadata.version("cdn-manager")
    except metadata.PackageNotFoundError:
        return "unknown"


def _setup_logging(app: App) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.DEBUG if app.debug else logging.ERROR if app.quiet else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    app = App(args)
    _setup_logging(app)
    try:
        return int(args.run(app, args))
    except UsageError as err:
        command: argparse.ArgumentParser = args.parser
        command.error(str(err))  # exits 2
    except KeyboardInterrupt as err:
        app.error("interrupted")
        app.emit(error_document(err, "interrupted"))
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as err:
        if app.debug:
            print(app.redact(traceback.format_exc()), file=sys.stderr, end="")
        if isinstance(err, CDNError):
            message = str(err)
        elif isinstance(err, OSError) and err.strerror:
            message = f"{err.filename}: {err.strerror}" if err.filename else err.strerror
        else:
            message = f"unexpected {type(err).__name__}: {err}"
        app.error(message)
        app.emit(error_document(err, app.redact(message)))
        return EXIT_FAILURE
    finally:
        app.close()
