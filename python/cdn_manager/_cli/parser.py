"""The command line's grammar: commands, arguments, options and help.

Each command's handler is named, not imported (``"objects:cmd_ls"``):
``main`` imports the one module of the command that runs, so a command
loads what it needs and nothing another one does."""

from __future__ import annotations

import argparse
import re
from typing import Any

from .._config import MAX_PRESIGN_SECONDS
from .._credentials import ENV_VARS
from .._escape import shown
from .app import CONFIG_ENV, DEFAULT_CONFIG, PROG, strip_scheme
from .completion import add_completion_command
from .sync_parser import add_mirror_commands, add_release_commands


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
  {PROG} rollback cdn-demo/site               # the release before, live again
  {PROG} pull cdn-demo/site ./mirror --dry-run
  {PROG} ls cdn-demo/site/
  {PROG} rm cdn-demo site/old.html
  {PROG} presign cdn-demo docs/guide.pdf --expires 600
  {PROG} doctor cdn-demo                      # is each key least-privilege?
  {PROG} ls s3://cdn-demo/site/               # s3://BUCKET/KEY wherever BUCKET KEY goes
  eval "$({PROG} completion bash)"            # tab completion (also zsh, fish)

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


def _resume_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--no-resume",
        action="store_true",
        help="an interrupted transfer keeps nothing, and none kept earlier is resumed",
    )


def _expiry(text: str) -> int:
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: '{shown(text)}'") from None
    if not 1 <= seconds <= MAX_PRESIGN_SECONDS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_PRESIGN_SECONDS} (7 days)")
    return seconds


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: '{shown(text)}'")
    return int(text)


#: What ``--bwlimit``'s suffixes multiply by: powers of 1024, as rclone,
#: curl and rsync read them.
RATE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
#: The commands that move object bytes, which all take ``--bwlimit``.
MOVING_COMMANDS = ("upload", "download", "push", "pull")
#: The commands whose transfers may be resumed (a push starts each upload
#: again: every write of a deploy is conditional), which take ``--no-resume``.
RESUMING_COMMANDS = ("upload", "download", "pull")


