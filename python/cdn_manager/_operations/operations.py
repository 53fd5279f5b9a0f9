"""Every operation of a manager, once: the sync face (``CDNManager``) and the
async face (``AsyncCDNManager``) are thin shells over this layer.

Each transfer takes the ``_core.Control`` that carries its progress and
cancellation: the sync face makes one per call, the async face cancels its
own when the awaiting task is cancelled. Every method that reads uses the
read key's client and plane and every method that writes the write key's.
Failures are raised as precise :class:`CDNError` subclasses (``guard``);
only the seed's bool methods (``seed``) turn them into False and one log
line. This class is also the :class:`~cdn_manager._sync.store.Store` the
sync engine and deploys work on.
"""

from __future__ import annotations

import builtins
import logging
import mimetypes
import os
from collections.abc import Callable, Generator, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from .. import _core
from .._config import MAX_PRESIGN_SECONDS, TransferConfig
from .._credentials import CDNCredentials
from .._escape import shown
from .._names import check_bucket
from .._planes import control
from .._planes.adaptive import PlaneChoice
from .._planes.failures import error_code
from .._planes.protocol import Condition, Get, Head, ListPage, ObjectOptions
from .._planes.retry import with_retries
from .._results import ObjectInfo, TransferResult
from .._transfers.kit import build_kit
from .._transfers.sources import BufferSource, FileSource, PlannedFile, Source, as_byte_view
from ..errors import CDNError, InvalidRequest, NotFound
from .guard import Guard
from .housekeeping import Housekeeping
from .listing import list_prefix
from .seed import as_bool

# The syncs, deploys, transfers (uploads with their journals, downloads
# with their verification) and the audit are imported by the methods that
# run them: a manager that only lists never loads them (start-up, issue 31).
# Here they are types.
if TYPE_CHECKING:
    from .._deploy.plan import PlanOptions, PruneOptions, RollbackOptions
    from .._deploy.releases import Release
    from .._deploy.run import DeployOptions
    from .._sync.engine import ScopeOptions
    from .._sync.outcome import SyncReport
    from .._sync.plan import SyncPlan
    from .._transfers.download import OpenWriter
    from .._transfers.upload import Upload
    from .audit import AuditReport

log = logging.getLogger("cdn_manager")
T = TypeVar("T")

Payload = bytes | bytearray | memoryview
#: What ``upload_many`` takes per item: a bytes-like object, a file path, or
#: a file pinned when the upload was planned.
ItemData = Payload | os.PathLike[str] | PlannedFile


