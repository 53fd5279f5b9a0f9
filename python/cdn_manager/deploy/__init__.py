"""Deploying a site to a CDN origin as one safe step
(:meth:`CDNManager.plan_deploy`, :meth:`CDNManager.deploy`, and the
``cdn-manager push`` command).

- ``plan``: what changed (content checksums, sizes, headers), what to delete;
- ``cache``: local checksums and proven objects remembered between runs;
- ``local`` / ``remote``: the files of the folder, and what an object holds;
- ``filters`` / ``globs``: ``--include``/``--exclude`` and glob patterns;
- ``rules``: per-file headers, compression and entry points;
- ``sources``: the bytes uploaded (planned files, compressed files);
- ``run``: applying a plan in a safe order, with conditional writes;
- ``invalidate`` / ``cloudflare`` / ``target``: the CloudFront invalidation,
  the Cloudflare purge;
- ``receipt``: receipts, and verifying them later.
"""

from .filters import Filters
from .plan import (
    MAX_DELETE,
    Delete,
    DeployPlan,
    HeaderUpdate,
    PlanStats,
    TooManyDeletes,
    Unchanged,
    Upload,
)
from .receipt import Receipt, verify
from .rules import Headers, Rules
from .run import DeployReport
from .target import Invalidation, Target

__all__ = [
    "MAX_DELETE",
    "Delete",
    "DeployPlan",
    "DeployReport",
    "Filters",
    "HeaderUpdate",
    "Headers",
    "Invalidation",
    "PlanStats",
    "Receipt",
    "Rules",
    "Target",
    "TooManyDeletes",
    "Unchanged",
    "Upload",
    "verify",
]
