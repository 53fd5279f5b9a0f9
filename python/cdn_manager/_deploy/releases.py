"""A site's release history, read with the read key, and what a push does
to it (the layout is :mod:`cdn_manager._sync.manifest`'s).

Every deploy and rollback that changes the site records a release: its
manifest is written first, with ``If-None-Match: *`` on the next number,
so of two pushes planned against the same history the second fails with
:class:`Conflict` before it changes anything, and the history stays linear.
It is written again, conditional on its own ETag, when the push ends
(state "complete" or "failed").

The retention window (:class:`Retention`) is judged by the manifests'
times, never by objects' LastModified: an unchanged chunk keeps its old
LastModified across many deploys while every one of them references it.
A release's time is never earlier than its predecessor's, so the window is
a run of the newest releases.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from .. import _core
from .._escape import shown
from .._results import ObjectInfo
from .._sync.headers import Headers
from .._sync.manifest import (
    COMPLETE,
    DEPLOY,
    Entry,
    Manifest,
    Retention,
    content_prefix,
    is_content,
    manifest_key,
    manifests_prefix,
    release_of,
)
from .._sync.plan import Action, ActionKind, ReleaseDraft, SyncPlan
from .._sync.store import Store
from .._transfers.parts import run_each
from ..errors import IntegrityError, ReleaseNotFound
from .rules import IMMUTABLE, HashedName

#: Where "now" comes from (a test passes its own).
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Release:
    """One release of a site, as ``cdn-manager releases`` lists it."""

    id: int
    time: datetime
    #: "deploy" or "rollback".
    kind: str
    #: "complete", "failed", or "deploying" (still running, or stopped for good).
    state: str
    files: int
    #: Bytes of content (before any compression).
    size: int
    #: Objects added, changed (content or headers) and removed since the
    #: release before it.
    added: int
    changed: int
    removed: int
    #: The newest release, and complete: the site is this release.
    live: bool
    rollback_of: int | None = None
    commit: str | None = None


class History:
    """The releases of the site at ``prefix`` (a folder prefix), listed
    once; manifests are read (read key) when asked for, each once."""

    def __init__(self, store: Store, bucket: str, prefix: str) -> None:
        self.store, self.bucket, self.prefix = store, bucket, prefix
        found = (release_of(prefix, o.key) for o in store.list(bucket, manifests_prefix(prefix)))
        #: Newest first.
        self.ids = sorted((n for n in found if n is not None), reverse=True)
        self._manifests: dict[int, Manifest] = {}
        self._kept: dict[str, ObjectInfo] | None = None

    def read(self, release: int) -> Manifest:
        """Release ``release``'s manifest; :class:`ReleaseNotFound` if there
        is none, :class:`IntegrityError` if it is not one."""
        if release in self._manifests:
            return self._manifests[release]
        if release not in self.ids:
            raise ReleaseNotFound(
                f"{shown(self.bucket)}/{shown(self.prefix)} has no release {release}",
                bucket=self.bucket,
            )
        key = manifest_key(self.prefix, release)
        data = self.store.download_bytes(_core.Control(), self.bucket, key)
        try:
            manifest = Manifest.from_bytes(data)
        except ValueError as err:
            raise IntegrityError(
                f"{shown(key)}: {err}", reason="BadManifest", bucket=self.bucket, key=key
            ) from None
        if manifest.release != release:
            raise IntegrityError(
                f"{shown(key)} holds release {manifest.release}",
                reason="BadManifest",
                bucket=self.bucket,
                key=key,
            )
        self._manifests[release] = manifest
        return manifest

    def read_all(self) -> list[Manifest]:
        """Every manifest, newest first (read concurrently)."""
        jobs = [partial(self.read, release) for release in self.ids]
        return run_each(jobs, self.store.config.max_in_flight, _core.Control())

    def latest(self) -> Manifest | None:
        return self.read(self.ids[0]) if self.ids else None

    def window(self, retention: Retention, now: datetime, pending: int = 0) -> list[Manifest]:
        """The releases inside the retention window at ``now``, newest first,
        when ``pending`` newer releases are about to be recorded."""
        inside = []
        for rank, release in enumerate(self.ids, start=pending):
            manifest = self.read(release)
            if not retention.keeps(rank, now - manifest.time):
                break
            inside.append(manifest)
        return inside

    def kept(self) -> dict[str, ObjectInfo]:
        """The kept content, by key (listed once)."""
        if self._kept is None:
            listed = self.store.list(self.bucket, content_prefix(self.prefix))
            self._kept = {o.key: o for o in listed if is_content(self.prefix, o.key)}
        return self._kept

    @property
    def newest(self) -> int | None:
        return self.ids[0] if self.ids else None


def referenced(prefix: str, releases: list[Manifest]) -> dict[str, int]:
    """Every key ``releases`` (newest first) publish, with the newest
    release that does."""
    keys: dict[str, int] = {}
    for manifest in releases:
        for relative in manifest.entries:
            keys.setdefault(prefix + relative, manifest.release)
    return keys


def mutable(relative: str, entry: bool) -> bool:
    """Whether a release keeps a copy of the content of ``relative``: an
    entry point, or a name without a content hash (which a later release
    may overwrite)."""
    return entry or not HashedName().matches(relative)


def git_commit(folder: Path) -> str | None:
    """The commit checked out where ``folder`` is, if it is inside a git
    repository (and git is installed)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--verify", "--quiet", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def entries_of(plan: SyncPlan) -> dict[str, Entry]:
    """The objects a push's plan leaves the site with (what it uploads,
    updates and keeps), as a release's entries."""
    entries = {}
    for action in plan.actions:
        if action.kind not in (ActionKind.UPLOAD, ActionKind.UPDATE, ActionKind.KEEP):
            continue
        assert action.checksum is not None and action.headers is not None
        relative = action.key[len(plan.prefix) :]
        entries[relative] = Entry(
            relative,
            action.size,
            action.checksum,
            action.headers,
            action.entry,
            mutable(relative, action.entry),
        )
    return entries


