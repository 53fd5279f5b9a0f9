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
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import TypedDict, Unpack

from .. import _core
from .._escape import shown
from .._planes.protocol import Condition, ObjectOptions
from .._results import TransferResult
from .._sync.headers import Headers
from .._sync.outcome import SyncReport
from .._sync.plan import Action, ActionKind, SyncPlan
from .._sync.receipt import write_receipt
from .._sync.remote import Proven, proven, stored_metadata
from .._sync.store import Store
from .._sync.target import Target
from .._transfers.parts import run_each
from .._transfers.sources import Source
from ..errors import AccessDenied, Cancelled, CDNError, Conflict, Interrupted, TooManyDeletes
from .invalidate import invalidate as create_invalidation
from .invalidate import parse_target
from .sources import PlannedFileSource, compress

log = logging.getLogger("cdn_manager")


class _Runner:
    """One deploy's actions, applied through the store."""

    def __init__(self, store: Store, control: _core.Control, plan: SyncPlan) -> None:
        self.store, self.control, self.plan = store, control, plan
        self.report = SyncReport(plan)
        #: Set once a copy was refused: later header updates upload instead.
        self._no_copy = False

    def _guarded(self, action: Action) -> TransferResult:
        try:
            self._apply(action)
        except CDNError as err:
            self.report.fail(action, err)
            return TransferResult(action.key, error=err)
        return TransferResult(action.key)

    def run_phase(self, actions: Sequence[Action]) -> bool:
        """Applies ``actions`` concurrently; whether all succeeded. An
        interrupt stops them and raises :class:`Interrupted` with every
        action of the deploy done so far, earlier phases included."""
        jobs = [partial(self._guarded, action) for action in actions]
        try:
            results = run_each(jobs, self.store.config.max_in_flight, self.control)
        except (Interrupted, Cancelled) as stopped:
            stopped.completed = [TransferResult(action.key) for action in self.report.done]
            raise
        return all(result.ok for result in results)

    def _apply(self, action: Action) -> None:
        if action.kind is ActionKind.UPLOAD:
            self.report.record(action, self._upload(action))
        elif action.kind is ActionKind.UPDATE:
            self._update(action)
        else:
            self._delete(action)

    def _upload(self, action: Action) -> str:
        """Uploads the action's file; its new ETag."""
        assert action.checksum is not None and action.file is not None
        assert action.headers is not None
        algorithm, crc = action.checksum
        headers = action.headers
        etag = action.etag
        condition = Condition(if_match=etag) if etag is not None else Condition(if_none_match=True)
        metadata = dict(headers.metadata)
        if action.kind is ActionKind.UPDATE and action.proven is not None:
            # The same bytes again (the write key may not copy): other
            # tools' metadata still describes them.
            metadata = {**headers.others(action.proven.headers), **metadata}
        options = ObjectOptions(
            content_type=headers.content_type,
            cache_control=headers.cache_control,
            metadata=metadata,
            content_encoding=headers.content_encoding,
        )
        if headers.content_encoding is None:
            source: Source = PlannedFileSource(action.file, algorithm, crc)
            ours = stored_metadata(algorithm, crc, None)
            new_etag = self._store(action, source, options, condition)
            stored = Proven(new_etag, action.file.size, action.checksum, action.checksum, headers)
        else:
            packed = compress(action.file, headers.content_encoding, algorithm, crc)
            ours = stored_metadata(algorithm, packed.stored_crc, crc)
            options = replace(options, metadata={**options.metadata, **ours})
            new_etag = self._store(action, packed.source(algorithm), options, condition)
            # Progress counts the file's own bytes, as the plan's size does.
            self.control.advance(action.file.size - len(packed.data))
            size, packed_crc = len(packed.data), (algorithm, packed.stored_crc)
            stored = Proven(new_etag, size, packed_crc, action.checksum, headers)
        self._remember(action.key, replace(stored, ours=tuple(sorted(ours.items()))))
        return new_etag

    def _store(
        self, action: Action, source: Source, options: ObjectOptions, condition: Condition
    ) -> str:
        """Uploads; a lost condition that our own earlier attempt explains (its
        answer was lost, and the retry met the object it had written) is a
        success, any other is the :class:`Conflict` it is."""
        bucket, key = self.plan.bucket, action.key
        try:
            return self.store.store(self.control, bucket, key, source, options, condition)
        except Conflict:
            state = proven(self.store.stat(bucket, key))
            same = action.headers is not None and not action.headers.differences(state.headers)
            if state.content == action.checksum and same:
                log.info("upload %s: already stored by an earlier attempt", shown(key))
                return state.etag
            raise

    def _update(self, action: Action) -> None:
        assert action.headers is not None and action.proven is not None
        if not self._no_copy:
            headers = action.headers
            options = ObjectOptions(
                content_type=headers.content_type,
                cache_control=headers.cache_control,
                metadata={
                    **headers.others(action.proven.headers),
                    **dict(headers.metadata),
                    **dict(action.proven.ours),
                },
                content_encoding=headers.content_encoding,
            )
            try:
                etag = self.store.replace_headers(
                    self.plan.bucket, action.key, options, action.etag
                )
            except AccessDenied as err:
                self._refuse_copies(err)
            else:
                self._remember(action.key, replace(action.proven, etag=etag, headers=headers))
                self.report.record(action, etag)
                return
        etag = self._upload(action)
        with self.report._lock:
            self.report.reuploaded.append(action)
        self.report.record(action, etag)

    def _refuse_copies(self, err: AccessDenied) -> None:
        with self.report._lock:
            if self._no_copy:
                return
            self._no_copy = True
        log.warning(
            "the write key may not copy objects (%s; on AWS CopyObject also needs "
            "s3:GetObject): header-only changes are uploaded again instead",
            shown(err.reason),
        )

    def _delete(self, action: Action) -> None:
        self.store.delete(self.plan.bucket, action.key, if_match=action.etag or None)
        assert self.plan.memory is not None
        self.plan.memory.forget(action.key)
        self.report.record(action)

    def _remember(self, key: str, state: Proven) -> None:
        """What the object now holds, for the next deploy."""
        assert self.plan.memory is not None
        self.plan.memory.remember(key, state)


