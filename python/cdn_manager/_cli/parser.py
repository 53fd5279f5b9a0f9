"""The command line's grammar: commands, arguments, options and help."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from fractions import Fraction

from .._config import MAX_PRESIGN_SECONDS
from .._credentials import ENV_VARS
from .app import CONFIG_ENV, DEFAULT_CONFIG, PROG, App
from .commands import (
    cmd_clean,
    cmd_doctor,
    cmd_download,
    cmd_ls,
    cmd_presign,
    cmd_rm,
    cmd_upload,
)
from .server import cmd_local_server
from .sync import add_mirror_commands


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

configuration: --config FILE, else ${CONFIG_ENV}, else ./{DEFAULT_CONFIG}, else
  $XDG_CONFIG_HOME/{PROG}/{DEFAULT_CONFIG} (~/.config/{PROG}/{DEFAULT_CONFIG}), else the
  environment: {", ".join(list(ENV_VARS.values())[:2])},
  {", ".join(list(ENV_VARS.values())[2:4])},
  {list(ENV_VARS.values())[4]} (and optionally {ENV_VARS["region"]}).
progress bars are drawn on stderr when it is a terminal (never when redirected).
exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted (Ctrl-C or SIGTERM).
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
        "--no-resume",
        action="store_true",
        default=default(False),
        help="an interrupted download or file upload keeps nothing, and none is resumed",
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


#: What ``--bwlimit``'s suffixes multiply by: powers of 1024, as rclone,
#: curl and rsync read them.
RATE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
#: The commands that move object bytes, which all take ``--bwlimit``.
MOVING_COMMANDS = ("upload", "download", "push", "pull")


def parse_rate(text: str) -> int:
    """``--bwlimit``'s RATE in bytes per second: ``250000``, ``500K``,
    ``10M``, ``1.5G`` (K, M, G: powers of 1024; any case)."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)", text.strip(), re.IGNORECASE)
    if found is None:
        raise argparse.ArgumentTypeError(
            f"not a rate: {text!r} (bytes per second, e.g. 250000, 500K, 10M)"
        )
    rate = int(Fraction(found[1]) * RATE_UNITS[found[2].upper()])
    if rate < 1:
        raise argparse.ArgumentTypeError(
            "must be at least 1 byte per second (leave --bwlimit out for no limit)"
        )
    return rate


def _bandwidth_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--bwlimit",
        type=parse_rate,
        metavar="RATE",
        help="at most RATE bytes per second, uploads and downloads together; "
        "K, M, G are powers of 1024 (10M = 10 MiB/s = 10,485,760 bytes/s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Move files to and from S3-compatible CDN storage with a read-only key\n"
        "for downloads and a write key for uploads.",
        epilog=EXAMPLES,
        formatter_class=_Formatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action=_Version, version="%(prog)s")
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

    add_mirror_commands(command)

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
        "delete objects with the write key (a key that does not exist is an error)",
        f"  {PROG} rm cdn-demo site/old.html site/older.html\n"
        f"  {PROG} rm --force cdn-demo site/maybe.html     # gone already? fine\n"
        "each key is looked up with the read key first (S3 answers a delete of a\n"
        "missing key as a success), unless --force.\n",
    )
    rm.add_argument("bucket", metavar="BUCKET")
    rm.add_argument("keys", metavar="KEY", nargs="+")
    rm.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="delete without looking first; a missing key is not an error",
    )

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

    clean = command(
        "clean",
        cmd_clean,
        "list what interrupted downloads left below FOLDER (kept for resuming, or of a "
        "killed process) and the interrupted uploads the cache folder records; with --yes "
        "(or a confirmation on a terminal), remove the files and abort the uploads",
        f"  {PROG} clean downloads/\n  {PROG} clean downloads/ --yes\n"
        "a transfer running meanwhile keeps its files; an upload is aborted with the write "
        "key of the configuration, only on its endpoint.\n",
    )
    clean.add_argument("folder", metavar="FOLDER", nargs="?", default=".", help="default: .")
    clean.add_argument("--yes", action="store_true", help="remove what is listed, without asking")

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

    for name in MOVING_COMMANDS:
        _bandwidth_option(commands.choices[name])
    return parser


class _Version(argparse._VersionAction):
    """``--version``, looking the version up only when asked: the package
    metadata costs every other command's start-up a few milliseconds."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        self.version = f"%(prog)s {_version()}"
        super().__call__(parser, *args, **kwargs)  # type: ignore[arg-type]


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("cdn-manager")
    except metadata.PackageNotFoundError:
        return "unknown"
