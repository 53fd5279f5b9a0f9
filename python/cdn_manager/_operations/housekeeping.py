"""What interrupted runs left behind, swept once per manager: multipart
uploads whose journals are older than ``stale_after`` (aborted with the
write key, journals removed), and the leftovers of downloads interrupted
that long ago in a folder a download writes to. Housekeeping never fails
the transfer that triggers it: a failure is logged."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .._escape import shown
from .._resume import unaborted
from .._transfers.kit import TransferKit
from ..errors import CDNError

if TYPE_CHECKING:
    from .._resume import upload_journal

log = logging.getLogger("cdn_manager")


class Housekeeping:
    """Sweeps for one manager, each at most once (per folder)."""

    def __init__(self, kit: TransferKit) -> None:
        self._kit = kit
        self._lock = threading.Lock()
        self._swept_uploads = False
        self._swept_folders: set[Path] = set()

    def sweep_upload_journals(self) -> None:
        """Aborts the uploads of this endpoint that were interrupted more
        than ``stale_after`` ago, and those no run can resume whose process
        died (intents included), and removes their journals."""
        with self._lock:
            if self._swept_uploads:
                return
            self._swept_uploads = True
        # Here: the journals (and hashlib) only once something is uploaded.
        from .._resume import upload_journal

        kit = self._kit
        stale_after = kit.config.stale_after

        def settle(path: Path, header: upload_journal.Header) -> bool:
            if header.intent:
                return self._settle_intent(path, header)
            why = (
                f"interrupted over {stale_after:.0f} s ago"
                if header.resumable
                else "its process ended before it could"
            )
            log.info(
                "aborting the upload %s to %s/%s (%s)",
                shown(header.upload_id),
                shown(header.bucket),
                shown(header.key),
                why,
            )
            if not unaborted.abort(kit.upload_client, header.bucket, header.key, header.upload_id):
                kit.unaborted.add(header.bucket, header.key, header.upload_id)
            return True

        try:
            upload_journal.sweep(kit.credentials.host, stale_after, settle)
        except (CDNError, OSError) as err:
            log.warning("could not look for stale upload journals: %s", shown(str(err)))

    def _settle_intent(self, path: Path, header: upload_journal.Header) -> bool:
        """Aborts what a creation whose process died before it learnt the
        upload's id may have made; whether its journal may go."""
        from .._resume import upload_journal

        kit = self._kit
        settled = upload_journal.settle_intent(path, header, kit.upload_client, kit.download_client)
        if settled is upload_journal.Settled.DONE:
            return True
        # Where the server cannot say (moto dates every upload 2010, s3s-fs
        # lists none) or cannot be asked now, the journal is kept, until
        # stale_after: it is all that knows of an upload the server may hold
        # (without parts: its process never learnt the id to send one), so
        # `doctor` and `clean` show it and a later sweep can still abort it
        # (a replicated store lists it once its replicas caught up; a server
        # back up answers). Kept longer, it would only cost every manager a
        # listing that cannot tell more: past stale_after it goes, like any
        # interrupted upload's journal.
        age = time.time() - header.began
        if age <= kit.config.stale_after:
            log.debug(
                "keeping the journal of the upload of %s/%s that process %d was creating: %s",
                shown(header.bucket),
                shown(header.key),
                header.pid,
                "the server cannot say what it made"
                if settled is upload_journal.Settled.UNKNOWABLE
                else "to look again later",
            )
            return False
        log.info(
            "removing the journal of the upload of %s/%s that process %d was creating "
            "%.0f s ago: no sweep could tell what it made; one without parts may remain "
            "until a lifecycle rule removes it",
            shown(header.bucket),
            shown(header.key),
            header.pid,
            age,
        )
        return True

    def sweep_folder(self, folder: Path) -> None:
        """Removes what interrupted downloads left directly in ``folder``
        more than ``stale_after`` ago."""
        with self._lock:
            if folder in self._swept_folders:
                return
            self._swept_folders.add(folder)
        from .._resume import leftovers  # here: only once something is downloaded

        stale_after = self._kit.config.stale_after
        try:
            stale = leftovers.find(folder, recursive=False, older_than=stale_after)
            if stale:
                log.info(
                    "removing %d files interrupted downloads left in %s over %d s ago",
                    len(stale),
                    shown(str(folder)),
                    stale_after,
                )
                leftovers.remove(stale)
        except (CDNError, OSError) as err:
            log.warning("could not remove stale leftovers: %s", shown(str(err)))
