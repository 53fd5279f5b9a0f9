"""Carrying out a deploy plan, in the order that keeps the site whole:

1. new and changed objects that are not entry points (assets), and header
   updates of such objects;
2. then, only if all of that succeeded, the entry points (``*.html`` by
   default), so no page goes live before what it references;
3. then, only if everything succeeded, the deletes.

Every write is conditional on what planning saw: a new key must still be
absent (``If-None-Match: *``), an overwritten or copied object must still
have the ETag it had (``If-Match`` / ``x-amz-copy-source-if-match``), a
deleted one too (``If-Match``, where the server supports it), so a
concurrent deploy makes these items fail with :class:`Conflict` instead of
being silently overwritten. A deploy over more deletes than its plan's
``max_delete`` raises :class:`TooManyDeletes` before changing anything.

A header update is a server-side copy onto itself with the write key. On
AWS, CopyObject also needs ``s3:GetObject`` on the source, which a
least-privilege write key lacks: when the copy is refused
(``AccessDenied``), that file and the rest of the deploy's header updates
are uploaded again instead, and the log says so once.

An interrupt (Ctrl-C, task cancellation) stops every transfer in flight and
propagates as :class:`Interrupted` (or ``Cancelled``) carrying every change
done so far; nothing is started after it, and deletes never begin. What was
done is remembered for the next deploy either way.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, TypeVar, Unpack

from .. import _core
from ..errors import AccessDenied, Cancelled, CDNError, Conflict, Interrupted
from ..escape import shown
from ..objects import TransferResult
from ..planes.base import Condition, ObjectOptions
from ..source import Source
from ..transfer import run_each
from .cache import Proven
from .invalidate import invalidate as create_invalidation
from .invalidate import parse_target
from .plan import Delete, DeployPlan, HeaderUpdate, TooManyDeletes, Upload
from .receipt import write_receipt
from .remote import proven, stored_metadata
from .sources import PlannedFileSource, compress
from .target import Invalidation, Target

if TYPE_CHECKING:
    from ..operations import Operations

log = logging.getLogger("cdn_manager")

Change = Upload | HeaderUpdate | Delete
T = TypeVar("T", Upload, HeaderUpdate, Delete)


@dataclass
class DeployReport:
    """What a deploy did."""

    plan: DeployPlan
    uploaded: list[Upload] = field(default_factory=list)
    #: Header updates done in place (copies) or, where the write key may
    #: not copy, by uploading the file again (``reuploaded``).
    updated: list[HeaderUpdate] = field(default_factory=list)
    reuploaded: list[HeaderUpdate] = field(default_factory=list)
    deleted: list[Delete] = field(default_factory=list)
    #: ``(key, error)`` of every change that failed.
    failed: list[tuple[str, CDNError]] = field(default_factory=list)
    #: Changes not attempted because an earlier step failed.
    held_back: list[Change] = field(default_factory=list)
    #: The ETag each uploaded or updated object has now.
    etags: dict[str, str] = field(default_factory=dict)
    invalidation: Invalidation | None = None
    #: Why the invalidation could not be made (the deploy itself stands).
    invalidation_error: CDNError | None = None
    receipt: Path | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.held_back or self.plan.refused or self.invalidation_error)

    @property
    def overwritten(self) -> list[str]:
        """Keys whose existing object was replaced (content or headers)."""
        replaced = [u.key for u in self.uploaded if u.etag is not None]
        return sorted(replaced + [u.key for u in self.updated + self.reuploaded])


class _Runner:
    """One deploy's changes, applied through the operations layer."""

    def __init__(self, ops: Operations, control: _core.Control, plan: DeployPlan) -> None:
        self.ops, self.control, self.plan = ops, control, plan
        self.report = DeployReport(plan)
        self._lock = threading.Lock()
        #: Set once a copy was refused: later header updates upload instead.
        self._no_copy = False

    def _done(self, into: list[T], change: T, etag: str | None = None) -> None:
        with self._lock:
            into.append(change)
            if etag is not None:
                self.report.etags[change.key] = etag

    def _guarded(self, change: Change, action: Callable[[], None]) -> TransferResult:
        try:
            action()
        except CDNError as err:
            with self._lock:
                self.report.failed.append((change.key, err))
            return TransferResult(change.key, error=err)
        return TransferResult(change.key)

    def run_phase(self, changes: Sequence[Change]) -> bool:
        """Applies ``changes`` concurrently; whether all succeeded. An
        interrupt stops them and raises :class:`Interrupted` with every
        change of the deploy done so far, earlier phases included."""
        jobs = [partial(self._guarded, change, partial(self._apply, change)) for change in changes]
        try:
            results = run_each(jobs, self.ops.config.max_in_flight, self.control)
        except (Interrupted, Cancelled) as stopped:
            report = self.report
            done: list[Change] = [
                *report.uploaded,
                *report.updated,
                *report.reuploaded,
                *report.deleted,
            ]
            stopped.completed = [TransferResult(change.key) for change in done]
            raise
        return all(result.ok for result in results)

    def _apply(self, change: Change) -> None:
        if isinstance(change, Upload):
            self._upload(change, change.etag)
        elif isinstance(change, HeaderUpdate):
            self._update(change)
        else:
            self._delete(change)

    def _upload(self, change: Upload | HeaderUpdate, etag: str | None) -> str:
        algorithm, crc = change.checksum
        headers = change.headers
        condition = Condition(if_match=etag) if etag is not None else Condition(if_none_match=True)
        options = ObjectOptions(
            content_type=headers.content_type,
            cache_control=headers.cache_control,
            metadata=dict(headers.metadata),
            content_encoding=headers.content_encoding,
        )
        if headers.content_encoding is None:
            source: Source = PlannedFileSource(change.file, algorithm, crc)
            stored = stored_metadata(algorithm, crc, None)
            new_etag = self._store(change, source, options, condition)
        else:
            packed = compress(change.file, headers.content_encoding, algorithm, crc)
            stored = stored_metadata(algorithm, packed.stored_crc, crc)
            options = replace(options, metadata={**options.metadata, **stored})
            new_etag = self._store(change, packed.source(algorithm), options, condition)
            # Progress counts the file's own bytes, as the plan's size does.
            self.control.advance(change.file.size - len(packed.data))
        self._remember(change, new_etag, stored)
        if isinstance(change, Upload):
            self._done(self.report.uploaded, change, new_etag)
        return new_etag

    def _store(
        self,
        change: Upload | HeaderUpdate,
        source: Source,
        options: ObjectOptions,
        condition: Condition,
    ) -> str:
        """Uploads; a lost condition that our own earlier attempt explains (its
        answer was lost, and the retry met the object it had written) is a
        success, any other is the :class:`Conflict` it is."""
        bucket, key = self.plan.bucket, change.key
        try:
            return self.ops.store(self.control, bucket, key, source, options, condition)
        except Conflict:
            state = proven(self.ops.stat(bucket, key))
            if state.content == change.checksum and state.headers == change.headers:
                log.info("upload %s: already stored by an earlier attempt", shown(key))
                return state.etag
            raise

    def _update(self, change: HeaderUpdate) -> None:
        if not self._no_copy:
            headers = change.headers
            options = ObjectOptions(
                content_type=headers.content_type,
                cache_control=headers.cache_control,
                metadata={**dict(headers.metadata), **dict(change.proven.stored)},
                content_encoding=headers.content_encoding,
            )
            try:
                etag = self.ops.replace_headers(self.plan.bucket, change.key, options, change.etag)
            except AccessDenied as err:
                self._refuse_copies(err)
            else:
                self._remember(change, etag, dict(change.proven.stored))
                self._done(self.report.updated, change, etag)
                return
        etag = self._upload(change, change.etag)
        self._done(self.report.reuploaded, change, etag)

    def _refuse_copies(self, err: AccessDenied) -> None:
        with self._lock:
            if self._no_copy:
                return
            self._no_copy = True
        log.warning(
            "the write key may not copy objects (%s; on AWS CopyObject also needs "
            "s3:GetObject): header-only changes are uploaded again instead",
            shown(err.reason),
        )

    def _delete(self, change: Delete) -> None:
        self.ops.delete(self.plan.bucket, change.key, if_match=change.etag or None)
        assert self.plan.memory is not None
        self.plan.memory.forget(change.key)
        self._done(self.report.deleted, change)

    def _remember(self, change: Upload | HeaderUpdate, etag: str, stored: dict[str, str]) -> None:
        assert self.plan.memory is not None
        content = change.checksum
        self.plan.memory.remember(
            change.key, Proven(etag, content, change.headers, tuple(sorted(stored.items())))
        )


