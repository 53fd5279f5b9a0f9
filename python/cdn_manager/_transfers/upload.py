"""Uploading a buffer or a file: one PUT, or a concurrent multipart upload.

Every request carries a CRC computed by the Rust core (the server verifies
it), and the object keeps the full-object CRC as user metadata, so a later
download can prove every byte on any server. A multipart upload that fails
is aborted, so no parts are left behind; except that a multipart upload of
a file (``TransferConfig.resume``) that is interrupted, or cut off past its
retries, keeps its parts and its journal (``_resume/upload_journal.py``), and the
next upload of the same file to the same key sends only the parts missing.
Uploads from memory (and deploys', and any with ``resume`` off) are not
resumable, but journaled all the same while they run: a process killed
before it could abort leaves a journal by which the next sweep aborts it.
Every CreateMultipartUpload is journaled before it is sent, as an intent of
its own (no id yet), removed once a journal names the new upload: a process
killed after the server created the upload and before it learnt or wrote
the id leaves that intent, by which the next sweep finds the upload.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from .. import _core
from .._checksums import encode, upload_metadata
from .._escape import shown
from .._planes import control
from .._planes.control import PartEntry, object_params, part_entry
from .._planes.failures import ETagMismatch, error_code, is_client_error
from .._planes.protocol import Condition, DataPlane, ObjectOptions, Put
from .._planes.retry import is_transient
from .._resume.unaborted import Unanswered, abort, listing
from .._resume.upload_journal import Header, Journal, Part, path_for, path_for_one
from ..errors import LocalIOError
from .parts import Transfer, run_parts
from .sources import FileSource, Source
from .verify import expectation

log = logging.getLogger("cdn_manager")

#: How a retried completion is refused when the upload is gone: S3's code
#: is NoSuchUpload; s3s-fs answers AccessDenied.
UNKNOWN_UPLOAD = ("NoSuchUpload", "AccessDenied")
#: botocore's longest wait before a retry (its standard mode), in seconds.
BOTOCORE_MAX_BACKOFF = 20.0


@dataclass
class Upload(Transfer):
    """One object to store, what from, and what to store beside it. The
    multipart control plane uses the write key's client; the read key's is
    used only to confirm a completed upload whose answer was lost."""

    source: Source
    options: ObjectOptions
    #: A conditional write (deploys): on the PUT, or on the completion of a
    #: multipart upload.
    condition: Condition = field(default_factory=Condition)
    #: ``source`` again when it is a file whose multipart upload keeps a
    #: journal (``upload_file``, ``upload_many``; not memory, not deploys):
    #: found by the file's identity, to resume from (``resume``) or to abort
    #: what an earlier run left.
    file: FileSource | None = None
    resume: bool = False
    #: Bytes an interrupted earlier run had already stored (0 unless resumed).
    resumed_bytes: int = 0
    #: The stored object's ETag, once :meth:`run` returned it.
    etag: str = ""

    @property
    def plane(self) -> DataPlane:
        return self.kit.upload_plane

    @property
    def client(self) -> Any:
        return self.kit.upload_client

    def run(self) -> str:
        """Stores the object and returns its ETag; raises botocore's or the
        data plane's errors."""
        size = self.source.size
        # Checking ETags needs parts: a corrupted part can be sent again, a
        # corrupted single PUT could only be overwritten.
        small = size <= self.config.multipart_threshold and not self.config.verify_etag
        if small or size == 0:
            return self._put()
        return self._multipart(self.config.part_size_for(size))

    def _options(self, full_crc: int) -> ObjectOptions:
        metadata = {
            **self.options.metadata,
            **upload_metadata(self.config.checksum_algorithm, full_crc),
        }
        return replace(self.options, metadata=metadata)

    def _put(self) -> str:
        body, crc = self.source.read(0, self.source.size, None)
        options = self._options(crc)
        request = Put(
            self.bucket, self.key, body, crc, self.control, options, condition=self.condition
        )
        return self.retried(lambda: self.plane.put(request), f"put {self.name}")

    def _multipart(self, part_size: int) -> str:
        journal = None
        endpoint = self.kit.credentials.host
        try:
            if self.file is not None:
                path = path_for(endpoint, self.bucket, self.key, self.file.identity)
            else:
                path = path_for_one(endpoint, self.bucket, self.key)
            journal = Journal.lock(path)
        except LocalIOError as err:
            # A cache folder we cannot write costs resuming (and aborting
            # after a SIGKILL), not the upload. Only resuming is worth a
            # warning: a service with a read-only home would get one for
            # every upload from memory.
            if self.file is not None:
                log.warning("upload %s: not resumable: %s", shown(self.name), shown(str(err)))
            else:
                log.debug("upload %s: not journaled: %s", shown(self.name), shown(str(err)))
        try:
            return self._multipart_journaled(part_size, journal)
        finally:
            if journal is not None:
                journal.close()

    def _multipart_journaled(self, part_size: int, journal: Journal | None) -> str:
        algorithm = self.config.checksum_algorithm
        crcs = self.source.part_checksums(part_size, self.control)
        lengths = [
            min(part_size, self.source.size - start)
            for start in range(0, self.source.size, part_size)
        ]
        full = _core.combine_checksums(list(zip(crcs, lengths, strict=True)), algorithm)
        options = self._options(full)
        upload_id: str | None = None
        kept: dict[int, PartEntry] = {}
        wanted = None
        if journal is not None and self.file is not None:
            wanted = Header(
                endpoint=self.kit.credentials.host,
                bucket=self.bucket,
                key=self.key,
                identity=self.file.identity,
                part_size=part_size,
                algorithm=algorithm,
                full_crc=full,
                options=_digest(object_params(options)),
                path=str(self.file.path),
            )
            upload_id, kept = self._resumable(journal, wanted, crcs, lengths)
        fresh = upload_id is None
        intent = None
        if upload_id is None:
            # Uploads an earlier failure could not abort (the server was
            # down): the server answers again if this upload gets going.
            if self.kit.unaborted:
                self.kit.unaborted.retry(self.client, self.kit.download_client)
            intent = self._intend(part_size, full, options)
            try:
                upload_id = self._create(options)
            except BaseException as err:
                if intent is not None:
                    _settle_failed_creation(intent, err)
                raise
        # The journal that keeps the upload for the next run: the one it was
        # resumed from, or (below) a new one once it names the new upload.
        recording = None if fresh else journal
        try:
            # First, and inside the try: an interrupt before the journal
            # names the new upload must abort it (a SIGKILL leaves the intent).
            if fresh and journal is not None and wanted is not None and self.resume:
                journal.start(replace(wanted, upload_id=upload_id))
                recording = journal
            elif fresh and journal is not None:
                # Not resumable: named only so that a SIGKILL cannot hide it.
                journal.start(self._abort_only(upload_id, part_size, full, options))
            if intent is not None and journal is not None:
                # Named by its journal now: the intent would only widen the
                # next sweep's search.
                intent.remove()
            if fresh:
                log.debug("upload %s of %s: created", shown(upload_id), shown(self.name))
            if kept:
                self.resumed_bytes = sum(lengths[n - 1] for n in kept)
                log.info(
                    "upload %s: resumed, %d of %d bytes already stored",
                    shown(self.name),
                    self.resumed_bytes,
                    self.source.size,
                )
                # Counted once, so that progress still ends at the file's size.
                self.control.advance(self.resumed_bytes)

            def send(number: int) -> PartEntry:
                offset = (number - 1) * part_size
                body, crc = self.source.read(offset, lengths[number - 1], crcs[number - 1])
                md5 = _core.digest(body).hex() if self.config.verify_etag else None

                part = (upload_id, number)
                request = Put(self.bucket, self.key, body, crc, self.control, part=part)

                def attempt() -> str:
                    etag = self.plane.put(request)
                    if md5 is not None and etag.strip('"').lower() != md5:
                        raise ETagMismatch(f"part {number}: the server stored other bytes ({etag})")
                    return etag

                etag = self.retried(attempt, f"part {number} of {self.name}")
                if recording is not None:
                    recording.append(Part(number, etag, crc))
                return part_entry(number, etag, algorithm, crc)

            todo = [n for n in range(1, len(crcs) + 1) if n not in kept]
            sent: list[PartEntry] = []
            if todo:
                sent = run_parts(
                    self.kit.executor,
                    partial(send, todo[0]),
                    [partial(send, n) for n in todo[1:]],
                    self.control,
                )
            # Every part is stored, but a cancelled upload must not become an
            # object: its batch reports it as not done, and aborts it here
            # (or, resumable, keeps it for the next run).
            self.control.check()
            parts = sorted([*kept.values(), *sent], key=lambda p: int(p["PartNumber"]))
            etag = self._complete(upload_id, parts, full)
        except BaseException as err:
            if recording is not None and self._worth_resuming(err):
                log.info(
                    "upload %s: stopped (%s); its stored parts are kept for the next run",
                    shown(self.name),
                    type(err).__name__,
                )
            elif self._abort(upload_id):
                # (An abort that could not be made keeps the journal: the
                # next sweep tries again, even if this process is gone.)
                for done in (journal, intent):
                    if done is not None:
                        done.remove()
            raise
        finally:
            if intent is not None:
                intent.close()
        for done in (journal, intent):
            if done is not None:
                done.remove()
        return etag

    def _intend(self, part_size: int, full: int, options: ObjectOptions) -> Journal | None:
        """A journal of its own, locked, recording the upload about to be
        created (its key and when), written before CreateMultipartUpload is
        sent: a process killed before a journal names the new upload (a
        SIGKILL cannot be caught) leaves it for the next sweep to find what
        the server made. None if the cache folder cannot be written."""
        began = time.time()
        header = replace(
            self._abort_only("", part_size, full, options),
            path=str(self.file.path) if self.file is not None else "",
            began=began,
            until=began + self._longest_create(),
            pid=os.getpid(),
        )
        try:
            intent = Journal.lock(path_for_one(header.endpoint, self.bucket, self.key))
        except LocalIOError as err:
            log.debug("upload %s: creation not journaled: %s", shown(self.name), shown(str(err)))
            return None
        try:
            intent.start(header)
        except BaseException:
            intent.remove()
            raise
        return intent

    def _longest_create(self) -> float:
        """Seconds a CreateMultipartUpload can last, every attempt timed out."""
        attempts = self.config.max_attempts
        timeouts = self.config.connect_timeout + self.config.read_timeout
        return attempts * timeouts + (attempts - 1) * BOTOCORE_MAX_BACKOFF

    def _abort_only(
        self, upload_id: str, part_size: int, full: int, options: ObjectOptions
    ) -> Header:
        """The journal header of an upload no later run can resume."""
        return Header(
            endpoint=self.kit.credentials.host,
            bucket=self.bucket,
            key=self.key,
            identity=(0, 0, self.source.size, 0),
            part_size=part_size,
            algorithm=self.config.checksum_algorithm,
            full_crc=full,
            options=_digest(object_params(options)),
            upload_id=upload_id,
            resumable=False,
        )

    def _create(self, options: ObjectOptions) -> str:
        """Begins a multipart upload and returns its id. A call whose
        answer may have been lost (it failed on the way, or only a retry
        answered) may have created an upload no one knows the id of: the
        manager looks for it later and aborts it (``_resume/unaborted.py``)."""
        algorithm = self.config.checksum_algorithm
        began = time.time()
        try:
            # The metadata copy of the full-object CRC covers servers that
            # keep no full-object CRC of their own.
            response = control.create_multipart(
                self.client, self.bucket, self.key, algorithm, options
            )
        except BaseException as err:
            if _answer_may_be_lost(err):
                creation = Unanswered(self.bucket, self.key, began, time.time())
                self.kit.unaborted.add_unanswered(creation)
            raise
        upload_id = str(response["UploadId"])
        if control.retried(response):
            creation = Unanswered(self.bucket, self.key, began, time.time(), upload_id)
            self.kit.unaborted.add_unanswered(creation)
        return upload_id

    def _worth_resuming(self, err: BaseException) -> bool:
        """Whether a failed upload keeps its parts: it was interrupted
        (Ctrl-C, SIGTERM, cancellation) or cut off by faults that outlasted
        its retries. Any other failure (a changed file, a refusal, a lost
        condition) would fail the same way again."""
        return self.control.cancelled or not isinstance(err, Exception) or is_transient(err)

    def _resumable(
        self, journal: Journal, wanted: Header, crcs: list[int], lengths: list[int]
    ) -> tuple[str | None, dict[int, PartEntry]]:
        """The upload an earlier run left for this file and key, and its parts
        still good on the server, by number; ``(None, {})`` to start over
        (aborting the earlier upload, best effort)."""
        recorded = journal.read()
        if recorded is None:
            return None, {}
        header = recorded.header
        if header is None:
            log.warning("upload %s: its journal is damaged; starting over", shown(self.name))
            return None, {}
        if not self.resume:
            why = "not resuming (resume is off)"
        elif recorded.parts is None:
            why = "its journal is damaged"
        elif not header.same_upload(wanted):
            why = "the file or the upload's settings changed since the interrupted upload"
        else:
            return self._still_stored(header.upload_id, recorded.parts, crcs, lengths)
        log.info("upload %s: %s; starting over", shown(self.name), why)
        self._abort(header.upload_id)
        return None, {}

    def _still_stored(
        self, upload_id: str, parts: list[Part], crcs: list[int], lengths: list[int]
    ) -> tuple[str | None, dict[int, PartEntry]]:
        """The journaled ``parts`` that the server lists for ``upload_id``
        with the same ETag and size, and the same CRC as the file's part now
        (and as the server's listed checksum, where it lists one: AWS and
        moto do, for the ETag alone is an MD5 only of unencrypted parts). A
        part listed without an ETag (s3s-fs lists only numbers and sizes)
        proves nothing and is sent again. With none kept, the old upload is
        aborted and ``(None, {})`` returned."""
        algorithm = self.config.checksum_algorithm
        try:
            listed = self._list_parts(upload_id)
        except Exception as err:
            if error_code(err) == "NoSuchUpload":
                log.info(
                    "upload %s: the server no longer has the interrupted upload; starting over",
                    shown(self.name),
                )
            else:
                log.warning(
                    "upload %s: cannot list the interrupted upload's parts (%s); starting over",
                    shown(self.name),
                    shown(error_code(err) or type(err).__name__),
                )
                self._abort(upload_id)
            return None, {}
        kept: dict[int, PartEntry] = {}
        for part in parts:
            n = part.number
            entry = listed.get(n)
            if entry is None or not 1 <= n <= len(crcs) or part.crc != crcs[n - 1]:
                continue
            listed_crc = control.part_checksum(entry, algorithm)
            if (
                str(entry.get("ETag", "")).strip('"') == part.etag.strip('"')
                and int(entry.get("Size", -1)) == lengths[n - 1]
                and (listed_crc is None or listed_crc == encode(part.crc, algorithm))
            ):
                kept[n] = control.part_entry(n, part.etag, algorithm, part.crc)
        if not kept:
            # Nothing to gain from the old upload, and a server that lists the
            # parts of an upload it no longer has (s3s-fs) would refuse them.
            log.info("upload %s: no stored part can be proven; starting over", shown(self.name))
            self._abort(upload_id)
            return None, {}
        return upload_id, kept

    def _list_parts(self, upload_id: str) -> dict[int, PartEntry]:
        """The parts the server holds for ``upload_id``, by number."""
        return listing(
            self.client,
            self.kit.download_client,
            lambda client: {
                int(p["PartNumber"]): p
                for p in control.list_parts(client, self.bucket, self.key, upload_id)
            },
        )

    def _complete(self, upload_id: str, parts: list[PartEntry], full: int) -> str:
        algorithm = self.config.checksum_algorithm
        try:
            response = control.complete_multipart(
                self.client,
                self.bucket,
                self.key,
                upload_id,
                parts,
                algorithm,
                full,
                self.condition,
            )
        except Exception as err:
            if not is_client_error(err):
                raise
            # botocore asked again after an attempt whose answer was lost: the
            # upload may be complete already, and the retry refused as unknown.
            if not control.retried(getattr(err, "response", {})):
                raise
            # Refused as unknown, the upload may still be being completed:
            # wait for its object. Any other refusal gets one look.
            unknown = error_code(err) in UNKNOWN_UPLOAD
            etag = self._stored_soon(full) if unknown else self._stored(full)
            if etag is None:
                raise
            log.info("upload %s: completed by an attempt whose answer was lost", shown(self.name))
            return etag
        log.debug("upload %s of %s: completed", shown(upload_id), shown(self.name))
        return str(response.get("ETag", ""))

    def _stored_soon(self, full: int) -> str | None:
        """As :meth:`_stored`, waiting up to ``read_timeout`` for the object:
        the attempt whose answer was lost may still be writing it. s3s-fs
        forgets the upload before it assembles the parts, so under load a
        retry was refused while the first attempt was still at work, and an
        upload that then succeeded was reported failed."""
        deadline = time.monotonic() + self.config.read_timeout
        pause = 0.05
        while (etag := self._stored(full)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.control.check()
            time.sleep(min(pause, left))
            pause = min(2 * pause, 1.0)
        return etag

    def _stored(self, full: int) -> str | None:
        """The ETag of the object now at the key if it is this upload's (its
        size and the full-object CRC it carries as metadata, read with the
        read key), else None."""
        try:
            head = control.head(self.kit.download_client, self.bucket, self.key)
        except Exception as err:
            if not is_client_error(err):
                raise
            return None
        stored = expectation(control.response_headers(head))
        if stored.size == self.source.size and stored.full_crc == full:
            return stored.etag
        return None

    def _abort(self, upload_id: str) -> bool:
        """Aborts the upload; False if the server could not be asked (the
        manager keeps the id and tries again later)."""
        if not abort(self.client, self.bucket, self.key, upload_id):
            self.kit.unaborted.add(self.bucket, self.key, upload_id)
            return False
        return True


def _answer_may_be_lost(err: BaseException) -> bool:
    """Whether a request that failed with ``err`` may have been carried
    out: it was interrupted, or failed in a way another attempt could cure
    (a refusal is final, and made nothing)."""
    return not isinstance(err, Exception) or is_transient(err)


def _settle_failed_creation(intent: Journal, err: BaseException) -> None:
    """After a CreateMultipartUpload failed: the intent goes where the
    server refused it; else it stays (let go of), its window cut at the
    failure, so that a process that dies before its manager found what the
    server made (``_resume/unaborted.py``) still leaves it to a sweep."""
    if not _answer_may_be_lost(err):
        intent.remove()
        return
    with contextlib.suppress(LocalIOError):
        recorded = intent.read()
        if recorded is not None and recorded.header is not None:
            intent.start(replace(recorded.header, until=max(recorded.header.began, time.time())))
    intent.close()


def _digest(params: dict[str, Any]) -> str:
    """What tells an upload created with other headers or metadata."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
