"""Planning a deploy: the sync engine's push (:mod:`cdn_manager._sync`),
with the headers, compression and entry points of the deploy's rules, and
the release it records (:mod:`.releases`). A sharded push records no
release (no machine sees the whole site) but retains what the window
references as the whole push would."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TypedDict, Unpack, cast

from .._escape import shown
from .._sync.engine import ScopeOptions, folder_prefix, plan_push, scope_of
from .._sync.manifest import RESERVED, Retention
from .._sync.plan import SyncPlan
from .._sync.store import Store
from ..errors import InvalidRequest
from .releases import Clock, History, Making, draft, entries_of, git_commit, referenced, utc_now
from .rules import Rules


class HistoryOptions(TypedDict, total=False):
    #: Which releases an object that left the site stays for (default: the
    #: rules file's ``retention``, else the last 3 releases and 7 days).
    retention: Retention | None
    #: What "now" is (a callable returning an aware ``datetime``).
    clock: Clock | None


class PlanOptions(ScopeOptions, HistoryOptions, total=False):
    #: A :class:`Rules` or the path of a rules file (default: the built-in rules).
    rules: Rules | str | os.PathLike[str] | None


class PruneOptions(HistoryOptions, total=False):
    #: Refuse (changing nothing) to delete more than this.
    max_delete: int


class RollbackOptions(PruneOptions, total=False):
    #: Also delete (or retain, as the window says) what the release lacks.
    delete: bool
    #: HEAD every object whose size matches, ignoring what was remembered.
    recheck: bool


def check_site_prefix(prefix: str) -> str:
    """``prefix`` as a folder prefix; :class:`InvalidRequest` if it lies in
    the release history's reserved prefix."""
    folder = folder_prefix(prefix)
    if folder.startswith(RESERVED):
        raise InvalidRequest(
            f"{shown(prefix)} is inside {RESERVED}, which holds release history",
            reason="ReservedPrefix",
        )
    return folder


def plan_deploy(
    store: Store,
    folder: str | os.PathLike[str],
    bucket: str,
    prefix: str = "",
    **options: Unpack[PlanOptions],
) -> SyncPlan:
    """See :meth:`CDNManager.plan_deploy`."""
    rules = options.get("rules")
    chosen = rules if isinstance(rules, Rules) else Rules.load(rules) if rules else Rules()
    named = {"rules", "retention", "clock"}
    scope_options = cast(ScopeOptions, {k: v for k, v in options.items() if k not in named})
    scope = scope_of(bucket, check_site_prefix(prefix), folder, **scope_options)
    retention = options.get("retention") or chosen.retention or Retention()
    now = (options.get("clock") or utc_now)()
    history = History(store, bucket, scope.prefix)
    # Retained unless the new release pushes its referrer out of the window
    # (a shard judges as the whole push would); judged only for deletes.
    window = history.window(retention, now, pending=1) if scope.delete else []
    keep = referenced(scope.prefix, window)
    latest = history.latest()
    recorded = latest.recorded(scope.prefix) if latest is not None else {}
    plan = plan_push(store, replace(scope, keep=keep, recorded=recorded), chosen)
    if scope.shard is not None:
        return plan
    entries = entries_of(plan)
    if latest is not None:
        # What this push's filters leave out stays as the latest release has it.
        listed = set(plan.listed)
        for relative, entry in latest.entries.items():
            if not scope.covers(relative) and plan.prefix + relative in listed:
                entries.setdefault(relative, entry)
    commit = git_commit(scope.folder)
    plan.release = draft(plan, history, entries, Making(now, retention, commit=commit))
    return plan
