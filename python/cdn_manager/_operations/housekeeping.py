"""What interrupted runs left behind, swept once per manager: multipart
uploads whose journals are older than ``stale_after`` (aborted with the
write key, journals removed), and the leftovers of downloads interrupted
that long ago in a folder a download writes to. Housekeeping never fails
the transfer that triggers it: a failure is logged."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from .._escape import shown
from .._resume import unaborted
from .._transfers.kit import TransferKit
from ..errors import CDNError

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
        died, and removes their journals."""
        with self._lock:
            if self._swept_uploads:
                return
            self._swept_uploads = True
        # Here: the journals (and hashlib) only once something is uploaded.
        from .._resume import upload_journal

        kit = self._kit
        stale_after = kit.config.stale_after

        def abort(header: upload_journal.Header) -> None:
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

        try:
            upload_journal.sweep(kit.credentials.host, stale_after, abort)
        except (CDNError, OSError) as err:
            log.warning("could not look for stale upload journals: %s", shown(str(err)))

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
