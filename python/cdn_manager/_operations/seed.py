"""The seed module's contract: ``upload`` and ``download`` return False and
log one line on any failure, and never raise."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .._escape import shown
from ..errors import CDNError

log = logging.getLogger("cdn_manager")


def as_bool(operation: str, bucket: str, key: str, action: Callable[[], object]) -> bool:
    """True if ``action`` succeeded; else False and one ERROR line."""
    try:
        action()
    except CDNError as err:
        reason, detail = err.reason, f": {shown(str(err))}"
    except Exception as err:  # the seed's contract: never raise
        reason, detail = type(err).__name__, ""
    else:
        return True
    # repr() escapes every unprintable character of a hostile name.
    log.error(
        "%s failed: bucket=%r key=%r reason=%s%s", operation, bucket, key, shown(reason), detail
    )
    return False
