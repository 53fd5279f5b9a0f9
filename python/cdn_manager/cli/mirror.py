"""``push`` and ``pull``: a folder mirrored to a bucket prefix and back,
moving only what changed (the library's :mod:`cdn_manager.mirror`)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

from .. import mirror
from ..objects import TransferResult
from .app import EXIT_FAILURE, EXIT_OK, PROG, App
from .commands import split_location
from .output import human_size

if TYPE_CHECKING:
    from .parser import CommandFactory


def report_sync(
    app: App,
    direction: str,
    plan: mirror.SyncPlan,
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
    plan = mirror.plan_push(app.manager, args.folder, bucket, prefix)
    results = None
    if not args.dry_run:
        with app.progress(plan.size, f"push {len(plan.changes)} files") as bar:
            results = mirror.push(app.manager, plan, cache_control=args.cache_control, progress=bar)
    return report_sync(app, "push", plan, results, time.monotonic() - started)


def cmd_pull(app: App, args: argparse.Namespace) -> int:
    bucket, prefix = split_location(args.source)
    started = time.monotonic()
    plan = mirror.plan_pull(app.manager, bucket, prefix, args.folder)
    results = None
    if not args.dry_run:
        with app.progress(plan.size, f"pull {len(plan.changes)} files") as bar:
            results = mirror.pull(app.manager, plan, progress=bar)
    return report_sync(app, "pull", plan, results, time.monotonic() - started)


def add_mirror_commands(command: CommandFactory) -> None:
    """Adds ``push`` and ``pull`` to the command line."""
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
