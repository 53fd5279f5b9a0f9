"""``releases``, ``rollback`` and ``prune``: a site's release history (every
deploy records one), putting an earlier release live again without its
build folder, and removing what no release inside the retention window
needs. What rollback and prune change is printed by the one reporter of
``push`` (:mod:`.report`); their grammar is in :mod:`.sync_parser`."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from .._escape import shown
from .._sync.manifest import Retention
from .app import EXIT_OK, App, UsageError, split_location
from .output import human_size
from .report import report_sync


def retention_of(args: argparse.Namespace, rules: Retention | None = None) -> Retention | None:
    """The window the flags set (each flag left out keeps ``rules``' or the
    default value); None when neither was given."""
    if args.keep_releases is None and args.keep_days is None:
        return None
    base = rules or Retention()
    return Retention(
        base.releases if args.keep_releases is None else args.keep_releases,
        base.days if args.keep_days is None else args.keep_days,
    )


def _age(then: datetime, now: datetime) -> str:
    seconds = max((now - then).total_seconds(), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def cmd_releases(app: App, args: argparse.Namespace) -> int:
    bucket, prefix = split_location(args.location)
    found = app.manager.releases(bucket, prefix)
    now = datetime.now(UTC)
    if not found:
        app.warn(f"no releases of {shown(bucket)}/{shown(prefix)}")
    else:
        app.show(f"{'release':>8}  {'age':>7}  {'files':>6}  {'size':>10}  changes")
    for release in found:
        if release.kind == "rollback":
            changes = f"rollback to {release.rollback_of}"
        else:
            changes = f"+{release.added} ~{release.changed} -{release.removed}"
        marks = [changes]
        if release.commit:
            marks.append(f"commit {release.commit[:12]}")
        if release.state != "complete":
            marks.append(release.state)
        if release.live:
            marks.append("live")
        app.show(
            f"{release.id:>8}  {_age(release.time, now):>7}  {release.files:>6}  "
            f"{human_size(release.size):>10}  {shown(', '.join(marks))}"
        )
    documents = [{**asdict(r), "time": r.time.isoformat()} for r in found]
    app.emit({"ok": True, "bucket": bucket, "prefix": prefix, "releases": documents})
    return EXIT_OK


def _history_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"max_delete": args.max_delete}
    retention = retention_of(args)
    if retention is not None:
        options["retention"] = retention
    return options


def cmd_rollback(app: App, args: argparse.Namespace) -> int:
    bucket, prefix = split_location(args.location)
    started = time.monotonic()
    if args.to is not None and args.to < 1:
        raise UsageError("--to takes a release number (1 or more)")
    manager = app.manager
    plan = manager.plan_rollback(
        bucket, prefix, args.to, delete=args.delete, **_history_options(args)
    )
    if args.dry_run:
        return report_sync(app, plan, None, time.monotonic() - started)
    with app.progress(plan.size, f"rollback {len(plan.uploads)} files") as bar:
        report = manager.deploy(
            plan, invalidate=args.invalidate, wait=args.wait, receipt=args.receipt, progress=bar
        )
    return report_sync(app, plan, report, time.monotonic() - started)


def cmd_prune(app: App, args: argparse.Namespace) -> int:
    bucket, prefix = split_location(args.location)
    started = time.monotonic()
    manager = app.manager
    plan = manager.plan_prune(bucket, prefix, **_history_options(args))
    if args.dry_run:
        return report_sync(app, plan, None, time.monotonic() - started)
    report = manager.deploy(plan, invalidate=args.invalidate, wait=args.wait)
    return report_sync(app, plan, report, time.monotonic() - started)