@dataclass(frozen=True)
class Making:
    """What the release a push records is, besides its objects."""

    now: datetime
    retention: Retention
    kind: str = DEPLOY
    rollback_of: int | None = None
    commit: str | None = None
    purpose: str = "deploy"


def draft(
    plan: SyncPlan, history: History, entries: Mapping[str, Entry], making: Making
) -> ReleaseDraft:
    """What ``plan`` does to the history: the release it records (none when
    the site stays the latest complete release), the kept copies of
    mutable content it writes, and (with ``plan.delete``) the kept content
    no release inside the window references any longer, which it deletes.
    Turns the plan's deletes that an unrecorded push's wider window still
    references into retained objects."""
    latest = history.latest()
    record = latest is None or latest.state != COMPLETE or dict(latest.entries) != dict(entries)
    previous = latest.release if latest is not None else None
    time = making.now if latest is None else max(making.now, latest.time)
    manifest = Manifest(
        (previous or 0) + 1,
        time,
        dict(entries),
        making.kind,
        rollback_of=making.rollback_of,
        commit=making.commit,
        public_url=plan.public_url,
        retention=making.retention,
    )
    kept = history.kept()
    result = ReleaseDraft(manifest, record, previous, purpose=making.purpose)
    result.keep = _copies(plan, entries, kept)
    if plan.delete:
        # Only deletes need the window (and the manifests inside it).
        window = history.window(making.retention, making.now, pending=1 if record else 0)
        if not record:
            _retain(plan, referenced(plan.prefix, window))
        result.window = [m.release for m in window]
        result.prune = unreferenced(plan.prefix, kept, [manifest, *window])
    return result


def unreferenced(
    prefix: str, kept: Mapping[str, ObjectInfo], releases: list[Manifest]
) -> list[Action]:
    """Deletes of the kept content none of ``releases`` references."""
    wanted = {
        content_prefix(prefix) + e.address for m in releases for e in m.entries.values() if e.kept
    }
    return [
        Action(ActionKind.DELETE, key, Path(key), info.size, "no release keeps it", info.etag)
        for key, info in sorted(kept.items())
        if key not in wanted
    ]


def _retain(plan: SyncPlan, keys: Mapping[str, int]) -> None:
    for n, action in enumerate(plan.actions):
        release = keys.get(action.key)
        if action.kind is ActionKind.DELETE and release is not None:
            why = f"release {release} references it"
            plan.actions[n] = replace(action, kind=ActionKind.RETAIN, why=why)


def _copies(
    plan: SyncPlan, entries: Mapping[str, Entry], kept: Mapping[str, ObjectInfo]
) -> list[Action]:
    """The kept copies a release needs and the history lacks: from the
    planned file where there is one, else from the object itself."""
    actions = {a.key: a for a in plan.actions}
    copies: dict[str, Action] = {}
    for entry in entries.values():
        key = content_prefix(plan.prefix) + entry.address
        if not entry.kept or key in kept or key in copies:
            continue
        site = actions.get(plan.prefix + entry.relative)
        if site is None:
            # Carried over from the latest release (outside this push's
            # filters): kept by the release that published it.
            continue
        copies[key] = Action(
            ActionKind.UPLOAD,
            key,
            site.path,
            entry.size,
            "kept copy",
            file=site.file,
            headers=Headers(IMMUTABLE, entry.headers.content_type, entry.headers.content_encoding),
            checksum=entry.checksum,
            origin=None if site.file is not None else site.origin or site.key,
        )
    return list(copies.values())


def summaries(history: History) -> list[Release]:
    """Every release, newest first, with what changed since the one before."""
    manifests = history.read_all()
    found = []
    for n, manifest in enumerate(manifests):
        before = manifests[n + 1].entries if n + 1 < len(manifests) else {}
        now = manifest.entries
        changed = sum(1 for k in now if k in before and now[k] != before[k])
        found.append(
            Release(
                manifest.release,
                manifest.time,
                manifest.kind,
                manifest.state,
                manifest.files,
                manifest.size,
                added=sum(1 for k in now if k not in before),
                changed=changed,
                removed=sum(1 for k in before if k not in now),
                live=n == 0 and manifest.state == COMPLETE,
                rollback_of=manifest.rollback_of,
                commit=manifest.commit,
            )
        )
    return found
