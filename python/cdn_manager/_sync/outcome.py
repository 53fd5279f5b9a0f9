"""What a sync did: a report of either direction."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from .._checksums import SIZE_ONLY
from ..errors import CDNError
from .manifest import Manifest
from .plan import Action, ActionKind, SyncPlan
from .remote import describe
from .target import Invalidation


@dataclass
class SyncReport:
    """What :meth:`CDNManager.deploy` or :meth:`CDNManager.pull` did."""

    plan: SyncPlan
    #: Actions carried out, in the order they completed.
    done: list[Action] = field(default_factory=list)
    #: Header updates made by uploading the file again (the write key may
    #: not copy); they are in ``done`` too.
    reuploaded: list[Action] = field(default_factory=list)
    #: ``(key, error)`` of every action that failed.
    failed: list[tuple[str, CDNError]] = field(default_factory=list)
    #: Actions not attempted because an earlier step failed.
    held_back: list[Action] = field(default_factory=list)
    #: The ETag each uploaded or updated object has now.
    etags: dict[str, str] = field(default_factory=dict)
    #: Bytes of each resumed download that an interrupted earlier run had
    #: already written.
    resumed: dict[str, int] = field(default_factory=dict)
    #: How each downloaded object's bytes were proven (``TransferResult.verified``).
    verified: dict[str, str] = field(default_factory=dict)
    invalidation: Invalidation | None = None
    #: Why the invalidation could not be made (the sync itself stands).
    invalidation_error: CDNError | None = None
    receipt: Path | None = None
    #: The release recorded (its ``state`` says whether every change was
    #: made), or None when the push recorded none.
    release: Manifest | None = None
    #: Writes and deletes of kept content under the release history, done.
    history: list[Action] = field(default_factory=list)
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def proof(self, action: Action) -> str:
        """How the object of a transfer or an unchanged pair was proven to
        hold the file's bytes: what its download checked, the checksum it
        was uploaded with, or the one that proved the pair the same."""
        if action.key in self.verified:
            return self.verified[action.key]
        if action.kind is ActionKind.UPLOAD and action.checksum is not None:
            return describe(action.checksum, action.size)
        state = action.proven
        if state is None:
            return SIZE_ONLY
        claim = state.stored if self.plan.direction == "pull" else state.content
        return describe(claim, action.size)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.held_back or self.plan.refused or self.invalidation_error)

    def record(self, action: Action, etag: str | None = None) -> None:
        """Notes ``action`` as done (from any thread)."""
        with self._lock:
            self.done.append(action)
            if etag is not None:
                self.etags[action.key] = etag

    def record_history(self, action: Action) -> None:
        """Notes a write or delete of the release history as done."""
        with self._lock:
            self.history.append(action)

    def fail(self, action: Action, error: CDNError) -> None:
        with self._lock:
            self.failed.append((action.key, error))

    def of(self, kind: ActionKind) -> list[Action]:
        return [action for action in self.done if action.kind is kind]

    @property
    def uploaded(self) -> list[Action]:
        return self.of(ActionKind.UPLOAD)

    @property
    def updated(self) -> list[Action]:
        """Header updates made in place (copies)."""
        again = {action.key for action in self.reuploaded}
        return [action for action in self.of(ActionKind.UPDATE) if action.key not in again]

    @property
    def downloaded(self) -> list[Action]:
        return self.of(ActionKind.DOWNLOAD)

    @property
    def deleted(self) -> list[Action]:
        return self.of(ActionKind.DELETE)

    @property
    def overwritten(self) -> list[str]:
        """Keys whose existing object a push replaced (content or headers)."""
        replaced = [a.key for a in self.uploaded if a.etag is not None]
        return sorted(replaced + [a.key for a in self.of(ActionKind.UPDATE)])
