"""Planning a deploy: the sync engine's push (:mod:`cdn_manager._sync`),
with the headers, compression and entry points of the deploy's rules."""

from __future__ import annotations

import os
from typing import Unpack, cast

from .._sync.engine import ScopeOptions, plan_push, scope_of
from .._sync.plan import SyncPlan
from .._sync.store import Store
from .rules import Rules


class PlanOptions(ScopeOptions, total=False):
    #: A :class:`Rules` or the path of a rules file (default: the built-in rules).
    rules: Rules | str | os.PathLike[str] | None


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
    scope = cast(ScopeOptions, {name: v for name, v in options.items() if name != "rules"})
    return plan_push(store, scope_of(bucket, prefix, folder, **scope), chosen)
