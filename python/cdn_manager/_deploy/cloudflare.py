"""Purging Cloudflare's cache by URL (``cloudflare:ZONE_ID``): the
documented ``POST /zones/{zone_id}/purge_cache`` with ``{"files": [...]}``,
at most 100 URLs per request, authorised by the API token in
``$CLOUDFLARE_API_TOKEN`` (never logged or shown). The URLs are the rules
file's ``public_url`` followed by each path below the prefix.
``$CDN_MANAGER_CLOUDFLARE_API`` replaces the API's base URL (a test server,
a proxy).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from .._config import TransferConfig
from .._escape import shown
from .._sync.target import Invalidation, Target
from ..errors import ConfigError, TransferError
from .web import pool

API = "https://api.cloudflare.com/client/v4"
TOKEN_VARIABLE = "CLOUDFLARE_API_TOKEN"
API_VARIABLE = "CDN_MANAGER_CLOUDFLARE_API"
BATCH = 100


def urls(public_url: str, relatives: Sequence[str]) -> list[str]:
    base = public_url.rstrip("/")
    return sorted({f"{base}/{quote(relative, safe='/-._~')}" for relative in relatives})


def purge(
    target: Target, relatives: Sequence[str], public_url: str | None, config: TransferConfig
) -> Invalidation:
    """Purges the URLs of ``relatives`` in batches of 100; the ids of the
    purges, comma-separated. Raises :class:`ConfigError` without a token or
    a ``public_url``, :class:`TransferError` when Cloudflare refuses."""
    token = os.environ.get(TOKEN_VARIABLE)
    if not token:
        raise ConfigError(f"purging {target} needs ${TOKEN_VARIABLE}", reason="NoToken")
    if not public_url:
        raise ConfigError(
            f"purging {target} needs public_url in the rules file", reason="NoPublicURL"
        )
    from urllib3.exceptions import HTTPError  # here, not at start-up: only a purge uses it

    listed = urls(public_url, relatives)
    endpoint = f"{os.environ.get(API_VARIABLE) or API}/zones/{quote(target.ident)}/purge_cache"
    http = pool(config)
    ids = []
    for start in range(0, len(listed), BATCH):
        batch = listed[start : start + BATCH]
        try:
            response = http.request(
                "POST",
                endpoint,
                body=json.dumps({"files": batch}).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
        except HTTPError as err:
            raise TransferError(
                f"purge {target}: {type(err).__name__}", reason=type(err).__name__
            ) from None
        answer = _json(response.data)
        if response.status != 200 or not answer.get("success"):
            errors = answer.get("errors") or [{}]
            message = shown(str(errors[0].get("message", "no message")))
            raise TransferError(
                f"purge {target}: HTTP {response.status}: {message}", reason="PurgeRefused"
            )
        ids.append(str((answer.get("result") or {}).get("id", "")))
    return Invalidation(target, ",".join(ids), listed, "purged")


def _json(data: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(data)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
