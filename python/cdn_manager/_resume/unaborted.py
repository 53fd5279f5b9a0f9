"""Multipart uploads a manager failed to abort, tried again later.

An upload that fails while its server is unreachable (the node it talks to
died) cannot be aborted then either: its parts would stay on the server,
listed as unfinished, until someone aborts them. The manager keeps such
uploads and aborts them on its next multipart upload and at ``close()``,
once the server answers again.

The same goes for an upload whose id the manager never learnt: a
CreateMultipartUpload that the server carried out but whose answer was
lost (the node died before replying, or botocore's retry created a second
upload). S3 has no idempotency token for it, so such an upload is found by
listing the key's unfinished uploads: one begun while the call ran (by the
server's clock, whose offset the listing's ``Date`` header gives) that the
call did not return and that has no parts, for no one could have sent
parts to an id no one knows. Another client's upload of the same key,
begun in the same second and still without parts, would match too; it
then fails with NoSuchUpload: a clean failure, never a wrong object.
On a replicated store a creation cut off by a node's death may have
reached fewer replicas than a write quorum; no listing need show it until
the store's anti-entropy has copied it, so it can outlive the search (a
lifecycle rule is the backstop).

Not every server can say: moto lists every upload as begun on 2010-11-10,
and s3s-fs cannot list unfinished uploads at all. The search then tells
its caller it is not sure (:attr:`Search.sure`), and says so at INFO.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from .._escape import shown
from .._planes import control
from .._planes.failures import error_code, is_client_error
from .._planes.retry import is_transient

log = logging.getLogger("cdn_manager")

T = TypeVar("T")

#: Seconds after a failed abort (or a round of retries) before uploads try
#: again: while the server is still unreachable, each round costs the
#: upload that makes it a few failed connections.
RETRY_INTERVAL = 10.0

#: Seconds of slack around a creation's time window: the ``Date`` header
#: that gives the server's clock has a resolution of one second.
CLOCK_SLACK = 2.0


@dataclass(frozen=True)
class Unanswered:
    """A CreateMultipartUpload whose answer may have been lost: it failed
    past its retries (or was interrupted) after the request could have
    reached the server, or it succeeded only on a retry."""

    bucket: str
    key: str
    #: Wall-clock seconds (this machine's) when the call began and ended.
    began: float
    ended: float
    #: The id the call returned, if a retry answered: not an orphan.
    answered: str | None = None


@dataclass(frozen=True)
class Search:
    """What a search for the uploads of an unanswered creation found."""

    #: The uploads it made that no one knows: to abort.
    orphans: list[str]
    #: False when the server cannot have shown them all: it cannot list
    #: unfinished uploads (s3s-fs), or it lists uploads of the key without
    #: parts as begun at another time or at none (moto dates them all
    #: 2010-11-10), so that the creation's may be among them.
    sure: bool


class Unaborted:
    """The (bucket, key, upload id) of each upload whose abort failed, and
    the creations whose answer may have been lost."""

    def __init__(self) -> None:
        self._uploads: set[tuple[str, str, str]] = set()
        self._unanswered: set[Unanswered] = set()
        self._lock = threading.Lock()
        #: Held while one thread retries, so concurrent uploads do not all
        #: wait on the same unreachable server.
        self._retrying = threading.Lock()
        #: When an abort last failed or a round of retries began.
        self._last = 0.0

    def __bool__(self) -> bool:
        """Whether anything waits to be aborted (so that closing a manager
        that never made a multipart upload builds no boto3 client)."""
        return bool(self._uploads or self._unanswered)

    def add(self, bucket: str, key: str, upload_id: str) -> None:
        with self._lock:
            self._uploads.add((bucket, key, upload_id))
            self._last = time.monotonic()

    def add_unanswered(self, creation: Unanswered) -> None:
        with self._lock:
            self._unanswered.add(creation)
            self._last = time.monotonic()

    def retry(self, client: Any, reader: Any, now: bool = False) -> None:
        """Aborts every upload kept, with ``client`` (the write key's), and
        the orphans of every unanswered creation (listed with ``client``, or
        with ``reader``, the read key's, where only a key that may read the
        bucket may list: Garage); keeps those the server still cannot be
        asked about. Unless ``now``, returns at once when another thread is
        retrying or the last round was less than ``RETRY_INTERVAL`` ago."""
        if not self._uploads and not self._unanswered:
            return
        if not now and time.monotonic() - self._last < RETRY_INTERVAL:
            return
        if not self._retrying.acquire(blocking=now):
            return
        try:
            self._last = time.monotonic()
            with self._lock:
                pending, self._uploads = self._uploads, set()
                unanswered, self._unanswered = self._unanswered, set()
            listed: set[str] = set()
            for creation in unanswered:
                found = orphans(client, reader, creation)
                if found is None:
                    self.add_unanswered(creation)
                for upload_id in found.orphans if found is not None else []:
                    log.info(
                        "aborting upload %s of %s/%s: created by a request whose answer was lost",
                        shown(upload_id),
                        shown(creation.bucket),
                        shown(creation.key),
                    )
                    pending.add((creation.bucket, creation.key, upload_id))
                    listed.add(upload_id)
            for bucket, key, upload_id in sorted(pending):
                if not abort(client, bucket, key, upload_id, listed=upload_id in listed):
                    self.add(bucket, key, upload_id)
        finally:
            self._retrying.release()


def listing(client: Any, reader: Any, call: Callable[[Any], T]) -> T:
    """``call(client)``, the write key's; or ``call(reader)``, the read
    key's, where the server lets only a key that may read the bucket list
    unfinished uploads or their parts (Garage). Listing is reading: it gives
    the read key nothing it did not have."""
    try:
        return call(client)
    except Exception as err:
        if not is_client_error(err):
            raise
        if error_code(err) not in ("AccessDenied", "403"):
            raise
    return call(reader)


def orphans(client: Any, reader: Any, creation: Unanswered) -> Search | None:
    """The ids of the uploads ``creation`` made that no one knows, and
    whether the server can have shown them all; None when it could not be
    asked (worth trying again later)."""
    try:
        listed, offset = listing(client, reader, lambda c: _unfinished(c, creation))
        earliest = creation.began + offset - CLOCK_SLACK
        latest = creation.ended + offset + CLOCK_SLACK
        found = []
        # When the uploads of the key without parts that the server dates
        # outside the window (or not at all) began: another client's, or,
        # on a server whose dates mean nothing, the creation's own.
        unplaced: list[str] = []
        for upload in listed:
            upload_id = str(upload["UploadId"])
            if upload_id == creation.answered:
                continue
            begun = upload.get("Initiated")
            first = partial(_first_part, creation=creation, upload_id=upload_id)
            if listing(client, reader, first):
                continue  # someone knows it: parts were sent to it
            if begun is not None and earliest <= begun.timestamp() <= latest:
                found.append(upload_id)
            else:
                unplaced.append(begun.isoformat() if begun is not None else "no time")
    except Exception as err:
        code = error_code(err)
        if code in ("NotImplemented", "501"):
            log.info(
                "the server cannot list unfinished uploads (%s): an upload of %s/%s created by "
                "a request whose answer was lost may remain, without parts, until a lifecycle "
                "rule removes it",
                shown(code),
                shown(creation.bucket),
                shown(creation.key),
            )
            return Search([], sure=False)
        later = is_transient(err)
        log.warning(
            "could not look for an upload of %s/%s created by a request whose answer "
            "was lost (%s)%s",
            shown(creation.bucket),
            shown(creation.key),
            shown(code or type(err).__name__),
            "; trying again on the next multipart upload or close()"
            if later
            else "; one may remain, without parts, until a lifecycle rule or a "
            "ListMultipartUploads-and-abort removes it",
        )
        return None if later else Search([], sure=False)
    # A server that dated the creation's upload within the window dates
    # uploads truly: those it dates elsewhere are others'.
    sure = bool(found) or not unplaced
    if not sure:
        log.info(
            "no upload of %s/%s is listed as begun while the request whose answer was lost "
            "ran; %d without parts are listed as begun at another time (%s), left alone: "
            "if the server does not keep when an upload began, one it created is among "
            "them and stays until a lifecycle rule removes it",
            shown(creation.bucket),
            shown(creation.key),
            len(unplaced),
            shown(", ".join(sorted(set(unplaced))[:3])),
        )
    return Search(found, sure)


def _unfinished(client: Any, creation: Unanswered) -> tuple[list[dict[str, Any]], float]:
    """The unfinished uploads of exactly ``creation.key``, and how far the
    server's clock is ahead of this machine's, in seconds."""
    listed: list[dict[str, Any]] = []
    offset = 0.0
    for page in control.list_uploads(client, creation.bucket, creation.key):
        here = time.time()
        date = page.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        # A server without a readable clock: assume it agrees with ours.
        with contextlib.suppress(TypeError, ValueError):
            from email.utils import parsedate_to_datetime

            offset = parsedate_to_datetime(date).timestamp() - here
        listed += [u for u in page.get("Uploads", []) if u.get("Key") == creation.key]
    return listed, offset


def _first_part(client: Any, creation: Unanswered, upload_id: str) -> list[Any]:
    try:
        return list(control.list_parts(client, creation.bucket, creation.key, upload_id, limit=1))
    except Exception as err:
        if not is_client_error(err):
            raise
        # Listed, yet unknown to ListParts: Garage lists an upload from the
        # object's record and answers ListParts from a second one, which a
        # creation cut off between the two writes never made (seen in CI).
        # No part can have been sent to it; the abort that follows treats
        # an upload that is gone by then as aborted.
        if error_code(err) == "NoSuchUpload":
            return []
        raise


def abort(client: Any, bucket: str, key: str, upload_id: str, *, listed: bool = False) -> bool:
    """Aborts one upload; False when the server could not be asked (a
    transient failure: worth trying again later), else True: aborted now,
    unknown to the server (aborted or completed before), or refused for
    good. Each failure is logged at WARNING, and so is an upload the server
    has just ``listed`` yet does not know."""
    try:
        control.abort_multipart(client, bucket, key, upload_id)
    except Exception as err:
        if not is_client_error(err) or error_code(err) != "NoSuchUpload":
            failure: BaseException = err
        elif listed:
            # Garage lists an upload cut off between its two records and
            # answers every call about it with NoSuchUpload: no S3 request
            # can remove it, so the operator has to hear of it.
            log.warning(
                "upload %s of %s/%s is listed by the server but unknown to it (NoSuchUpload); "
                "if it is still listed, only the server's own cleanup can remove it "
                "(a lifecycle rule for incomplete uploads; on Garage, "
                "`garage bucket cleanup-incomplete-uploads`)",
                shown(upload_id),
                shown(bucket),
                shown(key),
            )
            return True
        else:
            log.debug(
                "upload %s of %s/%s: already gone", shown(upload_id), shown(bucket), shown(key)
            )
            return True
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
