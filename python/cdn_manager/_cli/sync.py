"""``push``, ``pull`` and ``verify``: a folder deployed to a bucket prefix, a
prefix pulled into a folder (both by the one sync engine), and a receipt of
either checked later. What they print is in :mod:`.report`."""

from __future__ import annotations

import argparse
import time
from functools import partial
from typing import Any

from .._config import MAX_DELETE, TransferConfig
from .._deploy.rules import Rules
from .._escape import shown
from .._sync.shard import Shard
from ..errors import InvalidRequest
from .app import EXIT_FAILURE, EXIT_OK, PROG, App, CommandFactory
from .commands import pull_kept, split_location
from .releases import invalidate_options, retention_of, retention_options
from .report import report_sync


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


def cmd_push(app: App, args: argparse.Namespace) -> int:
    bucket, prefix = split_location(args.destination)
    started = time.monotonic()
    manager = app.manager
    rules = Rules.load(args.rules) if args.rules else Rules()
    plan = manager.plan_deploy(
        args.folder,
        bucket,
        prefix,
        rules=rules,
        retention=retention_of(args, rules.retention),
        delete=args.delete,
        max_delete=args.max_delete,
        filters=args.filters,
        recheck=args.recheck,
        shard=args.shard,
    )
    if args.dry_run:
        return report_sync(app, plan, None, time.monotonic() - started)
    with app.progress(plan.size, f"push {len(plan.uploads)} files") as bar:
        report = manager.deploy(
            plan,
            invalidate=args.invalidate,
            wait=args.wait,
            receipt=args.receipt,
            progress=bar,
        )
    return report_sync(app, plan, report, time.monotonic() - started)


def cmd_pull(app: App, args: argparse.Namespace) -> int:
    bucket, prefix = split_location(args.source)
    started = time.monotonic()
    manager = app.manager
    plan = manager.plan_pull(
        bucket,
        prefix,
        args.folder,
        filters=args.filters,
        delete=args.delete,
        max_delete=args.max_delete,
        recheck=args.recheck,
        shard=args.shard,
    )
    if not plan.listed:
        app.warn(f"no objects under {shown(bucket)}/{shown(plan.prefix)}")
    if args.dry_run:
        return report_sync(app, plan, None, time.monotonic() - started)
    app.kept = partial(pull_kept, plan.folder)
    with app.progress(plan.size, f"pull {len(plan.downloads)} files") as bar:
        report = manager.pull(plan, receipt=args.receipt, progress=bar)
    return report_sync(app, plan, report, time.monotonic() - started)


def cmd_verify(app: App, args: argparse.Namespace) -> int:
    bucket, local = not args.local_only, not args.bucket_only
    differences = app.manager.verify_receipt(args.receipt, bucket=bucket, local=local)
    for line in differences:
        app.error(line)
    sides = " and ".join(s for s, on in (("bucket", bucket), ("local files", local)) if on)
    if not differences:
        app.say(f"verify {shown(args.receipt)}: {sides} match the receipt")
    app.emit({"ok": not differences, "command": "verify", "differences": differences})
    return EXIT_OK if not differences else EXIT_FAILURE


def add_mirror_commands(command: CommandFactory) -> None:
    """Adds ``push``, ``pull`` and ``verify`` to the command line."""
    push = command(
        "push",
        cmd_push,
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
        cmd_pull,
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
        cmd_verify,
        "check that the bucket and the local files still match a push/pull receipt",
        f"  {PROG} verify deploy.json                # both sides\n"
        f"  {PROG} verify deploy.json --bucket-only  # HEAD each object (read key)\n"
        "exit 0 only when everything matches; one line per difference.\n",
    )
    verify.add_argument("receipt", metavar="RECEIPT")
    side = verify.add_mutually_exclusive_group()
    side.add_argument("--bucket-only", action="store_true", help="do not re-read local files")
    side.add_argument("--local-only", action="store_true", help="do not ask the bucket")
