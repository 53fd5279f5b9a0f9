"""CDNManager: the facade the seed module had, on the Rust core.

A thin face over the operations layer (``_operations``), where every
operation lives: each method here documents the call and hands it on with a
fresh ``_core.Control`` for its progress (and its share of the manager's
bandwidth limit). The seed's ``upload`` and ``download`` return False and
log one line on failure; every other method raises a :class:`CDNError`
subclass.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack

from .._config import TransferConfig
from .._credentials import CDNCredentials
from .._operations.operations import Operations

# Named in annotations only: a manager that only lists or moves objects
# never loads the sync engine or the deploys (start-up, issue 31).
if TYPE_CHECKING:
    from .._deploy.plan import PlanOptions, PruneOptions, RollbackOptions
    from .._deploy.releases import Release
    from .._deploy.run import DeployOptions
    from .._operations.audit import AuditReport
    from .._operations.operations import ItemData, Payload
    from .._planes.adaptive import PlaneChoice
    from .._results import ObjectInfo, TransferResult
    from .._sync.engine import ScopeOptions
    from .._sync.outcome import SyncReport
    from .._sync.plan import SyncPlan

T = TypeVar("T")

#: A transfer's progress callback: called with the bytes moved since its last
#: call (negative when a failed attempt is taken back), from worker threads.
Progress = Callable[[int], object]


class ProgressOption(TypedDict, total=False):
    #: See :data:`Progress`.
    progress: Progress | None


class UploadOptions(ProgressOption, total=False):
    #: Default: guessed from the key's extension.
    content_type: str | None
    cache_control: str | None


class BatchUploadOptions(ProgressOption, total=False):
    cache_control: str | None


class BatchDownloadOptions(ProgressOption, total=False):
    #: Each key's size where known (``ObjectInfo.size`` from a listing):
    #: an object above ``download_threshold`` is then asked for in ranges
    #: from the first request, so no byte is sent that is not read.
    sizes: Mapping[str, int] | None


# The options of deploy, rollback and prune extend the deploys' own, which
# exist at run time only where the deploys are loaded: they are types.
if TYPE_CHECKING:

    class DeployRunOptions(ProgressOption, DeployOptions, total=False):
        pass

    class RollbackRunOptions(RollbackOptions, DeployRunOptions, total=False):
        pass

    class PruneRunOptions(PruneOptions, DeployRunOptions, total=False):
        pass


class PullRunOptions(ProgressOption, total=False):
    #: Write a receipt of the pulled files to this file.
    receipt: str | os.PathLike[str] | None


class CDNManager:
    """Moves bytes to and from an S3-compatible CDN origin.

    ``download_client`` signs with the read-only key pair and is the only
    client that reads; ``upload_client`` signs with the write pair and is the
    only one that writes.

    A manager pickles (to send it to other processes or machines: Dask,
    Ray, multiprocessing) as its credentials and :class:`TransferConfig`;
    unpickling builds new clients, planes and workers, and the data plane
    is chosen afresh (a fallback to boto3 learnt here is not carried: the
    other side may reach the endpoint another way). **The pickled bytes
    hold both secret keys**, as obstore's pickled stores do: treat them as
    you treat ``cdn.yaml``. A ``ca_bundle`` file is named, not carried.
    """

    def __init__(self, credentials: CDNCredentials, config: TransferConfig | None = None) -> None:
        if not isinstance(credentials, CDNCredentials):
            raise TypeError(f"credentials must be CDNCredentials, not {type(credentials).__name__}")
        self._ops = Operations(credentials, config or TransferConfig())
        self.creds = credentials
        self.config = self._ops.config

    @property
    def download_client(self) -> Any:
        """The boto3 S3 client of the read-only key pair (built on first use)."""
        return self._ops.kit.download_client

    @property
    def upload_client(self) -> Any:
        """The boto3 S3 client of the write key pair (built on first use)."""
        return self._ops.kit.upload_client

    def __repr__(self) -> str:
        return (
            f"CDNManager(host={self.creds.host!r}, "
            f"downloader_access_key={self.creds.downloader_access_key!r}, "
            f"uploader_access_key={self.creds.uploader_access_key!r})"
        )

    def __reduce__(self) -> tuple[type[CDNManager], tuple[CDNCredentials, TransferConfig]]:
        # Clients, pools and threads cannot cross a process: rebuild them.
        return (type(self), (self.creds, self.config))

    @property
    def data_plane(self) -> PlaneChoice:
        """Which plane carries object bytes (``.name``: "native" or "boto3")
        and why (``.reason``): configured, the default, or the refusal that
        moved this manager to boto3 (also logged at WARNING)."""
        return self._ops.data_plane

    def close(self) -> None:
        """Stops the worker threads (they also stop at interpreter exit)."""
        self._ops.close()

    def __enter__(self) -> CDNManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transfer(
        self,
        operation: Callable[..., T],
        *args: Any,
        progress: Progress | None = None,
        **kwargs: Any,
    ) -> T:
        return operation(self._ops.kit.control(progress), *args, **kwargs)

    # The seed's bool API.

    def upload(self, bucket: str, filename: str, file_bytes: bytes) -> bool:
        """Uploads ``file_bytes`` to ``bucket/filename``; False (and one log
        line) on any failure. Never raises."""
        return self._transfer(self._ops.upload_as_bool, bucket, filename, file_bytes)

    def download(self, folder: str, filename: str) -> bool:
        """Downloads object ``filename`` of bucket ``folder`` to the local
        ``folder/filename``; False (and one log line) on any failure. Never
        raises."""
        return self._transfer(self._ops.download_as_bool, folder, filename)

    # Uploads (the write key).

    def put_bytes(
        self, bucket: str, key: str, data: Payload, **options: Unpack[UploadOptions]
    ) -> None:
        """Stores ``data`` (bytes, bytearray or memoryview) at ``bucket/key``
        with the write key; ``bytes`` are never copied, a mutable buffer one
        part at a time.

        Multipart above ``config.multipart_threshold``; every request carries
        a CRC the server verifies. ``content_type`` defaults to a guess from
        the key's extension. Raises a :class:`CDNError` subclass.
        """
        self._transfer(self._ops.put_bytes, bucket, key, data, **options)

    def upload_file(
        self, bucket: str, key: str, path: str | os.PathLike[str], **options: Unpack[UploadOptions]
    ) -> TransferResult:
        """Stores the local file ``path`` at ``bucket/key``, read part by part
        (memory holds only the parts in flight); the result's
        ``resumed_bytes`` says how much an interrupted earlier upload of
        the same file to the same key had already stored.

        The file is opened once and every part read from that descriptor,
        after checking it is a regular file (else :class:`UnsafePath`). A
        symbolic link ``path`` is followed, once, when the file is opened:
        you named it, as you would to ``cp`` (batch items never follow
        one). Fails with :class:`LocalIOError` if the file changes during
        the upload. A multipart upload that is interrupted keeps its parts
        for the next run (``TransferConfig.resume``, see the README's
        "Interrupted transfers"); :class:`UploadBusy` if another process is
        uploading the same file to the same key."""
        return self._transfer(self._ops.upload_file, bucket, key, path, **options)

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Aborts the multipart upload ``upload_id`` of ``bucket/key`` with
        the write key (``cdn-manager clean`` uses it for the uploads
        interrupted runs left); :class:`NotFound` if the server has no such
        upload."""
        self._ops.abort_upload(bucket, key, upload_id)

    def delete(self, bucket: str, key: str) -> None:
        """Deletes ``bucket/key`` with the write key (no error if it is
        already gone)."""
        self._ops.delete(bucket, key)

    # Downloads (the read key).

    def get_file(
        self,
        bucket: str,
        key: str,
        folder: str | os.PathLike[str] | None = None,
        **options: Unpack[ProgressOption],
    ) -> Path:
        """Downloads ``bucket/key`` with the read key to ``folder/key``
        (``folder`` defaults to the bucket name, relative to the working
        directory) and returns that path.

        The key must name a file strictly inside ``folder`` (else
        :class:`UnsafePath`); the file appears only once every byte is
        verified, and a file already there is untouched on failure.
        """
        return self._transfer(self._ops.get_file, bucket, key, folder, **options)

    def download_file(
        self, bucket: str, key: str, path: str | os.PathLike[str], **options: Unpack[ProgressOption]
    ) -> Path:
        """Downloads ``bucket/key`` to the local file ``path`` (its folder is
        created), with the same verification and atomic replacement as
        :meth:`get_file`; returns the path."""
        return self._transfer(self._ops.download_file, bucket, key, path, **options)

    def download_bytes(self, bucket: str, key: str, **options: Unpack[ProgressOption]) -> bytes:
        """The verified contents of ``bucket/key``, read with the read key."""
        return self._transfer(self._ops.download_bytes, bucket, key, **options)

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        """Size, ETag, type, caching and stored checksum of ``bucket/key``
        (a HEAD with the read key); raises :class:`NotFound` if absent."""
        return self._ops.stat(bucket, key)

    def exists(self, bucket: str, key: str) -> bool:
        """Whether ``bucket/key`` exists (a HEAD with the read key). A
        refused key or an unreachable host raise rather than read as
        "absent"; so does a missing bucket where the server says so (a HEAD
        answer carries no error code, so many servers cannot)."""
        return self._ops.exists(bucket, key)

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object of ``bucket`` whose key starts with ``prefix``, in key
        order, fetched page by page as the iterator advances (read key)."""
        return self._ops.list(bucket, prefix)

    def presign_download_url(self, bucket: str, key: str, expires: int = 3600) -> str:
        """A URL that lets anyone GET ``bucket/key`` for ``expires`` seconds,
        signed with the read key (a link never carries the write key)."""
        return self._ops.presign_download_url(bucket, key, expires)

    # Batches.

    def upload_many(
        self,
        bucket: str,
        items: Iterable[tuple[str, ItemData]],
        **options: Unpack[BatchUploadOptions],
    ) -> builtins.list[TransferResult]:
        """Uploads every ``(key, data)`` pair, ``config.max_in_flight`` at
        a time; ``data`` is a bytes-like object, a ``pathlib.Path`` to a file
        (never followed if it is a symbolic link: the item fails with
        :class:`UnsafePath`), or a :class:`PlannedFile`, which must still be
        the very file it names (same device and inode) when its upload
        starts. One failure does not stop the rest: each item's outcome is
        in the returned list, in order. ``progress`` counts all items.

        Ctrl-C cancels every item in flight and, once all have stopped
        (multipart uploads aborted, but those of files kept for the next
        run: see ``TransferConfig.resume``), raises :class:`Interrupted`
        with the items that completed. Each result's ``resumed_bytes`` says
        what an interrupted earlier upload of the file had stored."""
        return self._transfer(self._ops.upload_many, bucket, items, **options)

    def download_many(
        self,
        bucket: str,
        keys: Iterable[str | tuple[str, str]],
        folder: str | os.PathLike[str] | None = None,
        **options: Unpack[BatchDownloadOptions],
    ) -> builtins.list[TransferResult]:
        """Downloads every key to ``folder/key`` (as :meth:`get_file`),
        ``config.max_in_flight`` at a time; an item ``(key, name)`` lands at
        ``folder/name`` instead, ``name`` held to the same rule as a key.
        One failure does not stop the rest: each item's outcome is in the
        returned list, in order. Ctrl-C cancels every item in flight and,
        once all have stopped (temporary files removed), raises
        :class:`Interrupted` with the items that completed. ``sizes``
        (key to size, from :meth:`list`) spares large objects the bytes a
        whole-object first GET sends and no one reads."""
        return self._transfer(self._ops.download_many, bucket, keys, folder, **options)

    # The least-privilege audit.

    def check(self, bucket: str) -> AuditReport:
        """Audits both keys against ``bucket``: whether the read key reads
        and is refused writes and deletes, and the write key writes and is
        refused reads and listings. Writes at most two small probe objects
        and removes them; never raises for what the server answers."""
        return self._ops.check(bucket)

    # Deploys: a folder to a prefix, as one safe step.

    def plan_deploy(
        self,
        folder: str | os.PathLike[str],
        bucket: str,
        prefix: str = "",
        **options: Unpack[PlanOptions],
    ) -> SyncPlan:
        """What :meth:`deploy` would do to make ``bucket/prefix`` mirror
        ``folder``; reads only (a listing, HEADs where nothing proves an
        object, local checksums from the cache). ``str(plan)`` shows it.

        Options: ``rules`` (a :class:`~cdn_manager.Rules` or a rules
        file: headers, compression, entry points), ``delete`` (also delete
        objects that have no file), ``max_delete`` (default 1000),
        ``filters`` / ``include`` / ``exclude`` (globs; last match wins),
        ``recheck`` (HEAD every object, trusting nothing remembered),
        ``shard`` (``(K, N)``, 1 ≤ K ≤ N: only that shard's files and
        objects, deletes included; see :class:`~cdn_manager.Shard`).
        Raises :class:`LocalIOError` or :class:`ConfigError` (rules file).
        """
        return self._ops.plan_deploy(folder, bucket, prefix, **options)

    def deploy(self, plan: SyncPlan, **options: Unpack[DeployRunOptions]) -> SyncReport:
        """Applies ``plan``: assets first, then entry points, then deletes,
        each write conditional on what planning saw (a concurrent writer's
        change fails that item with :class:`Conflict`). Per-item failures
        are in the report (``report.ok``); raises
        :class:`~cdn_manager.TooManyDeletes` (nothing changed) when
        the plan deletes more than its ``max_delete``.

        Options: ``invalidate`` (``"cloudfront:DISTRIBUTION_ID"``: one
        invalidation of the overwritten and deleted paths), ``wait`` (for it
        to complete), ``receipt`` (a file to write the receipt to),
        ``progress`` (bytes of the whole deploy).

        A plan with a release history (every unsharded deploy, a rollback)
        first records its release; if another deploy recorded that release
        number since the plan was made, nothing is changed and the report
        fails with :class:`Conflict`. ``report.release`` is the release
        recorded (``.state`` "complete" or "failed").
        """
        return self._transfer(self._ops.deploy, plan, **options)

    # Release history: every deploy records a release under
    # ``.cdn-manager/PREFIX`` (see docs/releases.md).

    def releases(self, bucket: str, prefix: str = "") -> builtins.list[Release]:
        """Every release of the site at ``bucket/prefix``, newest first: its
        id, time, kind, state, files, bytes, what changed since the one
        before, and whether it is live (read key)."""
        return self._ops.releases(bucket, prefix)

    def plan_rollback(
        self,
        bucket: str,
        prefix: str = "",
        to: int | None = None,
        **options: Unpack[RollbackOptions],
    ) -> SyncPlan:
        """What :meth:`rollback` would do to make ``bucket/prefix`` release
        ``to`` again (default: the release before the latest): the objects
        whose content or headers differ from the release's, restored from
        the content kept for them; reads only. Raises
        :class:`~cdn_manager.ReleaseNotFound` if there is no such release,
        :class:`~cdn_manager.ReleaseIncomplete` (naming every missing key)
        if content it needs was pruned. Options: ``delete`` (also delete
        what the release lacks, unless a release inside the window
        references it), ``max_delete``, ``recheck``, ``retention``,
        ``clock``."""
        return self._ops.plan_rollback(bucket, prefix, to, **options)

    def rollback(
        self,
        bucket: str,
        prefix: str = "",
        to: int | None = None,
        **options: Unpack[RollbackRunOptions],
    ) -> SyncReport:
        """Makes the live site at ``bucket/prefix`` release ``to`` again
        (default: the release before the latest), byte for byte and header
        for header, writing only what differs: :meth:`plan_rollback` then
        :meth:`deploy` (assets first, entry points last, the rollback
        recorded as a release, then ``invalidate``). The read key reads the
        kept content, the write key writes. Takes the options of both."""
        return self._transfer(self._ops.rollback, bucket, prefix, to, **options)

    def plan_prune(
        self, bucket: str, prefix: str = "", **options: Unpack[PruneOptions]
    ) -> SyncPlan:
        """What :meth:`prune` would delete: objects under the prefix that a
        release published, the live release does not, and no release inside
        the retention window references; and kept content no such release
        needs. Reads only; :class:`~cdn_manager.ReleaseNotFound` for a
        site with no release. Options: ``retention``, ``max_delete``,
        ``clock``."""
        return self._ops.plan_prune(bucket, prefix, **options)

    def prune(
        self, bucket: str, prefix: str = "", **options: Unpack[PruneRunOptions]
    ) -> SyncReport:
        """Deletes what :meth:`plan_prune` finds (write key, each delete
        conditional on the ETag planning saw); held back if a release was
        recorded meanwhile. Takes the options of both."""
        return self._transfer(self._ops.prune, bucket, prefix, **options)

    # Pulls: a prefix into a folder, moving only what changed.

    def plan_pull(
        self,
        bucket: str,
        prefix: str,
        folder: str | os.PathLike[str],
        **options: Unpack[ScopeOptions],
    ) -> SyncPlan:
        """What :meth:`pull` would do to make ``folder`` mirror
        ``bucket/prefix`` (``prefix + relative`` lands at
        ``folder/relative``); reads only: a listing, HEADs where nothing
        proves an object, local checksums from the cache. A file is left
        alone only when the object's checksum proves it holds the same
        bytes. Keys that cannot be stored strictly inside ``folder`` are
        refused (``plan.refused``), folder markers skipped.

        Options: ``delete`` (also delete local files no object maps to),
        ``max_delete``, ``filters`` / ``include`` / ``exclude``,
        ``recheck`` and ``shard``, as for :meth:`plan_deploy`. Raises
        :class:`LocalIOError` if ``folder`` cannot be one.
        """
        return self._ops.plan_pull(bucket, prefix, folder, **options)

    def pull(self, plan: SyncPlan, **options: Unpack[PullRunOptions]) -> SyncReport:
        """Applies a pull ``plan``: every download concurrently, each verified
        and committed atomically; then, only if all succeeded and nothing
        was refused, the local deletes (never through a symbolic link,
        never outside the folder). Per-file failures are in the report
        (``report.ok``); raises :class:`~cdn_manager.TooManyDeletes`
        (nothing changed) when the plan deletes more than its
        ``max_delete``, :class:`LocalIOError` if the folder cannot be
        written. Ctrl-C stops every download (as :meth:`download_many`).

        Options: ``receipt`` (a file to write the receipt to), ``progress``.
        """
        return self._transfer(self._ops.pull, plan, **options)

    def verify_receipt(
        self, receipt: str | os.PathLike[str], *, bucket: bool = True, local: bool = True
    ) -> builtins.list[str]:
        """One line per difference between a receipt and the bucket (HEADs,
        read key) and/or the local files (re-read); empty when all match."""
        return self._ops.verify_receipt(receipt, bucket, local)
