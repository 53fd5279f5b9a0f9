"""A sync's plan: one list of actions, each with its reason, for either
direction. A push uploads, updates headers in place and deletes objects; a
pull downloads and deletes local files; both keep what is the same.
Planning changes nothing on either side, which is what a dry run shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from .._escape import shown
from .headers import Headers
from .local import LeftOut, LocalFile
from .manifest import Manifest
from .memory import ChecksumCache, ObjectMemory
from .remote import Proven
from .shard import Shard

Direction = Literal["push", "pull"]


class ActionKind(StrEnum):
    """What an action does."""

    UPLOAD = "upload"
    UPDATE = "update headers"
    DOWNLOAD = "download"
    #: An object (push) or a local file (pull) that has no counterpart.
    DELETE = "delete"
    #: A push: an object with no counterpart that a release inside the
    #: retention window still references; it stays.
    RETAIN = "retain"
    KEEP = "keep"


@dataclass(frozen=True)
class Action:
    """One key of the plan: what to do with it, and why."""

    kind: ActionKind
    key: str
    #: The local file (for a pull, where the object lands).
    path: Path
    #: Bytes the action moves (an upload: the file's, before compression; a
    #: download: the object's), or the size of what it deletes or keeps.
    size: int
    why: str
    #: The ETag the object had at planning (a push's writes and deletes
    #: are conditional on it); None when there was no object.
    etag: str | None = None
    #: A push: the planned file (held to its identity when uploaded).
    file: LocalFile | None = None
    #: A push: the headers the object gets (for a delete, those the rules
    #: give its name, which tell whether a CDN must drop it).
    headers: Headers | None = None
    #: A push: an entry point, published after everything else.
    entry: bool = False
    #: A push: ``(algorithm, crc)`` of the file's content in the upload
    #: algorithm.
    checksum: tuple[str, int] | None = None
    #: What the object holds (a header update re-sends its stored metadata).
    proven: Proven | None = None
    #: A push with no file (a rollback, a kept copy): the key in the same
    #: bucket whose stored bytes are the content, read with the read key.
    origin: str | None = None


@dataclass
class PlanStats:
    """What planning cost: a re-sync of an unchanged tree should read no
    file (``files_read`` 0) and, where listings carry ETags, send no HEAD
    (``heads`` 0)."""

    files: int = 0
    filtered_out: int = 0
    #: Files left to the other shards (``shard=``).
    other_shards: int = 0
    cache_hits: int = 0
    files_read: int = 0
    bytes_read: int = 0
    heads: int = 0
    #: Objects proven by the ETag they had when last proven (no HEAD).
    remembered: int = 0


@dataclass
class ReleaseDraft:
    """What a push does to the site's release history
    (:mod:`.manifest`)."""

    #: The release it records (state "deploying" until the push ends).
    manifest: Manifest
    #: False: the site is the latest release's (nothing to record).
    record: bool
    #: The release the history had at planning (the new one follows it).
    previous: int | None
    #: Kept content to write (with the assets, before any entry point).
    keep: list[Action] = field(default_factory=list)
    #: Kept content no release inside the window references (with the deletes).
    prune: list[Action] = field(default_factory=list)
    #: The releases inside the retention window, newest first (None: not
    #: judged, the plan deletes nothing).
    window: list[int] | None = None
    #: What the plan is for: "deploy", "rollback" or "prune".
    purpose: str = "deploy"


@dataclass
class SyncPlan:
    """What a push (:meth:`CDNManager.deploy`) or a pull
    (:meth:`CDNManager.pull`) would do; ``str(plan)`` shows it."""

    direction: Direction
    bucket: str
    prefix: str
    folder: Path
    #: The checksum algorithm of uploads and of receipts.
    algorithm: str
    delete: bool
    max_delete: int
    actions: list[Action] = field(default_factory=list)
    #: LeftOut out on purpose (symbolic links, special files, folder markers):
    #: not a failure.
    skipped: list[LeftOut] = field(default_factory=list)
    #: Wanted but impossible (names no key or file can hold, unreadable or
    #: changing files): a failure.
    refused: list[LeftOut] = field(default_factory=list)
    stats: PlanStats = field(default_factory=PlanStats)
    #: The shard this plan covers (None: the whole tree).
    shard: Shard | None = None
    #: A push: where the prefix is served (CDN invalidations).
    public_url: str | None = None
    #: Every key listed under the prefix at planning.
    listed: list[str] = field(default_factory=list, repr=False)
    cache: ChecksumCache | None = field(default=None, repr=False)
    memory: ObjectMemory | None = field(default=None, repr=False)
    #: A push with a release history: what it records and keeps there.
    release: ReleaseDraft | None = None

    def of(self, kind: ActionKind) -> list[Action]:
        return [action for action in self.actions if action.kind is kind]

    @property
    def uploads(self) -> list[Action]:
        return self.of(ActionKind.UPLOAD)

    @property
    def updates(self) -> list[Action]:
        return self.of(ActionKind.UPDATE)

    @property
    def downloads(self) -> list[Action]:
        return self.of(ActionKind.DOWNLOAD)

    @property
    def deletes(self) -> list[Action]:
        return self.of(ActionKind.DELETE)

    @property
    def retained(self) -> list[Action]:
        return self.of(ActionKind.RETAIN)

    @property
    def unchanged(self) -> list[Action]:
        return self.of(ActionKind.KEEP)

    @property
    def size(self) -> int:
        """Bytes the plan moves (uploads before any compression, kept
        copies included)."""
        kept = sum(a.size for a in self.release.keep) if self.release is not None else 0
        moved = (ActionKind.UPLOAD, ActionKind.DOWNLOAD)
        return kept + sum(a.size for a in self.actions if a.kind in moved)

    @property
    def too_many_deletes(self) -> bool:
        return len(self.deletes) > self.max_delete

    def lines(self) -> list[str]:
        """The plan, one line per change, in the order it is carried out."""
        lines = []
        for entry in (False, True):
            for action in self.actions:
                if action.entry != entry:
                    continue
                name, path = shown(action.key), shown(str(action.path))
                if action.origin is not None:
                    path = shown(action.origin)
                if action.kind is ActionKind.UPLOAD:
                    lines.append(f"upload {name} <- {path} ({action.why})")
                elif action.kind is ActionKind.UPDATE:
                    lines.append(f"update headers {name} ({action.why})")
                elif action.kind is ActionKind.DOWNLOAD:
                    lines.append(f"download {name} -> {path} ({action.why})")
        for action in self.deletes:
            lines.append(
                f"delete {shown(action.key if self.direction == 'push' else str(action.path))}"
            )
        for action in self.retained:
            lines.append(f"retain {shown(action.key)} ({action.why})")
        if self.release is not None:
            lines += self.release_lines()
        if self.too_many_deletes:
            lines.append(f"refuse: {len(self.deletes)} deletes exceed max_delete={self.max_delete}")
        return lines

    def release_lines(self) -> list[str]:
        """What the plan does to the release history."""
        draft = self.release
        if draft is None:
            return []
        lines = [f"keep {shown(action.key)}" for action in draft.keep]
        lines += [f"delete {shown(action.key)}" for action in draft.prune]
        if draft.record:
            made = draft.manifest
            what = f"rollback to release {made.rollback_of}" if made.rollback_of else made.kind
            lines.append(f"record release {made.release} ({what}, {made.files} files)")
        return lines

    def __str__(self) -> str:
        part = f" (shard {self.shard})" if self.shard else ""
        remote = f"{self.bucket}/{self.prefix}"
        purpose = self.release.purpose if self.release is not None else self.direction
        if purpose == "rollback":
            assert self.release is not None
            head = (
                f"rollback {remote} to release {self.release.manifest.rollback_of}: "
                f"{len(self.uploads)} to restore, {len(self.updates)} header updates, "
                f"{len(self.deletes)} to delete, {len(self.unchanged)} unchanged"
            )
        elif purpose == "prune":
            head = f"prune {remote}: {len(self.deletes)} to delete, {len(self.retained)} retained"
        elif self.direction == "push":
            retained = f", {len(self.retained)} retained" if self.retained else ""
            head = (
                f"deploy {self.folder} -> {remote}{part}: {len(self.uploads)} to upload, "
                f"{len(self.updates)} header updates, {len(self.deletes)} to delete{retained}, "
                f"{len(self.unchanged)} unchanged"
            )
        else:
            head = (
                f"pull {remote} -> {self.folder}{part}: {len(self.downloads)} to download, "
                f"{len(self.deletes)} to delete, {len(self.unchanged)} unchanged"
            )
        return "\n".join([shown(head), *self.lines()])