def parse_rate(text: str) -> int:
    """``--bwlimit``'s RATE in bytes per second: ``250000``, ``500K``,
    ``10M``, ``1.5G`` (K, M, G: powers of 1024; any case)."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)", text.strip(), re.IGNORECASE)
    if found is None:
        raise argparse.ArgumentTypeError(
            f"not a rate: '{shown(text)}' (bytes per second, e.g. 250000, 500K, 10M)"
        )
    from fractions import Fraction  # here: only --bwlimit needs it

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


class _Object(argparse.Action):
    """Where an object is, as ``BUCKET KEY`` or as aws, s5cmd and rclone
    users type it, ``s3://BUCKET/KEY``, then the command's other operands
    (``rest``, then up to one ``optional``): sets ``bucket``, ``key`` and
    one attribute per operand. With ``many``, the words are objects of one
    bucket (``BUCKET KEY...`` or ``s3://BUCKET/KEY...``): sets ``bucket``
    and ``keys``."""

    def __init__(
        self,
        *args: Any,
        rest: tuple[str, ...] = (),
        optional: str | None = None,
        many: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.rest, self.optional, self.many = rest, optional, many

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        words: list[str] = list(values)
        try:
            if self.many:
                namespace.bucket, namespace.keys = _objects(words)
                return
            bucket, key, words = _object(words)
        except ValueError as err:
            raise argparse.ArgumentError(self, str(err)) from None
        if not len(self.rest) <= len(words) <= len(self.rest) + (self.optional is not None):
            names = " ".join([*self.rest, *([f"[{self.optional}]"] if self.optional else [])])
            raise argparse.ArgumentError(
                self, f"expected BUCKET KEY {names} or s3://BUCKET/KEY {names}".rstrip()
            )
        namespace.bucket, namespace.key = bucket, key
        for name, word in zip((*self.rest, self.optional), [*words, None], strict=False):
            if name is not None:
                setattr(namespace, name.lower(), word)


def _object(words: list[str]) -> tuple[str, str, list[str]]:
    """``(bucket, key, the words after them)``."""
    location = strip_scheme(words[0])
    if location is not None:
        bucket, _, key = location.partition("/")
        if not bucket or not key:
            raise ValueError(f"{shown(words[0])}: expected s3://BUCKET/KEY")
        return bucket, key, words[1:]
    if len(words) < 2:
        raise ValueError("expected BUCKET KEY or s3://BUCKET/KEY")
    return words[0], words[1], words[2:]


def _objects(words: list[str]) -> tuple[str, list[str]]:
    """``BUCKET KEY...`` or ``s3://BUCKET/KEY...`` (one bucket) as ``(bucket, keys)``."""
    if strip_scheme(words[0]) is None:
        if len(words) < 2:
            raise ValueError("expected BUCKET KEY... or s3://BUCKET/KEY...")
        return words[0], words[1:]
    named = []
    for word in words:
        if strip_scheme(word) is None:
            raise ValueError(f"{shown(word)}: give every object as s3://BUCKET/KEY")
        named.append(_object([word])[:2])
    buckets = {bucket for bucket, _ in named}
    if len(buckets) > 1:
        raise ValueError("objects of one bucket at a time")
    return named[0][0], [key for _, key in named]


def _object_usage(command: argparse.ArgumentParser, after: str = "") -> None:
    """The two ways to name the object, in the command's usage lines."""
    tail = f" {after}" if after else ""
    command.usage = (
        f"%(prog)s [options] BUCKET KEY{tail}\n       %(prog)s [options] s3://BUCKET/KEY{tail}"
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

    def command(name: str, run: str, summary: str, examples: str) -> argparse.ArgumentParser:
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
        "commands:cmd_upload",
        "store a file (or stdin) as BUCKET/KEY with the write key",
        f"  {PROG} upload cdn-demo img/logo.png ./logo.png\n"
        f"  {PROG} upload s3://cdn-demo/img/logo.png ./logo.png\n"
        f"  {PROG} upload cdn-demo data.json - --cache-control 'max-age=60' < data.json\n"
        f"a folder goes with `{PROG} push FOLDER BUCKET[/PREFIX]`.\n",
    )
    up.add_argument(
        "words",
        nargs="+",
        action=_Object,
        rest=("FILE",),
        metavar="BUCKET KEY FILE",
        help="where to store it (or s3://BUCKET/KEY), then the file to send, or - for stdin",
    )
    _object_usage(up, "FILE")
    up.add_argument("--content-type", metavar="TYPE", help="default: guessed from KEY's extension")
    up.add_argument("--cache-control", metavar="VALUE", help="e.g. 'public, max-age=86400'")

    down = command(
        "download",
        "commands:cmd_download",
        "fetch BUCKET/KEY with the read key, verified before it lands",
        f"  {PROG} download cdn-demo img/logo.png            # -> ./logo.png\n"
        f"  {PROG} download cdn-demo img/logo.png assets/    # -> assets/logo.png\n"
        f"  {PROG} download s3://cdn-demo/img/logo.png assets/\n"
        f"  {PROG} download cdn-demo data.json - | jq .\n",
    )
    down.add_argument(
        "words",
        nargs="+",
        action=_Object,
        optional="DEST",
        metavar="BUCKET KEY [DEST]",
        help="the object (or s3://BUCKET/KEY), then the file to write, or a folder for "
        "KEY's last component (default: the current folder); - writes to stdout once "
        "the whole object is verified",
    )
    _object_usage(down, "[DEST]")

    add_mirror_commands(command)
    add_release_commands(command)

    ls = command(
        "ls",
        "objects:cmd_ls",
        "list the objects whose key starts with PREFIX (size, modified UTC, key)",
        f"  {PROG} ls cdn-demo\n  {PROG} ls cdn-demo/site/ --json\n"
        f"  {PROG} ls s3://cdn-demo/site/\n",
    )
    ls.add_argument("location", metavar="BUCKET[/PREFIX]", help="or s3://BUCKET[/PREFIX]")

    rm = command(
        "rm",
        "objects:cmd_rm",
        "delete objects with the write key (a key that does not exist is an error)",
        f"  {PROG} rm cdn-demo site/old.html site/older.html\n"
        f"  {PROG} rm s3://cdn-demo/site/old.html\n"
        f"  {PROG} rm --force cdn-demo site/maybe.html     # gone already? fine\n"
        "each key is looked up with the read key first (S3 answers a delete of a\n"
        "missing key as a success), unless --force.\n",
    )
    rm.add_argument(
        "words",
        nargs="+",
        action=_Object,
        many=True,
        metavar="BUCKET KEY...",
        help="a bucket and its keys, or one s3://BUCKET/KEY per object (one bucket)",
    )
    rm.usage = "%(prog)s [options] BUCKET KEY...\n       %(prog)s [options] s3://BUCKET/KEY..."
    rm.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="delete without looking first; a missing key is not an error",
    )

    presign = command(
        "presign",
        "objects:cmd_presign",
        "print a URL that lets anyone GET BUCKET/KEY for a while (signed with the read key)",
        f"  {PROG} presign cdn-demo img/logo.png --expires 600\n"
        f"  {PROG} presign s3://cdn-demo/img/logo.png\n",
    )
    presign.add_argument(
        "words", nargs="+", action=_Object, metavar="BUCKET KEY", help="or s3://BUCKET/KEY"
    )
    _object_usage(presign)
    presign.add_argument(
        "--expires", type=_expiry, default=3600, metavar="SECONDS", help="default: 3600"
    )

    doctor = command(
        "doctor",
        "commands:cmd_doctor",
        "audit the keys: the read key reads and cannot write, the write key writes and "
        "cannot read (exit 1 if any check fails)",
        f"  {PROG} doctor cdn-demo\n",
    )
    doctor.add_argument("bucket", metavar="BUCKET", type=_bucket, help="or s3://BUCKET")

    clean = command(
        "clean",
        "commands:cmd_clean",
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
        "server:cmd_local_server",
        "run a local S3 server (moto, IAM enforced, 127.0.0.1) in the foreground and "
        "write a cdn.yaml for it; Ctrl-C stops it",
        f"  {PROG} local-server                      # writes ./cdn.yaml\n"
        f"  {PROG} --config /tmp/try.yaml local-server --port 9000\n",
    )
    server.add_argument("--bucket", default="cdn-demo", help="default: cdn-demo")
    server.add_argument("--port", type=_port, help="default: a free port")
    server.add_argument("--force", action="store_true", help="replace an existing config file")

    add_completion_command(commands, parser)

    for name in MOVING_COMMANDS:
        _bandwidth_option(commands.choices[name])
    for name in RESUMING_COMMANDS:
        _resume_option(commands.choices[name])
    return parser


def _bucket(text: str) -> str:
    """``BUCKET`` or ``s3://BUCKET``."""
    location = strip_scheme(text)
    bucket = text if location is None else location.rstrip("/")
    if not bucket or "/" in bucket:
        raise argparse.ArgumentTypeError(f"expected BUCKET or s3://BUCKET, not {shown(text)}")
    return bucket


class _Version(argparse._VersionAction):
    """``--version``, looking the version up only when asked, in the Rust
    core (importlib.metadata would cost 25 ms of start-up)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from .. import _core

        self.version = f"%(prog)s {_core.__version__}"
        super().__call__(parser, *args, **kwargs)  # type: ignore[arg-type]
