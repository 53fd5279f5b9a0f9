"""``push``, ``pull`` and ``verify``: a folder deployed to a bucket prefix, a
prefix pulled into a folder (both by the one sync engine), and a receipt of
either checked later. What they print is in :mod:`.report`, their grammar
in :mod:`.sync_parser`."""

from __future__ import annotations

import argparse
import time
from functools import partial

from .._deploy.rules import Rules
from .._escape import shown
from .app import EXIT_FAILURE, EXIT_OK, App, split_location
from .commands import pull_kept
from .releases import retention_of
from .report import report_sync


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
