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

A push with a release history (:mod:`.releases`) first writes the new
release's manifest, conditionally on the next number being free: a
concurrent deploy that got there first makes this one fail with
:class:`Conflict` before it changes anything. Kept copies of mutable
content go with the assets, kept content no release needs any longer with
the deletes, and the manifest is written again with the outcome.
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
from .._checksums import encode
from .._escape import shown
from .._planes.protocol import Condition, ObjectOptions
from .._results import TransferResult
from .._sync.headers import Headers
from .._sync.manifest import COMPLETE, FAILED, manifest_key
from .._sync.outcome import SyncReport
from .._sync.plan import Action, ActionKind, ReleaseDraft, SyncPlan
from .._sync.receipt import write_receipt
from .._sync.remote import SOURCE_PREFIX, Proven, proven, stored_metadata
from .._sync.store import Store
from .._sync.target import Target
from .._transfers.parts import run_each
from .._transfers.sources import BufferSource, FileSource, Source
from ..errors import AccessDenied, Cancelled, CDNError, Conflict, Interrupted, TooManyDeletes
from .invalidate import invalidate as create_invalidation
from .invalidate import parse_target
from .origin import fetched
from .releases import History
from .sources import PlannedFileSource, compress

log = logging.getLogger("cdn_manager")


class _Runner:
    """One deploy's actions, applied through the store."""

    def __init__(self, store: Store, control: _core.Control, plan: SyncPlan) -> None:
        self.store, self.control, self.plan = store, control, plan
        self.report = SyncReport(plan)
        #: Set once a copy was refused: later header updates upload instead.
        self._no_copy = False
        #: What each object written now holds (for the release's manifest).
        self._proven: dict[str, Proven] = {}

    def _guarded(self, action: Action, history: bool) -> TransferResult:
        try:
            if history:
                self._apply_history(action)
            else:
                self._apply(action)
        except CDNError as err:
            self.report.fail(action, err)
            return TransferResult(action.key, error=err)
        return TransferResult(action.key)

    def run_phase(self, actions: Sequence[Action], history: Sequence[Action] = ()) -> bool:
        """Applies ``actions`` (of the site) and ``history`` (kept content)
        concurrently; whether all succeeded. An interrupt stops them and
        raises :class:`Interrupted` with every action of the deploy done so
        far, earlier phases included."""
        jobs = [partial(self._guarded, action, False) for action in actions]
        jobs += [partial(self._guarded, action, True) for action in history]
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
            self.report.record(action)

    def _apply_history(self, action: Action) -> None:
        if action.kind is ActionKind.UPLOAD:
            self._upload(action)
        else:
            self.store.delete(self.plan.bucket, action.key, if_match=action.etag or None)
        self.report.record_history(action)

    def claim(self, draft: ReleaseDraft) -> str | None:
        """Writes the new release's manifest if its number is still free;
        its ETag, or None (the failure is in the report) when it is not."""
        made = draft.manifest
        action = _manifest_action(self.plan, made.release)
        try:
            etag = self._write_manifest(action, draft, Condition(if_none_match=True))
        except CDNError as err:
            if isinstance(err, Conflict):
                err = Conflict(
                    f"release {made.release} of {shown(self.plan.bucket)}/"
                    f"{shown(self.plan.prefix)} was recorded by another deploy since this "
                    "one was planned; nothing was changed: plan again",
                    reason="ReleaseConflict",
                    bucket=self.plan.bucket,
                    key=action.key,
                )
            self.report.fail(action, err)
            return None
        self.report.release = made
        return etag

    def moved(self, draft: ReleaseDraft | None) -> bool:
        """Whether a release was recorded since ``draft`` was planned
        without one of its own (its deletes were judged by an older
        window); if so, the report fails."""
        if draft is None or draft.record:
            return False
        newest = History(self.store, self.plan.bucket, self.plan.prefix).newest
        if newest == draft.previous:
            return False
        action = _manifest_action(self.plan, newest or 0)
        where = f"{shown(self.plan.bucket)}/{shown(self.plan.prefix)}"
        self.report.fail(
            action,
            Conflict(
                f"release {newest} of {where} was recorded since this was planned; "
                "no delete was made: plan again",
                reason="ReleaseConflict",
                bucket=self.plan.bucket,
            ),
        )
        return True

    def finish(self, draft: ReleaseDraft, etag: str) -> None:
        """Records how the release's push ended, and what each of its
        objects holds now, on the manifest it claimed."""
        state = COMPLETE if not (self.report.failed or self.report.held_back) else FAILED
        known = {a.key: a.proven for a in self.plan.unchanged if a.proven is not None}
        with self.report._lock:
            known.update(self._proven)
        prefix = self.plan.prefix
        entries = {
            name: replace(entry, stored=known.get(prefix + name, entry.stored))
            for name, entry in draft.manifest.entries.items()
        }
        made = replace(draft.manifest, state=state, entries=entries)
        action = _manifest_action(self.plan, made.release)
        try:
            self._write_manifest(action, replace(draft, manifest=made), Condition(if_match=etag))
        except CDNError as err:
            self.report.fail(action, err)
            return
        self.report.release = made

    def _write_manifest(self, action: Action, draft: ReleaseDraft, condition: Condition) -> str:
        data = draft.manifest.to_bytes()
        options = ObjectOptions(
            content_type="application/json",
            cache_control="no-cache",
            content_encoding="gzip",
        )
        source = BufferSource(memoryview(data), self.store.config.checksum_algorithm)
        return self.store.store(
            _core.Control(), self.plan.bucket, action.key, source, options, condition
        )

    def _upload(self, action: Action) -> str:
        """Uploads the action's file, or its origin's bytes; its new ETag."""
        assert action.checksum is not None and action.headers is not None
        if action.file is None:
            return self._upload_origin(action)
        algorithm, crc = action.checksum
        headers = action.headers
        condition = _condition(action)
        options = _options(headers)
        if action.kind is ActionKind.UPDATE and action.proven is not None:
            # The same bytes again (the write key may not copy): other
            # tools' metadata still describes them.
            others = headers.others(action.proven.headers)
            options = replace(options, metadata={**others, **options.metadata})
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

    def _upload_origin(self, action: Action) -> str:
        """Uploads what ``action.origin`` holds (read with the read key,
        proven to be the planned content) with the action's headers."""
        assert action.checksum is not None and action.headers is not None
        headers, options = action.headers, _options(action.headers)
        algorithm = self.store.config.checksum_algorithm
        with fetched(self.store, self.control, self.plan.bucket, action, algorithm) as got:
            stored_crc = got.crcs[algorithm]
            assert isinstance(stored_crc, int)
            ours = stored_metadata(algorithm, stored_crc, None)
            if headers.content_encoding is not None:
                content_algorithm, content_crc = action.checksum
                ours[SOURCE_PREFIX + content_algorithm] = encode(content_crc, content_algorithm)
                options = replace(options, metadata={**options.metadata, **ours})
            source = FileSource(got.path, algorithm)
            new_etag = self._store(action, source, options, _condition(action))
            # Fetched and sent, the bytes were counted twice; the plan counts
            # the content once.
            self.control.advance(action.size - 2 * got.state.size)
        state = Proven(
            new_etag,
            got.state.size,
            (algorithm, stored_crc),
            action.checksum,
            headers,
            tuple(sorted(ours.items())),
        )
        self._remember(action.key, state)
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
            options = _options(headers)
            metadata = {
                **headers.others(action.proven.headers),
                **options.metadata,
                **dict(action.proven.ours),
            }
            options = replace(options, metadata=metadata)
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

    def _remember(self, key: str, state: Proven) -> None:
        """What the object now holds, for the next deploy (and the release)."""
        assert self.plan.memory is not None
        self.plan.memory.remember(key, state)
        with self.report._lock:
            self._proven[key] = state


