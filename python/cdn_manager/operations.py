"""Every operation of a manager, once: the sync face (``manager.py``) and
the async face (``aio.py``) are thin shells over this layer.

Each transfer takes the ``_core.Control`` that carries its progress and
cancellation: the sync face makes one per call, the async face cancels its
own when the awaiting task is cancelled. Every method that reads uses the
read key's client and plane and every method that writes the write key's.
Library code raises precise :class:`CDNError` subclasses; only the seed's
bool methods (:meth:`Operations.upload_as_bool`,
:meth:`Operations.download_as_bool`) turn failures into False and one log
line.
"""

from __future__ import annotations

import builtins
import logging
import mimetypes
import os
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, Unpack

from . import _core, leftovers, unaborted, upload_journal
from .audit import AuditReport, check
from .config import TransferConfig
from .credentials import CDNCredentials
from .deploy.plan import DeployPlan, PlanOptions, plan_deploy
from .deploy.receipt import Receipt, verify
from .deploy.run import DeployOptions, DeployReport, run_deploy
from .download import Download, OpenWriter
from .errors import CDNError, InvalidRequest, NotFound
from .escape import shown
from .listing import list_prefix
from .names import check_bucket, check_key
from .objects import ObjectInfo, TransferResult
from .planes.adaptive import PlaneChoice
from .planes.base import Condition, Get, Head, ObjectOptions
from .retry import with_retries
from .s3errors import error_code, translate, with_hint
from .source import BufferSource, FileSource, PlannedFile, Source, as_byte_view
from .transfer import run_each
from .transport import build_transport
from .upload import Upload

log = logging.getLogger("cdn_manager")
T = TypeVar("T")

Payload = bytes | bytearray | memoryview
#: What ``upload_many`` takes per item: a bytes-like object, a file path, or
#: a file pinned when the upload was planned.
ItemData = Payload | os.PathLike[str] | PlannedFile
#: Longest lifetime S3 allows for a presigned URL (7 days).
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


