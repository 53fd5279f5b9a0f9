"""The HTTP client of the invalidations that are plain web requests (a
cache's ``PURGE``, Cloudflare's API): urllib3, which botocore already
brings, with the manager's timeouts, attempts and CA bundle."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._config import TransferConfig

if TYPE_CHECKING:
    import urllib3


def pool(config: TransferConfig, connections: int = 1) -> urllib3.PoolManager:
    """A pool that retries what a server may answer better next time (429
    and 5xx, any method) ``config.max_attempts`` times in all, then hands
    the last answer back for the caller to judge."""
    import urllib3  # here, not at start-up: only an invalidation uses it

    return urllib3.PoolManager(
        maxsize=connections,
        timeout=urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout),
        retries=urllib3.Retry(
            total=config.max_attempts - 1,
            backoff_factor=0.5,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
        ),
        ca_certs=config.ca_bundle,
    )