def _condition(action: Action) -> Condition:
    """Where a write must find what planning saw."""
    if action.etag is not None:
        return Condition(if_match=action.etag)
    return Condition(if_none_match=True)


def _options(headers: Headers) -> ObjectOptions:
    return ObjectOptions(
        content_type=headers.content_type,
        cache_control=headers.cache_control,
        metadata=dict(headers.metadata),
        content_encoding=headers.content_encoding,
    )


def _manifest_action(plan: SyncPlan, release: int) -> Action:
    """The write of a release's manifest, as a report names a failure."""
    key = manifest_key(plan.prefix, release)
    return Action(ActionKind.UPLOAD, key, plan.folder, 0, "release manifest")


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
    draft = plan.release
    keep = draft.keep if draft is not None else []
    prune = draft.prune if draft is not None and plan.delete else []
    claimed = runner.claim(draft) if draft is not None and draft.record else None
    try:
        if draft is not None and draft.record and claimed is None:
            report.held_back = [*first, *entries, *deletes]
        elif not runner.run_phase(first, keep):
            report.held_back = [*entries, *deletes]
        elif not runner.run_phase(entries) or ((deletes or prune) and runner.moved(draft)):
            report.held_back = list(deletes)
        else:
            runner.run_phase(deletes, prune)
    finally:
        _save(plan, report)
    if draft is not None and claimed is not None:
        runner.finish(draft, claimed)
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
