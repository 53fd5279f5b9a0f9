"""Telling the CDN to drop its copies of what a deploy replaced or deleted:
one CloudFront invalidation (``cloudfront:DISTRIBUTION_ID``), created with
the write key's credentials (boto3; ``AWS_ENDPOINT_URL_CLOUDFRONT`` points
it elsewhere, as for any boto3 client), a Cloudflare purge by URL
(``cloudflare:ZONE_ID``, :mod:`.cloudflare`), or an HTTP ``PURGE`` of each
URL for a self-hosted cache (``purge:https://www.example.com/``,
:mod:`.purge`).

Only overwritten and deleted objects are listed: a new key was in no cache,
and an immutable one (its name changes with its content) never needs
dropping. Without a ``public_url`` in the rules file, a CloudFront path is
the key (``site/a b.html`` is ``/site/a%20b.html``: the distribution serves
the bucket's root); with one, it is that URL's path followed by the path
below the prefix, which is also what Cloudflare's URLs are made of.
CloudFront takes up to 3,000 paths per invalidation (and 15 wildcard paths
in progress): past 3,000, each folder becomes one ``/folder/*``, and if
that still makes more than 15, folders are merged upwards (to ``/*`` at
most).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

from .._planes.failures import translate
from .._sync.store import Store
from .._sync.target import Invalidation, Target
from ..errors import CDNError, InvalidRequest, TransferError
from .cloudflare import purge
from .purge import base_url
from .purge import purge as purge_urls

MAX_PATHS = 3000
MAX_WILDCARDS = 15
#: How often and how long ``wait`` polls (CloudFront takes minutes).
POLL_SECONDS = 5.0
WAIT_SECONDS = 30 * 60.0


def parse_target(spec: str | Target) -> Target:
    """``"cloudfront:E2EXAMPLE"``, ``"cloudflare:ZONE_ID"`` or
    ``"purge:https://www.example.com/"`` as a :class:`Target`; raises
    :class:`InvalidRequest` for anything else."""
    if isinstance(spec, Target):
        return spec
    provider, _, ident = spec.partition(":")
    if provider == "purge":
        return Target(provider, base_url(ident))
    if provider not in ("cloudfront", "cloudflare") or not ident.isalnum():
        raise InvalidRequest(
            "invalidate target must be cloudfront:DISTRIBUTION_ID, cloudflare:ZONE_ID or "
            f"purge:URL, not {spec!r}",
            reason="InvalidTarget",
        )
    return Target(provider, ident)


def cdn_path(name: str) -> str:
    """The URL path of ``name`` (``a b/c.html`` -> ``/a%20b/c.html``)."""
    return "/" + quote(name, safe="/-._~")


def cdn_paths(keys: Sequence[str]) -> list[str]:
    """The paths for ``keys`` (names below the served root), within
    CloudFront's limits."""
    paths = sorted({cdn_path(key) for key in keys})
    if len(paths) <= MAX_PATHS:
        return paths
    folders = [key.split("/")[:-1] for key in keys]
    depth = max(len(folder) for folder in folders)
    while True:
        wildcards = sorted(
            {cdn_path("/".join(folder[:depth])).rstrip("/") + "/*" for folder in folders}
        )
        if len(wildcards) <= MAX_WILDCARDS or depth == 0:
            return wildcards
        depth -= 1


def invalidate(
    store: Store,
    target: Target,
    objects: Sequence[tuple[str, str]],
    wait: bool,
    public_url: str | None,
) -> Invalidation:
    """Invalidates ``objects`` (``(key, path below the prefix)`` pairs) on
    ``target``: one CloudFront invalidation (and, if ``wait``, waits until
    it is completed), or Cloudflare purges. Raises a :class:`CDNError`
    subclass."""
    if target.provider == "cloudflare":
        return purge(target, [relative for _, relative in objects], public_url, store.config)
    if target.provider == "purge":
        return purge_urls(target, [relative for _, relative in objects], store.config)
    if public_url is None:
        names = [key for key, _ in objects]
    else:
        root = urlsplit(public_url).path.strip("/")
        names = [f"{root}/{relative}" if root else relative for _, relative in objects]
    return _cloudfront(store, target, cdn_paths(names), wait)


def _cloudfront(store: Store, target: Target, paths: list[str], wait: bool) -> Invalidation:
    what = f"invalidate {target}"
    try:
        client = store.cloudfront()
        response = client.create_invalidation(
            DistributionId=target.ident,
            InvalidationBatch={
                "Paths": {"Quantity": len(paths), "Items": paths},
                "CallerReference": f"cdn-manager-{_uuid4()}",
            },
        )
        made = response["Invalidation"]
        status = str(made["Status"])
        deadline = time.monotonic() + WAIT_SECONDS
        while wait and status.lower() != "completed":
            if time.monotonic() > deadline:
                raise TransferError(f"{what}: still {status} after waiting", reason="Timeout")
            time.sleep(POLL_SECONDS)
            answer = client.get_invalidation(DistributionId=target.ident, Id=made["Id"])
            status = str(answer["Invalidation"]["Status"])
    except CDNError:
        raise
    except Exception as err:
        raise translate(err, what, store.secrets()) from None
    return Invalidation(target, str(made["Id"]), paths, status)


def _uuid4() -> str:
    from uuid import uuid4  # here: uuid costs every command's start-up

    return str(uuid4())
