"""What ``push`` and ``pull`` print: one line per change for people (every
key and path escaped), a summary line, and with ``--json`` one document
with the exact keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, TypeVar

from .. import mirror
from ..deploy import Delete, DeployPlan, DeployReport, HeaderUpdate, Upload
from ..errors import CDNError, LocalIOError
from ..escape import shown
from ..objects import TransferResult
from .app import EXIT_FAILURE, EXIT_OK, App
from .output import human_size, resumed_note

C = TypeVar("C", Upload, HeaderUpdate, Delete)


def _left(app: App, plan: DeployPlan | mirror.SyncPlan) -> dict[str, Any]:
    for left in plan.skipped:
        app.warn(f"skipped {shown(left.name)}: {shown(left.why)}")
    for left in plan.refused:
        app.error(f"refused {shown(left.name)}: {shown(left.why)}")
    return {
        "skipped": [asdict(left) for left in plan.skipped],
        "refused": [asdict(left) for left in plan.refused],
    }


def _failed(app: App, verb: str, failures: Sequence[tuple[str, CDNError]]) -> list[Any]:
    for key, err in failures:
        app.error(f"{verb} {shown(key)} failed: {shown(str(err))}")
    return [
        {"key": key, "reason": err.reason, "message": app.redact(str(err))} for key, err in failures
    ]


def _summary(
    app: App,
    command: str,
    plan: DeployPlan | mirror.SyncPlan,
    counts: list[str],
    seconds: float,
    **problems: Sequence[object],
) -> None:
    """The last line: what moved, then what was skipped, refused, failed."""
    listed = {"skipped": plan.skipped, "refused": plan.refused, **problems}
    counts = counts + [f"{len(items)} {name}" for name, items in listed.items() if items]
    where = f"{shown(plan.bucket)}/{shown(plan.prefix)}"
    if plan.shard is not None:
        where += f" (shard {plan.shard})"
    app.say(f"{command} {where}: {', '.join(counts)} in {seconds:.1f} s")


def _in_order(plan: DeployPlan, changes: Sequence[C]) -> list[C]:
    """``changes`` in the order a deploy applies them (assets, then entry
    points, then deletes, each in plan order), not in the order they
    finished, which varies from run to run."""
    planned: list[Upload | HeaderUpdate | Delete] = [*plan.uploads, *plan.updates, *plan.deletes]
    index = {c.key: i for i, c in enumerate(planned)}
    return sorted(changes, key=lambda c: (not isinstance(c, Delete) and c.entry, index[c.key]))


def report_deploy(app: App, plan: DeployPlan, report: DeployReport | None, seconds: float) -> int:
    """Prints what a push did (or, for a dry run with ``report`` None, would
    do); 1 if anything was refused, failed or held back."""
    dry = report is None
    if report is None:
        uploads, updates = plan.uploads, plan.updates
        deletes = plan.deletes if plan.delete else []
    else:
        uploads, updates = report.uploaded, [*report.updated, *report.reuploaded]
        deletes = report.deleted
    uploads, updates, deletes = (
        _in_order(plan, uploads),
        _in_order(plan, updates),
        _in_order(plan, deletes),
    )
    reuploaded = set() if report is None else {u.key for u in report.reuploaded}
    for upload in uploads:
        did = "would upload" if dry else "uploaded"
        app.say(
            f"{did} {shown(upload.key)} <- {shown(str(upload.file.path))} "
            f"({human_size(upload.size)}, {upload.why})"
        )
    for update in updates:
        did = "would update headers of" if dry else "updated headers of"
        how = ", uploaded again" if update.key in reuploaded else ""
        app.say(f"{did} {shown(update.key)} ({update.why}{how})")
    for delete in deletes:
        app.say(f"{'would delete' if dry else 'deleted'} {shown(delete.key)}")
    document = _left(app, plan)
    failed = _failed(app, "push", report.failed if report else [])
    held = [] if report is None else [change.key for change in report.held_back]
    if held:
        app.error(f"held back {len(held)} changes (entry points, deletes) after a failure")
    if dry and plan.delete and plan.too_many_deletes:
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
    moved = sum(upload.size for upload in uploads)
    counts = [
        f"{len(uploads)} {'to upload' if dry else 'uploaded'} ({human_size(moved)})",
        f"{len(updates)} {'to update' if dry else 'updated'}",
        f"{len(deletes)} {'to delete' if dry else 'deleted'}",
        f"{len(plan.unchanged)} unchanged",
    ]
    _summary(app, "push", plan, counts, seconds, failed=failed, **{"held back": held})
    ok = (report.ok if report is not None else not plan.refused) and not (
        dry and plan.delete and plan.too_many_deletes
    )
    app.emit(
        {
            "ok": ok,
            "command": "push",
            "dry_run": dry,
            "bucket": plan.bucket,
            "prefix": plan.prefix,
            "folder": str(plan.folder),
            "shard": None if plan.shard is None else str(plan.shard),
            "transferred": [
                {"key": u.key, "path": str(u.file.path), "size": u.size, "why": u.why}
                for u in uploads
            ],
            "updated": [
                {"key": u.key, "why": u.why, "uploaded_again": u.key in reuploaded} for u in updates
            ],
            "deleted": [d.key for d in deletes],
            "unchanged": [u.key for u in plan.unchanged],
            **document,
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


def report_pull(
    app: App,
    plan: mirror.SyncPlan,
    results: list[TransferResult] | None,
    deleted: list[tuple[str, LocalIOError | None]],
    seconds: float,
) -> int:
    """Prints what a pull did (or, for a dry run with ``results`` None,
    would do); 1 if anything was refused or failed."""
    dry = results is None
    done, failures = [], []
    outcomes: Sequence[TransferResult | None] = results or [None] * len(plan.changes)
    for change, result in zip(plan.changes, outcomes, strict=True):
        if result is not None and result.error is not None:
            failures.append((change.key, result.error))
            continue
        done.append(change)
        if result is not None and result.resumed_bytes:
            app.say(f"{shown(change.key)}: {resumed_note(result.resumed_bytes, change.size)}")
        did = "would download" if dry else "downloaded"
        app.say(
            f"{did} {shown(change.key)} -> {shown(str(change.path))} "
            f"({human_size(change.size)}, {change.why})"
        )
    gone = plan.deletes if dry else [name for name, error in deleted if error is None]
    for name in gone:
        app.say(f"{'would delete' if dry else 'deleted'} {shown(str(plan.folder / name))}")
    failed = _failed(app, "download", failures)
    for name, error in deleted:
        if error is not None:
            failed.append({"key": name, "reason": error.reason, "message": str(error)})
            app.error(shown(str(error)))
    document = _left(app, plan)
    too_many = dry and len(plan.deletes) > plan.max_delete
    if too_many:
        app.error(
            f"would refuse: {len(plan.deletes)} deletes exceed --max-delete {plan.max_delete}"
        )
    moved = sum(change.size for change in done)
    counts = [
        f"{len(done)} {'to download' if dry else 'downloaded'} ({human_size(moved)})",
        f"{len(plan.unchanged)} unchanged",
    ]
    if plan.deletes:
        counts.append(f"{len(gone)} {'to delete' if dry else 'deleted'}")
    _summary(app, "pull", plan, counts, seconds, failed=failed)
    ok = not plan.refused and not failed and not too_many
    app.emit(
        {
            "ok": ok,
            "command": "pull",
            "dry_run": dry,
            "bucket": plan.bucket,
            "prefix": plan.prefix,
            "folder": str(plan.folder),
            "shard": None if plan.shard is None else str(plan.shard),
            "transferred": [
                {"key": c.key, "path": str(c.path), "size": c.size, "why": c.why} for c in done
            ],
            "unchanged": plan.unchanged,
            "deleted": [str(plan.folder / name) for name in gone],
            **document,
            "failed": failed,
            "bytes": moved,
            "seconds": round(seconds, 3),
        }
    )
    return EXIT_OK if ok else EXIT_FAILURE