class Operations:
    """A manager's operations on one endpoint with its two key pairs."""

    def __init__(self, credentials: CDNCredentials, config: TransferConfig) -> None:
        self.transport = build_transport(credentials, config)
        self.creds = credentials
        self.config = config
        # Stale state is looked for once per manager (and download folder).
        self._sweeping = threading.Lock()
        self._swept_uploads = False
        self._swept_folders: set[Path] = set()

    @property
    def data_plane(self) -> PlaneChoice:
        return self.transport.planes.switch.choice

    def close(self) -> None:
        self.transport.close()

    def _run(self, operation: str, bucket: str, key: str | None, action: Callable[[], T]) -> T:
        """Checks the names, runs ``action`` and turns every failure into a
        ``CDNError`` whose message names the operation and the object."""
        check_bucket(bucket)
        if key is not None:
            check_key(key)
        try:
            self.transport.regions.confirm(bucket)
            return action()
        except CDNError:
            raise
        except Exception as err:
            what = f"{operation} {bucket}/{shown(key or '')}"
            error = translate(err, what, self.creds.secrets())
            raise with_hint(error, operation, bucket, self.creds.host) from None

    # Uploads (the write key).

    def _upload(
        self,
        control: _core.Control,
        bucket: str,
        key: str,
        source: Callable[[], Source],
        content_type: str | None = None,
        cache_control: str | None = None,
    ) -> TransferResult:
        """Stores ``source`` at ``bucket/key``; a file's multipart upload is
        journaled (resumable, or at least aborted if an earlier run left one)."""
        options = ObjectOptions(
            content_type=content_type or mimetypes.guess_type(key)[0],
            cache_control=cache_control,
        )
        upload = self._send(control, bucket, key, source, options, Condition(), journaled=True)
        return TransferResult(key, resumed_bytes=upload.resumed_bytes)

    def store(
        self,
        control: _core.Control,
        bucket: str,
        key: str,
        source: Source | Callable[[], Source],
        options: ObjectOptions,
        condition: Condition = Condition(),  # noqa: B008 (frozen)
    ) -> str:
        """Stores ``source`` (or what the callable makes, inside the error
        translation) at ``bucket/key`` with ``options``, conditionally;
        returns the new ETag. A lost condition raises :class:`Conflict`."""
        return self._send(control, bucket, key, source, options, condition).etag

    def _send(
        self,
        control: _core.Control,
        bucket: str,
        key: str,
        source: Source | Callable[[], Source],
        options: ObjectOptions,
        condition: Condition,
        journaled: bool = False,
    ) -> Upload:
        """The finished upload of ``source``; with ``journaled``, a file's
        multipart upload keeps a journal (see ``upload.py``)."""

        def run() -> Upload:
            made = source if not callable(source) else source()
            try:
                file = made if journaled and isinstance(made, FileSource) else None
                self._sweep_upload_journals()
                upload = Upload(
                    self.transport,
                    bucket,
                    key,
                    control,
                    made,
                    options,
                    condition,
                    file=file,
                    resume=self.config.resume,
                )
                upload.etag = upload.run()
                return upload
            finally:
                made.close()

        return self._run("upload", bucket, key, run)

    def _sweep_upload_journals(self) -> None:
        """Once per manager: aborts the uploads of this endpoint that were
        interrupted more than ``stale_after`` ago, and those no run can
        resume whose process died, and removes their journals."""
        with self._sweeping:
            if self._swept_uploads:
                return
            self._swept_uploads = True
        client = self.transport.upload_client

        def abort(header: upload_journal.Header) -> None:
            why = (
                f"interrupted over {self.config.stale_after:.0f} s ago"
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
            if not unaborted.abort(client, header.bucket, header.key, header.upload_id):
                self.transport.unaborted.add(header.bucket, header.key, header.upload_id)

        try:
            upload_journal.sweep(self.creds.host, self.config.stale_after, abort)
        except (CDNError, OSError) as err:
            # Housekeeping: it must never fail the upload that does it.
            log.warning("could not look for stale upload journals: %s", shown(str(err)))

    def _sweep_folder(self, folder: Path) -> None:
        """Once per manager and folder: removes what interrupted downloads
        left directly in ``folder`` more than ``stale_after`` ago."""
        with self._sweeping:
            if folder in self._swept_folders:
                return
            self._swept_folders.add(folder)
        try:
            stale = leftovers.find(folder, recursive=False, older_than=self.config.stale_after)
            if stale:
                log.info(
                    "removing %d files interrupted downloads left in %s over %d s ago",
                    len(stale),
                    shown(str(folder)),
                    self.config.stale_after,
                )
                leftovers.remove(stale)
        except (CDNError, OSError) as err:
            # Housekeeping: it must never fail the download that does it.
            log.warning("could not remove stale leftovers: %s", shown(str(err)))

    def replace_headers(
        self, bucket: str, key: str, options: ObjectOptions, if_match: str | None
    ) -> str:
        """Replaces the headers and metadata of ``bucket/key`` in place (a
        server-side copy onto itself, write key), if it still has ETag
        ``if_match``; returns its ETag."""

        def copy() -> str:
            params = {
                **options.boto3_params(),
                "Bucket": bucket,
                "Key": key,
                "CopySource": {"Bucket": bucket, "Key": key},
                "MetadataDirective": "REPLACE",
            }
            if if_match is not None:
                params["CopySourceIfMatch"] = if_match
            response = self.transport.upload_client.copy_object(**params)
            return str(response.get("CopyObjectResult", {}).get("ETag", ""))

        return self._run("copy", bucket, key, copy)

    def put_bytes(
        self,
        control: _core.Control,
        bucket: str,
        key: str,
        data: Payload,
        content_type: str | None = None,
        cache_control: str | None = None,
    ) -> None:
        view = as_byte_view(data)
        algorithm = self.config.checksum_algorithm
        source = partial(BufferSource, view, algorithm)
        self._upload(control, bucket, key, source, content_type, cache_control)

    def upload_file(
        self,
        control: _core.Control,
        bucket: str,
        key: str,
        path: str | os.PathLike[str],
        content_type: str | None = None,
        cache_control: str | None = None,
    ) -> TransferResult:
        # A link the caller names is followed, once, as cp and curl do: the
        # file is opened here and every part read from that descriptor.
        source = partial(FileSource, path, self.config.checksum_algorithm, follow=True)
        return self._upload(control, bucket, key, source, content_type, cache_control)

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Aborts a multipart upload with the write key."""
        client = self.transport.upload_client
        self._run(
            "abort upload",
            bucket,
            key,
            lambda: client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id),
        )

    def delete(self, bucket: str, key: str, if_match: str | None = None) -> None:
        """Deletes ``bucket/key``; with ``if_match``, only if it still has
        that ETag where the server supports conditional deletes (a server
        that refuses the condition itself gets a plain delete, logged)."""
        client = self.transport.upload_client

        def remove() -> None:
            if if_match is None:
                client.delete_object(Bucket=bucket, Key=key)
                return
            try:
                client.delete_object(Bucket=bucket, Key=key, IfMatch=if_match)
            except Exception as err:
                if error_code(err) not in ("NotImplemented", "501"):
                    raise
                log.info("delete %s: no conditional deletes here; deleting as is", shown(key))
                client.delete_object(Bucket=bucket, Key=key)

        self._run("delete", bucket, key, remove)

    # Downloads (the read key).

    def _download(
        self, control: _core.Control, bucket: str, key: str, open_writer: OpenWriter[T]
    ) -> T:
        return Download(self.transport, bucket, key, control, open_writer).run()

    def get_file(
        self,
        control: _core.Control,
        bucket: str,
        key: str,
        folder: str | os.PathLike[str] | None = None,
        name: str | None = None,
    ) -> Path:
        """``bucket/key`` downloaded to ``folder/name`` (``name`` defaults
        to the key, ``folder`` to the bucket name)."""
        folder = Path(bucket if folder is None else folder)
        return self.fetch_file(control, bucket, key, folder, name).path or folder

    def download_file(
        self, control: _core.Control, bucket: str, key: str, path: str | os.PathLike[str]
    ) -> Path:
        destination = Path(path)
        return self.fetch_file(control, bucket, key, destination.parent, destination.name).path or (
            destination
        )

    def fetch_file(
        self,
        control: _core.Control,
        bucket: str,
        key: str,
        folder: Path,
        name: str | None,
        size: int | None = None,
    ) -> TransferResult:
        """``bucket/key`` downloaded to ``folder/name`` (``name`` defaults to
        the key); the result says where, and how much an earlier run had
        already written. The name is checked before any request; the file
        is then created from the folder's descriptor, never through a link
        below it. ``size``, if known (from a listing), lets a large object
        be fetched in ranges from the first request."""
        relative = key if name is None else name

        def run() -> TransferResult:
            destination = _core.Destination(folder, relative)
            self._sweep_folder(destination.path.parent)
            resume = self.config.resume
            download = Download(
                self.transport,
                bucket,
                key,
                control,
                partial(_core.FileWriter, destination),
                resumable=resume,
                head_first=(size is not None and size > self.config.download_threshold)
                or (resume and destination.journaled),
            )
            download.run()
            return TransferResult(key, path=destination.path, resumed_bytes=download.resumed_bytes)

        return self._run("download", bucket, key, run)

    def download_bytes(self, control: _core.Control, bucket: str, key: str) -> bytes:
        def memory(size: int, journal: str | None, algorithm: str | None) -> _core.MemoryWriter:
            return _core.MemoryWriter(size)  # memory is never resumable: no journal

        return self._run(
            "download", bucket, key, partial(self._download, control, bucket, key, memory)
        )

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        plane = self.transport.download_plane
        regions = self.transport.regions

        def send() -> Mapping[str, str]:
            try:
                return plane.head(Head(bucket, key))
            except Exception as err:
                # A HEAD answer has no body to name the region to sign for.
                if error_code(err) != "400" or not regions.learn_after_bodyless_refusal(bucket):
                    raise
                return plane.head(Head(bucket, key))

        def head() -> ObjectInfo:
            try:
                headers = with_retries(
                    send, self.config.max_attempts, self.transport.retries, f"stat {bucket}/{key}"
                )
            except Exception as err:
                if error_code(err) != "404":
                    raise
                # Nor what is missing: a one-byte GET names it (NoSuchKey or
                # NoSuchBucket), so that stat, exists and get_file give one
                # reason for one condition.
                plane.get(Get(bucket, key, byte_range=(0, 1))).close()
                raise
            return ObjectInfo.from_head(key, headers)

        return self._run("stat", bucket, key, head)

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.stat(bucket, key)
        except NotFound as err:
            if err.reason == "NoSuchBucket":
                raise
            return False
        return True

    def list(self, bucket: str, prefix: str = "") -> Generator[ObjectInfo, None, None]:
        client = self.transport.download_client

        def fetch(**params: Any) -> dict[str, Any]:
            return self._run(
                "list", bucket, None, lambda: client.list_objects_v2(Bucket=bucket, **params)
            )

        for entry in list_prefix(fetch, prefix, self.config.max_in_flight):
            yield ObjectInfo.from_listing(entry)

    def presign_download_url(self, bucket: str, key: str, expires: int = 3600) -> str:
        if not 1 <= expires <= MAX_PRESIGN_SECONDS:
            raise InvalidRequest(
                f"expires must be between 1 and {MAX_PRESIGN_SECONDS} seconds",
                reason="InvalidExpiry",
            )
        params = {"Bucket": bucket, "Key": key}
        return self._run(
            "presign",
            bucket,
            key,
            lambda: str(
                self.transport.presigner(bucket).generate_presigned_url(
                    "get_object", Params=params, ExpiresIn=expires
                )
            ),
        )

    # Batches: items get threads of their own, whose parts queue on the
    # shared part workers (which an item waiting for its parts must not
    # occupy); one failure does not stop the rest.

    def upload_many(
        self,
        control: _core.Control,
        bucket: str,
        items: Iterable[tuple[str, ItemData]],
        cache_control: str | None = None,
    ) -> builtins.list[TransferResult]:
        algorithm = self.config.checksum_algorithm

        def one(key: str, data: ItemData) -> TransferResult:
            def source() -> Source:
                # Files of a batch come from a listing: a link is never followed.
                if isinstance(data, PlannedFile):
                    return FileSource(data.path, algorithm, planned=data)
                if isinstance(data, os.PathLike):
                    return FileSource(data, algorithm)
                return BufferSource(as_byte_view(data), algorithm)

            return self._upload(control, bucket, key, source, cache_control=cache_control)

        return self._batch(control, [(key, partial(one, key, data)) for key, data in items])

    def download_many(
        self,
        control: _core.Control,
        bucket: str,
        keys: Iterable[str | tuple[str, str]],
        folder: str | os.PathLike[str] | None = None,
        sizes: Mapping[str, int] | None = None,
    ) -> builtins.list[TransferResult]:
        known = sizes or {}
        into = Path(bucket if folder is None else folder)

        def one(key: str, name: str) -> TransferResult:
            return self.fetch_file(control, bucket, key, into, name, known.get(key))

        pairs = [(item, item) if isinstance(item, str) else item for item in keys]
        return self._batch(control, [(key, partial(one, key, name)) for key, name in pairs])

    def _batch(
        self, control: _core.Control, jobs: builtins.list[tuple[str, Callable[[], TransferResult]]]
    ) -> builtins.list[TransferResult]:
        def guarded(key: str, job: Callable[[], TransferResult]) -> TransferResult:
            try:
                return job()
            except CDNError as err:
                return TransferResult(key, error=err)

        return run_each(
            [partial(guarded, key, job) for key, job in jobs], self.config.max_in_flight, control
        )

    def check(self, bucket: str) -> AuditReport:
        return check(self.transport, bucket)

    # Deploys (deploy/): a folder to a prefix, as one safe step.

    def plan_deploy(
        self,
        folder: str | os.PathLike[str],
        bucket: str,
        prefix: str = "",
        **options: Unpack[PlanOptions],
    ) -> DeployPlan:
        check_bucket(bucket)
        return plan_deploy(self, folder, bucket, prefix, **options)

    def deploy(
        self, control: _core.Control, plan: DeployPlan, **options: Unpack[DeployOptions]
    ) -> DeployReport:
        return run_deploy(self, control, plan, **options)

    def verify_receipt(
        self, receipt: str | os.PathLike[str], bucket: bool = True, local: bool = True
    ) -> builtins.list[str]:
        return verify(self, Receipt.read(receipt), bucket=bucket, local=local)

    # The seed's bool API: False and one log line on any failure, never raises.

    def upload_as_bool(
        self, control: _core.Control, bucket: str, filename: str, file_bytes: bytes
    ) -> bool:
        return self._as_bool(
            "upload",
            bucket,
            filename,
            partial(self.put_bytes, control, bucket, filename, file_bytes),
        )

    def download_as_bool(self, control: _core.Control, folder: str, filename: str) -> bool:
        return self._as_bool(
            "download", folder, filename, partial(self.get_file, control, folder, filename)
        )

    def _as_bool(self, operation: str, bucket: str, key: str, action: Callable[[], object]) -> bool:
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
