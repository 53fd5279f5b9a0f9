"""Pruning a site's history: what left the site and no release inside the
retention window references any longer is deleted (objects under the
prefix that a release once published, and kept content), judged by the
releases' manifests, never by objects' LastModified. An object no release
ever published is left alone. ``max_delete`` guards every removal, and the
deletes are held back if a release was recorded after the prune was
planned."""

from __future__ import annotations

from pathlib import Path
from typing import Unpack

from .._config import MAX_DELETE
from .._escape import shown
from .._sync.engine import Scope, plan_leftovers
from .._sync.plan import ReleaseDraft, SyncPlan
from .._sync.store import Store
from ..errors import ReleaseNotFound
from .plan import PruneOptions, check_site_prefix
from .releases import History, referenced, unreferenced, utc_now


def plan_prune(
    store: Store, bucket: str, prefix: str = "", **options: Unpack[PruneOptions]
) -> SyncPlan:
    """See :meth:`CDNManager.plan_prune`."""
    site = check_site_prefix(prefix)
    history = History(store, bucket, site)
    latest = history.latest()
    if latest is None:
        raise ReleaseNotFound(
            f"{shown(bucket)}/{shown(site)} has no releases: nothing to judge a prune by",
            bucket=bucket,
        )
    retention = options.get("retention") or latest.retention
    now = (options.get("clock") or utc_now)()
    window = history.window(retention, now)
    scope = Scope(
        bucket,
        site,
        Path(),
        delete=True,
        max_delete=options.get("max_delete", MAX_DELETE),
        keep=referenced(site, window),
    )
    published = set(referenced(site, history.read_all()))
    plan = plan_leftovers(store, scope, latest, published)
    plan.release = ReleaseDraft(
        latest,
        record=False,
        previous=latest.release,
        prune=unreferenced(site, history.kept(), window),
        window=[m.release for m in window],
        purpose="prune",
    )
    return plan
