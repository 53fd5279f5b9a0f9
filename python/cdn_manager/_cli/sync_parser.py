"""The grammar of ``push``, ``pull`` and ``verify`` (a folder and a prefix
kept alike by the sync engine) and of ``releases``, ``rollback`` and
``prune`` (a site's release history): their operands, their options and
the checks of their values. What each command does is in :mod:`.sync` and
:mod:`.releases`, imported only when it runs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .._config import MAX_DELETE, TransferConfig
from .._escape import shown
from ..errors import InvalidRequest
from .app import PROG, CommandFactory

if TYPE_CHECKING:
    from .._sync.shard import Shard


class _Filter(argparse.Action):
    """``--include``/``--exclude``: kept in one list, in command-line order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        filters = [*(getattr(namespace, self.dest, None) or []), (self.const, values)]
        setattr(namespace, self.dest, filters)


def _shard(text: str) -> Shard:
    from .._sync.shard import Shard  # only when --shard is given

    try:
        return Shard.parse(text)
    except InvalidRequest as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _in_flight(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: '{shown(text)}'")
    return int(text)


#: Files a pull downloads at once. Each streams into its own file, holding no
#: copy of its bytes, so a pull goes wider than the library's default (32,
#: which also bounds uploads that hold whole files): measured through the
#: bench's relay, which adds milliseconds per request as a network does, a
#: 10,000-file pull took 16.5 s at 32 and 13.5 s at 64 (rclone: 13.2-15.2 s
#: at 32 or 64 transfers); straight to a server on loopback, 8.6-9.6 s at
#: 32 and 9.3-10.4 s at 64 (docs/design.md).
PULL_IN_FLIGHT = 64


def _sync_options(command: argparse.ArgumentParser, side: str, in_flight: int) -> None:
    command.add_argument(
        "--max-in-flight",
        type=_in_flight,
        default=in_flight,
        metavar="N",
        help=f"files moved (or checked) at once (default {in_flight}); more hides the "
        "network's latency, fewer eases a server on the same machine",
    )
    command.add_argument(
        "--delete",
        action="store_true",
        help=f"also delete {side} that have no counterpart (after every transfer succeeded)",
    )
    command.add_argument(
        "--max-delete",
        type=int,
        default=MAX_DELETE,
        metavar="N",
        help=f"refuse, changing nothing, to delete more than N (default {MAX_DELETE})",
    )
    for action in ("include", "exclude"):
        command.add_argument(
            f"--{action}",
            dest="filters",
            action=_Filter,
            const=action,
            default=[],
            metavar="GLOB",
            help=f"{action} paths matching GLOB (repeatable; the last matching filter wins)",
        )
    command.add_argument("--receipt", metavar="FILE", help="write a JSON receipt to FILE")
    command.add_argument(
        "--recheck", action="store_true", help="HEAD every object (ignore what was remembered)"
    )
    command.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="only shard K of N (1 <= K <= N), deletes included: N machines, each with "
        "its own K, split the tree with no coordination",
    )


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not days >= 0:
        raise argparse.ArgumentTypeError(f"days must be 0 or more, not {text!r}")
    return days


def retention_options(command: argparse.ArgumentParser) -> None:
    """``--keep-releases`` and ``--keep-days``: the retention window."""
    command.add_argument(
        "--keep-releases",
        type=_count,
        metavar="N",
        help="what left the site stays while one of the last N releases references it "
        "(default: the rules file's retention, else 3)",
    )
    command.add_argument(
        "--keep-days",
        type=_days,
        metavar="D",
        help="... or a release at most D days old does (default: the rules file's, else 7)",
    )


def invalidate_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--invalidate",
        metavar="CDN:ID",
        help="invalidate the overwritten and deleted paths (cloudfront:ID, cloudflare:ZONE "
        "or purge:URL; purge:URL sends HTTP PURGE for each, with $CDN_MANAGER_PURGE_TOKEN "
        "in $CDN_MANAGER_PURGE_HEADER if set)",
    )
    command.add_argument("--wait", action="store_true", help="wait for the invalidation")


