"""What ``push``, ``pull``, ``rollback`` and ``prune`` print, by one
reporter for all: a line per change for people (every key and path
escaped), a summary line, and with ``--json`` one document with the exact
keys, of one shape for all."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .._checksums import SIZE_ONLY
from .._escape import shown
from .._sync.outcome import SyncReport
from .._sync.plan import Action, ActionKind, SyncPlan
from .app import EXIT_FAILURE, EXIT_OK, App, warn_size_only
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
    if action.kind is ActionKind.UPLOAD and action.origin is not None:
        # A rollback's content comes from the bucket, not a file.
        verb = ("restored", "would restore")[dry]
        return f"{verb} {name} <- {shown(action.origin)} ({size}, {action.why})"
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
    source = {"origin": action.origin} if action.origin is not None else {"path": str(action.path)}
    document = {"key": action.key, **source, "size": action.size, "why": action.why}
    if report is not None:
        document["verified"] = report.proof(action)
    return document


def _release(app: App, plan: SyncPlan, report: SyncReport | None) -> dict[str, Any] | None:
    """Says what the push did (or would do) to the release history: the
    release it records, and kept content it deletes (the kept copies it
    writes are only in the JSON document); its part of that document."""
    draft = plan.release
    if draft is None:
        return None
    made = draft.manifest
    if report is None:
        kept, pruned, recorded, state = draft.keep, draft.prune, draft.record, None
        verbs = ("would delete", "would record")
    else:
        kept = [a for a in report.history if a.kind is ActionKind.UPLOAD]
        pruned = [a for a in report.history if a.kind is ActionKind.DELETE]
        recorded = draft.record and report.release is not None
        made = report.release or made
        state = made.state if recorded else None
        verbs = ("deleted", "recorded")
    if pruned:
        app.say(f"{verbs[0]} {len(pruned)} kept copies no release in the window needs")
    if recorded:
        what = f"rollback to release {made.rollback_of}, " if made.rollback_of else ""
        ending = f", {state}" if state not in (None, "complete") else ""
        app.say(f"{verbs[1]} release {made.release} ({what}{made.files} files{ending})")
    return {
        "id": made.release if recorded else None,
        "kind": made.kind,
        "state": state,
        "rollback_of": made.rollback_of,
        "window": draft.window,
        "kept": [a.key for a in kept],
        "pruned": [a.key for a in pruned],
    }


def report_sync(app: App, plan: SyncPlan, report: SyncReport | None, seconds: float) -> int:
    """Prints what a push or pull did (or, for a dry run with ``report``
    None, would do); 1 if anything was refused, failed or held back."""
    dry = report is None
    changes = [a for a in plan.actions if a.kind not in (ActionKind.KEEP, ActionKind.RETAIN)]
    if not plan.delete:
        changes = [a for a in changes if a.kind is not ActionKind.DELETE]
    done = _in_order(plan, changes if report is None else report.done)
    again = set() if report is None else {a.key for a in report.reuploaded}
    for action in done:
        resumed = 0 if report is None else report.resumed.get(action.key, 0)
        if resumed:
            app.say(f"{shown(action.key)}: {resumed_note(resumed, action.size)}")
        app.say(_line(plan, action, dry, again))

    for action in plan.retained:
        app.say(f"{'would retain' if dry else 'retained'} {shown(action.key)} ({action.why})")
    release = _release(app, plan, report)
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
        ident = f" {shown(invalidation.id)}" if invalidation.id else ""
        app.say(
            f"invalidation{ident} on {shown(str(invalidation.target))} for "
            f"{len(invalidation.paths)} paths ({shown(invalidation.status)})"
        )
    if report is not None and report.invalidation_error is not None:
        app.error(f"invalidation failed: {shown(str(report.invalidation_error))}")
    if report is not None and report.receipt is not None:
        app.say(f"receipt written to {shown(str(report.receipt))}")

    moved = sum(a.size for a in done if a.kind in (ActionKind.UPLOAD, ActionKind.DOWNLOAD))
    purpose = plan.release.purpose if plan.release is not None else plan.direction
    kinds: tuple[ActionKind, ...] = (
        (ActionKind.UPLOAD, ActionKind.UPDATE)
        if purpose in ("push", "deploy", "rollback")
        else (ActionKind.DOWNLOAD,)
        if purpose == "pull"
        else ()  # a prune only deletes
    )
    words = (
        {**_COUNTS, ActionKind.UPLOAD: ("restored", "to restore")}
        if purpose == "rollback"
        else _COUNTS
    )
    counts = []
    for kind in (*kinds, ActionKind.DELETE):
        count = sum(1 for a in done if a.kind is kind)
        if kind is ActionKind.DELETE and plan.direction == "pull" and not plan.deletes:
            continue
        size = f" ({human_size(moved)})" if kinds and kind is kinds[0] else ""
        counts.append(f"{count} {words[kind][dry]}{size}")
    if plan.retained:
        counts.append(f"{len(plan.retained)} retained")
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
    command = plan.direction if purpose == "deploy" else purpose
    app.say(f"{command} {where}: {', '.join(counts)} in {seconds:.1f} s")

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
            "command": command,
            "dry_run": dry,
            "bucket": plan.bucket,
            "prefix": plan.prefix,
            "folder": str(plan.folder),
            "shard": None if plan.shard is None else str(plan.shard),
            "transferred": of(ActionKind.UPLOAD, ActionKind.DOWNLOAD),
            "updated": of(ActionKind.UPDATE),
            "deleted": of(ActionKind.DELETE),
            "retained": [a.key for a in plan.retained],
            "unchanged": [a.key for a in plan.unchanged],
            "verified": proofs,
            "release": release,
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