class DeployOptions(TypedDict, total=False):
    #: ``"cloudfront:DISTRIBUTION_ID"``: invalidate what was overwritten or deleted.
    invalidate: str | Target | None
    #: Wait until the invalidation completes.
    wait: bool
    #: Write a receipt of the deployed objects to this file.
    receipt: str | os.PathLike[str] | None


def run_deploy(
    store: Store, control: _core.Control, plan: SyncPlan, **options: Unpack[DeployOptions]
) -> SyncReport:
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
    runner = _Runner(store, control, plan)
    report = runner.report
    writes = [a for a in plan.actions if a.kind in (ActionKind.UPLOAD, ActionKind.UPDATE)]
    first = [a for a in writes if not a.entry]
    entries = [a for a in writes if a.entry]
    deletes = plan.deletes if plan.delete else []
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
                    store, target, objects, options.get("wait", False), plan.public_url
                )
            except CDNError as err:
                report.invalidation_error = err
    if receipt is not None:
        report.receipt = write_receipt(receipt, store, report)
    report.seconds = time.monotonic() - started
    return report


def _save(plan: SyncPlan, report: SyncReport) -> None:
    """Remembers checksums and proven objects for the next deploy."""
    if plan.cache is not None:
        plan.cache.save()
    if plan.memory is not None:
        gone = {action.key for action in report.deleted}
        present = {*plan.listed, *report.etags} - gone
        plan.memory.save(sorted(present))


def _invalidated(report: SyncReport) -> list[tuple[str, str]]:
    """``(key, path below the prefix)`` of the overwritten and deleted
    objects, except immutable ones (a CDN never needs to drop an object
    whose name changes with its content)."""
    prefix = report.plan.prefix
    headers = {a.key: a.headers for a in report.done}
    keys = [
        key
        for key in [*report.overwritten, *(a.key for a in report.deleted)]
        if not _immutable(headers[key])
    ]
    return [(key, key[len(prefix) :]) for key in sorted(keys)]


def _immutable(headers: Headers | None) -> bool:
    return headers is not None and headers.immutable
