"""``releases``, ``rollback`` and ``prune``: a site's release history (every
deploy records one), putting an earlier release live again without its
build folder, and removing what no release inside the retention window
needs. What rollback and prune change is printed by the one reporter of
``push`` (:mod:`.report`)."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from .._config import MAX_DELETE
from .._escape import shown
from .._sync.manifest import Retention
from .app import EXIT_OK, PROG, App, CommandFactory, UsageError
from .commands import split_location
from .output import human_size
from .report import report_sync


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
        cmd_releases,
        "list the releases of a site: id, age, files, size, changes, which is live",
        f"  {PROG} releases cdn-demo/www\n  {PROG} releases cdn-demo/www --json\n"
        "every deploy that changes the site records a release under .cdn-manager/PREFIX\n",
    )
    releases.add_argument("location", metavar="BUCKET[/PREFIX]")

    rollback = command(
        "rollback",
        cmd_rollback,
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
        cmd_prune,
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
