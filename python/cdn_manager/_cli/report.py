"""What ``push`` and ``pull`` print, by one reporter for both directions: a
line per change for people (every key and path escaped), a summary line,
and with ``--json`` one document with the exact keys, of one shape for
both."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .._checksums import SIZE_ONLY
from .._escape import shown
from .._sync.outcome import SyncReport
from .._sync.plan import Action, ActionKind, SyncPlan
from .app import EXIT_FAILURE, EXIT_OK, App
from .output import human_size, resumed_note

#: How each kind of change is told, done and planned.
_VERBS = {
    ActionKind.UPLOAD: ("uploaded", "would upload"),
    ActionKind.UPDATE: ("updated headers of", "would update headers of"),
    ActionKind.DOWNLOAD: ("downloaded", "would download"),
    ActionKind.DELETE: ("deleted", "would delete"),
}
_COUNTS = {
    ActionKind.UPLOAD: ("uploaded", "to upload"),
    ActionKind.UPDATE: ("updated", "to update"),
    ActionKind.DOWNLOAD: ("downloaded", "to download"),
    ActionKind.DELETE: ("deleted", "to delete"),
}


def _in_order(plan: SyncPlan, actions: list[Action]) -> list[Action]:
    """``actions`` in the order a sync carries them out (transfers and
    header updates, entry points after the rest, then deletes, each in plan
    order), not in the order they finished, which varies from run to run."""
    index = {(a.kind, a.key): i for i, a in enumerate(plan.actions)}
    return sorted(
        actions, key=lambda a: (a.kind is ActionKind.DELETE, a.entry, index[a.kind, a.key])
    )


def _line(plan: SyncPlan, action: Action, dry: bool, again: set[str]) -> str:
    verb = _VERBS[action.kind][dry]
    name = shown(action.key)
    size = human_size(action.size)
    if action.kind is ActionKind.UPLOAD:
        return f"{verb} {name} <- {shown(str(action.path))} ({size}, {action.why})"
    if action.kind is ActionKind.DOWNLOAD:
        return f"{verb} {name} -> {shown(str(action.path))} ({size}, {action.why})"
    if action.kind is ActionKind.UPDATE:
        how = ", uploaded again" if action.key in again else ""
        return f"{verb} {name} ({action.why}{how})"
    # A push deletes objects, a pull local files.
    return f"{verb} {name if plan.direction == 'push' else shown(str(action.path))}"


def _document(plan: SyncPlan, action: Action, again: set[str], report: SyncReport | None) -> Any:
    if action.kind is ActionKind.DELETE:
        return action.key if plan.direction == "push" else str(action.path)
    if action.kind is ActionKind.UPDATE:
        return {"key": action.key, "why": action.why, "uploaded_again": action.key in again}
    document = {"key": action.key, "path": str(action.path), "size": action.size, "why": action.why}
    if report is not None:
        document["verified"] = report.proof(action)
    return document


def warn_size_only(app: App, keys: list[str]) -> None:
    """Says once, on stderr, which objects no checksum could prove."""
    if keys:
        shown_keys = ", ".join(shown(key) for key in keys[:3])
        more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
        app.warn(
            f"verified by size only (no checksum, ETag or MD5 to prove the bytes): "
            f"{shown_keys}{more}"
        )


def report_sync(app: App, plan: SyncPlan, report: SyncReport | None, seconds: float) -> int:
    """Prints what a push or pull did (or, for a dry run with ``report``
    None, would do); 1 if anything was refused, failed or held back."""
    dry = report is None
    changes = [a for a in plan.actions if a.kind is not ActionKind.KEEP]
    if not plan.delete:
        changes = [a for a in changes if a.kind is not ActionKind.DELETE]
    done = _in_order(plan, changes if report is None else report.done)
    again = set() if report is None else {a.key for a in report.reuploaded}
    for action in done:
        resumed = 0 if report is None else report.resumed.get(action.key, 0)
        if resumed:
            app.say(f"{shown(action.key)}: {resumed_note(resumed, action.size)}")
        app.say(_line(plan, action, dry, again))

    for left in plan.skipped:
        app.warn(f"skipped {shown(left.name)}: {shown(left.why)}")
    for left in plan.refused:
        app.error(f"refused {shown(left.name)}: {shown(left.why)}")
    failures = [] if report is None else report.failed
    for key, err in failures:
        app.error(f"{plan.direction} {shown(key)} failed: {shown(str(err))}")
    held = [] if report is None else [action.key for action in report.held_back]
    if held:
        what = "changes (entry points, deletes)" if plan.direction == "push" else "deletes"
        app.error(f"held back {len(held)} {what} after a failure")
    too_many = dry and plan.delete and plan.too_many_deletes
    if too_many:
        app.error(
            f"would refuse: {len(plan.deletes)} deletes exceed --max-delete {plan.max_delete}"
        )
    invalidation = None if report is None else report.invalidation
    if invalidation is not None:
        app.say(
            f"invalidation {shown(invalidation.id)} on {invalidation.target} for "
            f"{len(invalidation.paths)} paths ({shown(invalidation.status)})"
        )
    if report is not None and report.invalidation_error is not None:
        app.error(f"invalidation failed: {shown(str(report.invalidation_error))}")
    if report is not None and report.receipt is not None:
        app.say(f"receipt written to {shown(str(report.receipt))}")

    moved = sum(a.size for a in done if a.kind in (ActionKind.UPLOAD, ActionKind.DOWNLOAD))
    kinds = (
        (ActionKind.UPLOAD, ActionKind.UPDATE)
        if plan.direction == "push"
        else (ActionKind.DOWNLOAD,)
    )
    counts = []
    for kind in (*kinds, ActionKind.DELETE):
        count = sum(1 for a in done if a.kind is kind)
        if kind is ActionKind.DELETE and plan.direction == "pull" and not plan.deletes:
            continue
        size = f" ({human_size(moved)})" if kind is kinds[0] else ""
        counts.append(f"{count} {_COUNTS[kind][dry]}{size}")
    counts.append(f"{len(plan.unchanged)} unchanged")
    failed = [
        {"key": key, "reason": err.reason, "message": app.redact(str(err))} for key, err in failures
    ]
    problems: dict[str, list[Any]] = {
        "skipped": plan.skipped,
        "refused": plan.refused,
        "failed": failed,
    }
    counts += [f"{len(items)} {name}" for name, items in problems.items() if items]
    if held:
        counts.append(f"{len(held)} held back")
    where = f"{shown(plan.bucket)}/{shown(plan.prefix)}"
    if plan.shard is not None:
        where += f" (shard {plan.shard})"
    app.say(f"{plan.direction} {where}: {', '.join(counts)} in {seconds:.1f} s")

    ok = (report.ok if report is not None else not plan.refused) and not too_many

    def of(*kinds: ActionKind) -> list[Any]:
        return [_document(plan, a, again, report) for a in done if a.kind in kinds]

    proofs = {} if report is None else {a.key: report.proof(a) for a in plan.unchanged}
    if report is not None:
        proofs.update(
            (a.key, report.proof(a))
            for a in done
            if a.kind in (ActionKind.UPLOAD, ActionKind.DOWNLOAD)
        )
        warn_size_only(app, sorted(key for key, how in proofs.items() if how == SIZE_ONLY))

    app.emit(
        {
            "ok": ok,
            "command": plan.direction,
            "dry_run": dry,
            "bucket": plan.bucket,
            "prefix": plan.prefix,
            "folder": str(plan.folder),
            "shard": None if plan.shard is None else str(plan.shard),
            "transferred": of(ActionKind.UPLOAD, ActionKind.DOWNLOAD),
            "updated": of(ActionKind.UPDATE),
            "deleted": of(ActionKind.DELETE),
            "unchanged": [a.key for a in plan.unchanged],
            "verified": proofs,
            "skipped": [asdict(left) for left in plan.skipped],
            "refused": [asdict(left) for left in plan.refused],
            "failed": failed,
            "held_back": held,
            "invalidation": None if invalidation is None else asdict(invalidation),
            "receipt": None if report is None or report.receipt is None else str(report.receipt),
            "stats": asdict(plan.stats),
            "bytes": moved,
            "seconds": round(seconds, 3),
        }
    )
    return EXIT_OK if ok else EXIT_FAILURE