class Operations:
    """A manager's operations on one endpoint with its two key pairs."""

    def __init__(self, credentials: CDNCredentials, config: TransferConfig) -> None:
        self.kit = build_kit(credentials, config)
        self.creds = credentials
        self.config = config
        self._guard = Guard(self.kit)
        self._housekeeping = Housekeeping(self.kit)

    @property
    def data_plane(self) -> PlaneChoice:
        return self.kit.planes.switch.choice

    @property
    def endpoint(self) -> str:
        return self.creds.host

    def secrets(self) -> tuple[str, ...]:
        return self.creds.secrets()

    def cloudfront(self) -> Any:
        from .._planes.clients import cloudfront_client  # boto3, on first use

        creds = self.creds
        return cloudfront_client(
            creds.uploader_access_key, creds.uploader_access_secret, self.config
        )

    def close(self) -> None:
        self.kit.close()

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
        multipart upload keeps a journal (see ``_transfers/upload.py``)."""

        from .._transfers.upload import Upload

        def run() -> Upload:
            made = source if not callable(source) else source()
            try:
                file = made if journaled and isinstance(made, FileSource) else None
                self._housekeeping.sweep_upload_journals()
                upload = Upload(
                    self.kit,
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

        return self._guard.run("upload", bucket, key, run)

    def replace_headers(
        self, bucket: str, key: str, options: ObjectOptions, if_match: str | None
    ) -> str:
        """Replaces the headers and metadata of ``bucket/key`` in place (a
        server-side copy onto itself, write key), if it still has ETag
        ``if_match``; returns its ETag."""
        client = self.kit.upload_client
        return self._guard.run(
            "copy",
            bucket,
            key,
            partial(control.copy_in_place, client, bucket, key, options, if_match),
        )

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
        client = self.kit.upload_client
        self._guard.run(
            "abort upload",
            bucket,
            key,
            partial(control.abort_multipart, client, bucket, key, upload_id),
        )

    def delete(self, bucket: str, key: str, if_match: str | None = None) -> None:
        """Deletes ``bucket/key``; with ``if_match``, only if it still has
        that ETag where the server supports conditional deletes (a server
        that refuses the condition itself gets a plain delete, logged)."""
        client = self.kit.upload_client

        def remove() -> None:
            try:
                control.delete(client, bucket, key, if_match)
            except Exception as err:
                if if_match is None or error_code(err) not in ("NotImplemented", "501"):
                    raise
                log.info("delete %s: no conditional deletes here; deleting as is", shown(key))
                control.delete(client, bucket, key)

        self._guard.run("delete", bucket, key, remove)

    # Downloads (the read key).

    def _download(
        self, control: _core.Control, bucket: str, key: str, open_writer: OpenWriter[T]
    ) -> T:
        from .._transfers.download import Download

        return Download(self.kit, bucket, key, control, open_writer).run()

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
        from .._transfers.download import Download

        relative = key if name is None else name

        def run() -> TransferResult:
            destination = _core.Destination(folder, relative)
            self._housekeeping.sweep_folder(destination.path.parent)
            resume = self.config.resume
            download = Download(
                self.kit,
                bucket,
                key,
                control,
                partial(_core.FileWriter, destination),
                resumable=resume,
                head_first=(size is not None and size > self.config.download_threshold)
                or (resume and destination.journaled),
            )
            download.run()
            return TransferResult(
                key,
                path=destination.path,
                resumed_bytes=download.resumed_bytes,
                verified=download.verified,
            )

        return self._guard.run("download", bucket, key, run)

    def download_bytes(self, control: _core.Control, bucket: str, key: str) -> bytes:
        def memory(size: int, journal: str | None, algorithm: str | None) -> _core.MemoryWriter:
            return _core.MemoryWriter(size)  # memory is never resumable: no journal

        return self._guard.run(
            "download", bucket, key, partial(self._download, control, bucket, key, memory)
        )

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        from .._transfers.verify import object_info

        plane = self.kit.download_plane
        regions = self.kit.regions

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
                    send, self.config.max_attempts, self.kit.retries, f"stat {bucket}/{key}"
                )
            except Exception as err:
                if error_code(err) != "404":
                    raise
                # Nor what is missing: a one-byte GET names it (NoSuchKey or
                # NoSuchBucket), so that stat, exists and get_file give one
                # reason for one condition.
                plane.get(Get(bucket, key, byte_range=(0, 1))).close()
                raise
            return object_info(key, headers)

        return self._guard.run("stat", bucket, key, head)

    def part_size(self, bucket: str, key: str) -> int:
        """The size of part 1 of a multipart object (a HEAD with the read key)."""

        def head() -> int:
            return int(control.head(self.kit.download_client, bucket, key, part=1)["ContentLength"])

        return self._guard.run("stat", bucket, key, head)

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.stat(bucket, key)
        except NotFound as err:
            if err.reason == "NoSuchBucket":
                raise
            return False
        return True

    def list(self, bucket: str, prefix: str = "") -> Generator[ObjectInfo, None, None]:
        # On the data plane (native, unless the endpoint refused it), retried
        # as object requests are: a listing needs no boto3.
        plane = self.kit.download_plane

        def fetch(**params: Any) -> dict[str, Any]:
            request = ListPage(bucket, params)
            attempt = partial(plane.list_page, request)
            what = str(request)
            return self._guard.run(
                "list",
                bucket,
                None,
                lambda: with_retries(attempt, self.config.max_attempts, self.kit.retries, what),
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
        return self._guard.run(
            "presign",
            bucket,
            key,
            lambda: str(
                self.kit.presigner(bucket).generate_presigned_url(
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
        from .._transfers.parts import run_each

        def guarded(key: str, job: Callable[[], TransferResult]) -> TransferResult:
            try:
                return job()
            except CDNError as err:
                return TransferResult(key, error=err)

        return run_each(
            [partial(guarded, key, job) for key, job in jobs], self.config.max_in_flight, control
        )

    def check(self, bucket: str) -> AuditReport:
        from .audit import check

        return check(self.kit, bucket)

    # Syncs: a folder deployed to a prefix, a prefix pulled into a folder.

    def plan_deploy(
        self,
        folder: str | os.PathLike[str],
        bucket: str,
        prefix: str = "",
        **options: Unpack[PlanOptions],
    ) -> SyncPlan:
        from .._deploy.plan import plan_deploy

        check_bucket(bucket)
        return plan_deploy(self, folder, bucket, prefix, **options)

    def deploy(
        self, control: _core.Control, plan: SyncPlan, **options: Unpack[DeployOptions]
    ) -> SyncReport:
        from .._deploy.run import run_deploy

        return run_deploy(self, control, plan, **options)

    # Release history: list, roll back, prune.

    def releases(self, bucket: str, prefix: str = "") -> builtins.list[Release]:
        from .._deploy.plan import check_site_prefix
        from .._deploy.releases import History, summaries

        check_bucket(bucket)
        return summaries(History(self, bucket, check_site_prefix(prefix)))

    def plan_rollback(
        self,
        bucket: str,
        prefix: str = "",
        to: int | None = None,
        **options: Unpack[RollbackOptions],
    ) -> SyncPlan:
        from .._deploy.rollback import plan_rollback

        check_bucket(bucket)
        return plan_rollback(self, bucket, prefix, to, **options)

    def rollback(
        self,
        control: _core.Control,
        bucket: str,
        prefix: str = "",
        to: int | None = None,
        **options: Any,
    ) -> SyncReport:
        """:meth:`plan_rollback`, then :meth:`deploy`; ``options`` are both's."""
        planning, running = _split_deploy_options(options)
        return self.deploy(control, self.plan_rollback(bucket, prefix, to, **planning), **running)

    def plan_prune(
        self, bucket: str, prefix: str = "", **options: Unpack[PruneOptions]
    ) -> SyncPlan:
        from .._deploy.prune import plan_prune

        check_bucket(bucket)
        return plan_prune(self, bucket, prefix, **options)

    def prune(
        self, control: _core.Control, bucket: str, prefix: str = "", **options: Any
    ) -> SyncReport:
        """:meth:`plan_prune`, then :meth:`deploy`; ``options`` are both's."""
        planning, running = _split_deploy_options(options)
        return self.deploy(control, self.plan_prune(bucket, prefix, **planning), **running)

    def plan_pull(
        self,
        bucket: str,
        prefix: str,
        folder: str | os.PathLike[str],
        **options: Unpack[ScopeOptions],
    ) -> SyncPlan:
        from .._sync.engine import plan_pull, scope_of

        check_bucket(bucket)
        return plan_pull(self, scope_of(bucket, prefix, folder, **options))

    def pull(
        self,
        control: _core.Control,
        plan: SyncPlan,
        receipt: str | os.PathLike[str] | None = None,
    ) -> SyncReport:
        from .._sync.pull import run_pull

        return run_pull(self, control, plan, receipt)

    def verify_receipt(
        self, receipt: str | os.PathLike[str], bucket: bool = True, local: bool = True
    ) -> builtins.list[str]:
        from .._sync.receipt import Receipt, verify

        return verify(self, Receipt.read(receipt), bucket=bucket, local=local)

    # The seed's bool API: False and one log line on any failure, never raises.

    def upload_as_bool(
        self, control: _core.Control, bucket: str, filename: str, file_bytes: bytes
    ) -> bool:
        return as_bool(
            "upload",
            bucket,
            filename,
            partial(self.put_bytes, control, bucket, filename, file_bytes),
        )

    def download_as_bool(self, control: _core.Control, folder: str, filename: str) -> bool:
        return as_bool(
            "download", folder, filename, partial(self.get_file, control, folder, filename)
        )


def _split_deploy_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A rollback's or a prune's ``options``: (its plan's, :func:`run_deploy`'s)."""
    from .._deploy.run import DeployOptions

    running = DeployOptions.__annotations__
    return (
        {k: v for k, v in options.items() if k not in running},
        {k: v for k, v in options.items() if k in running},
    )
