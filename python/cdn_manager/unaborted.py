"""Multipart uploads a manager failed to abort, tried again later.

An upload that fails while its server is unreachable (the node it talks to
died) cannot be aborted then either: its parts would stay on the server,
listed as unfinished, until someone aborts them. The manager keeps such
uploads and aborts them on its next multipart upload and at ``close()``,
once the server answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from .escape import shown
from .retry import is_transient
from .s3errors import error_code

log = logging.getLogger("cdn_manager")

#: Seconds after a failed abort (or a round of retries) before uploads try
#: again: while the server is still unreachable, each round costs the
#: upload that makes it a few failed connections.
RETRY_INTERVAL = 10.0


class Unaborted:
    """The (bucket, key, upload id) of each upload whose abort failed."""

    def __init__(self) -> None:
        self._uploads: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        #: Held while one thread retries, so concurrent uploads do not all
        #: wait on the same unreachable server.
        self._retrying = threading.Lock()
        #: When an abort last failed or a round of retries began.
        self._last = 0.0

    def add(self, bucket: str, key: str, upload_id: str) -> None:
        with self._lock:
            self._uploads.add((bucket, key, upload_id))
            self._last = time.monotonic()

    def retry(self, client: Any, now: bool = False) -> None:
        """Aborts every upload kept, with ``client`` (the write key's);
        keeps those the server still cannot be asked about. Unless ``now``,
        returns at once when another thread is retrying or the last round
        was less than ``RETRY_INTERVAL`` ago."""
        if not self._uploads:
            return
        if not now and time.monotonic() - self._last < RETRY_INTERVAL:
            return
        if not self._retrying.acquire(blocking=now):
            return
        try:
            self._last = time.monotonic()
            with self._lock:
                pending, self._uploads = self._uploads, set()
            for bucket, key, upload_id in sorted(pending):
                if not abort(client, bucket, key, upload_id):
                    self.add(bucket, key, upload_id)
        finally:
            self._retrying.release()


def abort(client: Any, bucket: str, key: str, upload_id: str) -> bool:
    """Aborts one upload; False when the server could not be asked (a
    transient failure: worth trying again later), else True: aborted now,
    unknown to the server (aborted or completed before), or refused for
    good. Each failure is logged at WARNING."""
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as err:
        if error_code(err) == "NoSuchUpload":
            log.debug(
                "upload %s of %s/%s: already gone", shown(upload_id), shown(bucket), shown(key)
            )
            return True
        failure: BaseException = err
    except Exception as err:
        failure = err
    else:
        log.debug("upload %s of %s/%s: aborted", shown(upload_id), shown(bucket), shown(key))
        return True
    later = is_transient(failure)
    log.warning(
        "could not abort multipart upload %s of %s/%s (%s); its parts remain%s",
        shown(upload_id),
        shown(bucket),
        shown(key),
        error_code(failure) or type(failure).__name__,
        " until the manager's next multipart upload or close() aborts it" if later else "",
    )
    return not later