def add_release_commands(command: CommandFactory) -> None:
    """Adds ``releases``, ``rollback`` and ``prune`` to the command line."""
    releases = command(
        "releases",
        "releases:cmd_releases",
        "list the releases of a site: id, age, files, size, changes, which is live",
        f"  {PROG} releases cdn-demo/www\n  {PROG} releases cdn-demo/www --json\n"
        "every deploy that changes the site records a release under .cdn-manager/PREFIX\n",
    )
    releases.add_argument("location", metavar="BUCKET[/PREFIX]")

    rollback = command(
        "rollback",
        "releases:cmd_rollback",
        "make an earlier release live again (default: the one before the latest), "
        "writing only what differs",
        f"  {PROG} rollback cdn-demo/www --dry-run     # what would change\n"
        f"  {PROG} rollback cdn-demo/www --to 3 --invalidate purge:https://www.example.com/\n"
        "content comes from the copies the deploys kept (read key), assets first,\n"
        "entry points last; the rollback is recorded as a release. A release whose\n"
        "content was pruned is refused before anything changes.\n",
    )
    rollback.add_argument("location", metavar="BUCKET[/PREFIX]")
    rollback.add_argument("--to", type=int, metavar="ID", help="the release to make live")
    rollback.add_argument("--dry-run", action="store_true", help="show what would change")
    rollback.add_argument(
        "--delete",
        action="store_true",
        help="also delete what the release lacks (unless a release in the window references it)",
    )
    rollback.add_argument(
        "--max-delete",
        type=int,
        default=MAX_DELETE,
        metavar="N",
        help=f"refuse, changing nothing, to delete more than N (default {MAX_DELETE})",
    )
    rollback.add_argument("--receipt", metavar="FILE", help="write a JSON receipt to FILE")
    retention_options(rollback)
    invalidate_options(rollback)

    prune = command(
        "prune",
        "releases:cmd_prune",
        "delete what left the site and no release inside the retention window references",
        f"  {PROG} prune cdn-demo/www --dry-run\n"
        f"  {PROG} prune cdn-demo/www --keep-releases 5 --keep-days 30\n"
        "judged by the releases' manifests, never by LastModified; objects no release\n"
        "published are left alone.\n",
    )
    prune.add_argument("location", metavar="BUCKET[/PREFIX]")
    prune.add_argument("--dry-run", action="store_true", help="show what would be deleted")
    prune.add_argument(
        "--max-delete",
        type=int,
        default=MAX_DELETE,
        metavar="N",
        help=f"refuse, changing nothing, to delete more than N (default {MAX_DELETE})",
    )
    retention_options(prune)
    invalidate_options(prune)


def add_mirror_commands(command: CommandFactory) -> None:
    """Adds ``push``, ``pull`` and ``verify`` to the command line."""
    push = command(
        "push",
        "sync:cmd_push",
        "deploy FOLDER: upload what is new or differs (by content), then delete with --delete",
        f"  {PROG} push ./public cdn-demo/site --dry-run   # what would change\n"
        f"  {PROG} push ./public cdn-demo/site --delete --rules deploy.yaml \\\n"
        "      --invalidate cloudfront:E2EXAMPLE --receipt deploy.json\n"
        f"  {PROG} push ./public cdn-demo/site --shard 2/4   # machine 2 of 4\n"
        "assets first, then entry points (*.html), then deletes; every write is\n"
        "conditional on what the plan saw; symbolic links are skipped. Each push\n"
        "that changes the site records a release (see releases, rollback, prune);\n"
        "with --delete, what a release in the retention window references stays.\n",
    )
    push.add_argument("folder", metavar="FOLDER")
    push.add_argument("destination", metavar="BUCKET[/PREFIX]")
    push.add_argument("--dry-run", action="store_true", help="show what would change")
    push.add_argument("--rules", metavar="FILE", help="YAML rules: headers, compression, entry")
    _sync_options(push, "objects under the prefix", TransferConfig.max_in_flight)
    retention_options(push)
    invalidate_options(push)

    pull = command(
        "pull",
        "sync:cmd_pull",
        "download the objects under PREFIX that are new or differ into FOLDER",
        f"  {PROG} pull cdn-demo/site ./mirror --dry-run   # what would move\n"
        f"  {PROG} pull cdn-demo/site ./mirror --delete    # site/a/b -> mirror/a/b\n"
        "keys that cannot be stored safely inside FOLDER are refused (exit 1);\n"
        "an object with no stored checksum is always downloaded.\n",
    )
    pull.add_argument("source", metavar="BUCKET[/PREFIX]")
    pull.add_argument("folder", metavar="FOLDER")
    pull.add_argument("--dry-run", action="store_true", help="list what would change")
    _sync_options(pull, "local files", PULL_IN_FLIGHT)

    verify = command(
        "verify",
        "sync:cmd_verify",
        "check that the bucket and the local files still match a push/pull receipt",
        f"  {PROG} verify deploy.json                # both sides\n"
        f"  {PROG} verify deploy.json --bucket-only  # HEAD each object (read key)\n"
        "exit 0 only when everything matches; one line per difference.\n",
    )
    verify.add_argument("receipt", metavar="RECEIPT")
    side = verify.add_mutually_exclusive_group()
    side.add_argument("--bucket-only", action="store_true", help="do not re-read local files")
    side.add_argument("--local-only", action="store_true", help="do not ask the bucket")
