"""Rolling a site back to an earlier release without its build folder: a
push whose source side is that release's manifest, planned by the same
engine and comparison as a deploy (:func:`~cdn_manager._sync.engine.plan_restore`)
and carried out by the same runner: only the objects that differ are
written (content from its kept copy, read with the read key; headers by a
copy in place), assets first, entry points last, then invalidated; the
rollback is recorded as a release of its own.

A release whose content is gone (pruned, or an immutable name changed in
place) cannot be half-restored: planning fails with
:class:`ReleaseIncomplete`, naming every missing key, before anything is
changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Unpack

from .._config import MAX_DELETE
from .._escape import shown
from .._sync.engine import Scope, plan_restore
from .._sync.manifest import ROLLBACK
from .._sync.plan import SyncPlan
from .._sync.store import Store
from ..errors import ReleaseIncomplete, ReleaseNotFound
from .plan import RollbackOptions, check_site_prefix
from .releases import History, Making, draft, referenced, utc_now

#: Missing keys named in the message (all are in ``ReleaseIncomplete.missing``).
NAMED = 10


def plan_rollback(
    store: Store,
    bucket: str,
    prefix: str = "",
    to: int | None = None,
    **options: Unpack[RollbackOptions],
) -> SyncPlan:
    """See :meth:`CDNManager.plan_rollback`."""
    site = check_site_prefix(prefix)
    where = f"{shown(bucket)}/{shown(site)}"
    history = History(store, bucket, site)
    latest = history.latest()
    if latest is None:
        raise ReleaseNotFound(f"{where} has no releases to roll back to", bucket=bucket)
    target = history.read(latest.release - 1 if to is None else to)
    retention = options.get("retention") or latest.retention
    now = (options.get("clock") or utc_now)()
    delete = options.get("delete", False)
    window = history.window(retention, now, pending=1) if delete else []
    scope = Scope(
        bucket,
        site,
        Path(),
        delete=delete,
        max_delete=options.get("max_delete", MAX_DELETE),
        recheck=options.get("recheck", False),
        keep=referenced(site, window),
        recorded=latest.recorded(site),
    )
    plan = plan_restore(store, scope, target, set(history.kept()))
    if plan.refused:
        missing = [left.name for left in plan.refused]
        named = ", ".join(shown(name) for name in missing[:NAMED])
        more = f" and {len(missing) - NAMED} more" if len(missing) > NAMED else ""
        raise ReleaseIncomplete(
            f"release {target.release} of {where} cannot be restored, nothing was changed: "
            f"the content of {len(missing)} objects is gone ({named}{more})",
            release=target.release,
            missing=missing,
            bucket=bucket,
        )
    plan.public_url = latest.public_url or target.public_url
    making = Making(
        now,
        retention,
        ROLLBACK,
        rollback_of=target.release,
        commit=target.commit,
        purpose="rollback",
    )
    plan.release = draft(plan, history, target.entries, making)
    return plan