class DeployOptions(TypedDict, total=False):
    #: ``"cloudfront:DISTRIBUTION_ID"``: invalidate what was overwritten or deleted.
    invalidate: str | Target | None
    #: Wait until the invalidation completes.
    wait: bool
    #: Write a receipt of the deployed objects to this file.
    receipt: str | os.PathLike[str] | None


def run_deploy(
    ops: Operations, control: _core.Control, plan: DeployPlan, **options: Unpack[DeployOptions]
) -> DeployReport:
    """See :meth:`CDNManager.deploy`."""
    started = time.monotonic()
    spec = options.get("invalidate")
    target = parse_target(spec) if spec is not None else None
    receipt = options.get("receipt")
    if plan.delete and plan.too_many_deletes:
        raise TooManyDeletes(
            f"deploy to {shown(plan.bucket)}/{shown(plan.prefix)} would delete "
            f"{len(plan.deletes)} objects, more than max_delete={plan.max_delete}; "
            "nothing was changed",
        )
    runner = _Runner(ops, control, plan)
    report = runner.report
    writes: list[Change] = [*plan.uploads, *plan.updates]
    first = [c for c in writes if not isinstance(c, Delete) and not c.entry]
    entries = [c for c in writes if not isinstance(c, Delete) and c.entry]
    deletes: list[Change] = list(plan.deletes) if plan.delete else []
    try:
        if not runner.run_phase(first):
            report.held_back = [*entries, *deletes]
        elif not runner.run_phase(entries):
            report.held_back = list(deletes)
        else:
            runner.run_phase(deletes)
    finally:
        _save(plan, report)
    if target is not None:
        objects = _invalidated(report)
        if objects:
            try:
                report.invalidation = create_invalidation(
                    ops, target, objects, options.get("wait", False), plan.rules.public_url
                )
            except CDNError as err:
                report.invalidation_error = err
    if receipt is not None:
        report.receipt = write_receipt(receipt, ops, report)
    report.seconds = time.monotonic() - started
    return report


def _save(plan: DeployPlan, report: DeployReport) -> None:
    """Remembers checksums and proven objects for the next deploy."""
    if plan.cache is not None:
        plan.cache.save()
    if plan.memory is not None:
        gone = {d.key for d in report.deleted}
        present = {*plan.listed, *report.etags} - gone
        plan.memory.save(sorted(present))


def _invalidated(report: DeployReport) -> list[tuple[str, str]]:
    """``(key, path below the prefix)`` of the overwritten and deleted
    objects, except immutable ones (a CDN never needs to drop an object
    whose name changes with its content)."""
    rules, prefix = report.plan.rules, report.plan.prefix
    written: list[Upload | HeaderUpdate] = [*report.uploaded, *report.updated, *report.reuploaded]
    changed = {c.key: c.headers for c in written}
    keys = [key for key in report.overwritten if not changed[key].immutable]
    keys += [d.key for d in report.deleted if not rules.headers(d.key[len(prefix) :]).immutable]
    return [(key, key[len(prefix) :]) for key in sorted(keys)]
