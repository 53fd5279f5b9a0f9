"""CDNManager: the facade the seed module had, on the Rust core.

The raising methods are the one code path; the seed's ``upload`` and
``download`` wrap them, log one line on failure and return False. Every
method that reads uses ``download_client`` (the read key) and every method
that writes uses ``upload_client`` (the write key). Each transfer method is a
shell over a private twin that takes the transfer's ``_core.Control``, which
the async face (``aio.py``) cancels when its task is cancelled.
"""

from __future__ import annotations

import builtins
import logging
import mimetypes
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from . import _core
from .audit import AuditReport, check
from .clients import make_client, make_session
from .config import TransferConfig
from .credentials import CDNCredentials
from .dataplane import ObjectOptions
from .download import Download, Writer
from .errors import CDNError, InvalidRequest, NotFound
from .names import check_bucket, check_key
from .objects import ObjectInfo, TransferResult
from .routing import data_plane, native_engine
from .s3errors import translate
from .source import BufferSource, FileSource, Source, as_byte_view
from .transfer import Transport, run_each
from .upload import Upload

log = logging.getLogger("cdn_manager")
T = TypeVar("T")

#: A transfer's progress callback: called with the bytes moved since its last
#: call (negative when a failed attempt is taken back), from worker threads.
Progress = Callable[[int], object]
Payload = bytes | bytearray | memoryview
#: Longest lifetime S3 allows for a presigned URL (7 days).
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


def _printable(text: str) -> str:
    """``text`` with line breaks and other control characters escaped, so a
    key or a server message cannot forge log lines."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class CDNManager:
    """Moves bytes to and from an S3-compatible CDN origin.

    ``download_client`` signs with the read-only key pair and is the only
    client that reads; ``upload_client`` signs with the write pair and is the
    only one that writes.
    """

    def __init__(self, credentials: CDNCredentials, config: TransferConfig | None = None) -> None:
        if not isinstance(credentials, CDNCredentials):
            raise TypeError(f"credentials must be CDNCredentials, not {type(credentials).__name__}")
        self.creds = credentials
        self.config = config or TransferConfig()
        host = credentials.host
        reader = make_session(
            credentials.downloader_access_key, credentials.downloader_access_secret
        )
        writer = make_session(credentials.uploader_access_key, credentials.uploader_access_secret)
        self.download_client: Any = make_client(host, reader, self.config)
        self.upload_client: Any = make_client(host, writer, self.config)
        engine = native_engine(host, self.config)
        self._transport = Transport(
            download_plane=data_plane(
                self.download_client, reader, engine, host, self.config, "download plane"
            ),
            upload_plane=data_plane(
                self.upload_client, writer, engine, host, self.config, "upload plane"
            ),
            download_client=self.download_client,
            upload_client=self.upload_client,
            config=self.config,
            # Parts of every transfer of this manager share these workers, so
            # concurrent callers cannot multiply the connections in flight.
            executor=ThreadPoolExecutor(
                max_workers=self.config.concurrency, thread_name_prefix="cdn-manager"
            ),
        )

    def __repr__(self) -> str:
        return (
            f"CDNManager(host={self.creds.host!r}, "
            f"downloader_access_key={self.creds.downloader_access_key!r}, "
            f"uploader_access_key={self.creds.uploader_access_key!r})"
        )

    def close(self) -> None:
        """Stops the worker threads (they also stop at interpreter exit)."""
        self._transport.executor.shutdown(wait=True)

    def __enter__(self) -> CDNManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, operation: str, bucket: str, key: str | None, action: Callable[[], T]) -> T:
        """Checks the names, runs ``action`` and turns every failure into a
        ``CDNError`` whose message names the operation and the object."""
        check_bucket(bucket)
        if key is not None:
            check_key(key)
        try:
            return action()
        except CDNError:
            raise
        except Exception as err:
            what = f"{operation} {bucket}/{key or ''}"
            raise translate(err, what, self.creds.secrets()) from None

    # Uploads (the write key).

    def _upload(
        self,
        bucket: str,
        key: str,
        source: Callable[[], Source],
        content_type: str | None,
        cache_control: str | None,
        control: _core.Control,
    ) -> None:
        def run() -> None:
            options = ObjectOptions(
                content_type=content_type or mimetypes.guess_type(key)[0],
                cache_control=cache_control,
            )
            Upload(self._transport, bucket, key, control, source(), options).run()

        self._run("upload", bucket, key, run)

    def put_bytes(
        self,
        bucket: str,
        key: str,
        data: Payload,
        *,
        content_type: str | None = None,
        cache_control: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Stores ``data`` at ``bucket/key`` with the write key, without
        copying it.

        Multipart above ``config.multipart_threshold``; every request carries
        a CRC the server verifies. ``content_type`` defaults to a guess from
        the key's extension. Raises a :class:`CDNError` subclass.
        """
        self._put_bytes(bucket, key, data, content_type, cache_control, _core.Control(progress))

    def _put_bytes(
        self,
        bucket: str,
        key: str,
        data: Payload,
        content_type: str | None,
        cache_control: str | None,
        control: _core.Control,
    ) -> None:
        view = as_byte_view(data)
        algorithm = self.config.checksum_algorithm
        self._upload(
            bucket, key, lambda: BufferSource(view, algorithm), content_type, cache_control, control
        )

    def upload_file(
        self,
        bucket: str,
        key: str,
        path: str | os.PathLike[str],
        *,
        content_type: str | None = None,
        cache_control: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Stores the local file ``path`` at ``bucket/key``, read part by part
        (memory holds only the parts in flight). Fails with
        :class:`LocalIOError` if the file changes during the upload."""
        self._upload_file(bucket, key, path, content_type, cache_control, _core.Control(progress))

    def _upload_file(
        self,
        bucket: str,
        key: str,
        path: str | os.PathLike[str],
        content_type: str | None,
        cache_control: str | None,
        control: _core.Control,
    ) -> None:
        algorithm = self.config.checksum_algorithm
        self._upload(
            bucket, key, lambda: FileSource(path, algorithm), content_type, cache_control, control
        )

    def delete(self, bucket: str, key: str) -> None:
        """Deletes ``bucket/key`` with the write key (no error if it is
        already gone)."""
        self._run(
            "delete",
            bucket,
            key,
            lambda: self.upload_client.delete_object(Bucket=bucket, Key=key),
        )

    # Downloads (the read key).

    def _download(
        self, bucket: str, key: str, open_writer: Callable[[int], Writer[T]], control: _core.Control
    ) -> T:
        return Download(self._transport, bucket, key, control, open_writer).run()

    def get_file(
        self,
        bucket: str,
        key: str,
        folder: str | os.PathLike[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> Path:
        """Downloads ``bucket/key`` with the read key to ``folder/key``
        (``folder`` defaults to the bucket name, relative to the working
        directory) and returns that path.

        The key must name a file strictly inside ``folder`` (else
        :class:`UnsafePath`); the file appears only once every byte is
        verified, and a file already there is untouched on failure.
        """
        return self._get_file(bucket, key, folder, _core.Control(progress))

    def _get_file(
        self,
        bucket: str,
        key: str,
        folder: str | os.PathLike[str] | None,
        control: _core.Control,
        name: str | None = None,
    ) -> Path:
        target = Path(bucket if folder is None else folder)

        def run() -> Path:
            destination = _core.prepare_destination(target, key if name is None else name)
            self._download(bucket, key, lambda size: _core.FileWriter(destination, size), control)
            return destination

        return self._run("download", bucket, key, run)

    def download_file(
        self,
        bucket: str,
        key: str,
        path: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> Path:
        """Downloads ``bucket/key`` to the local file ``path`` (its folder is
        created), with the same verification and atomic replacement as
        :meth:`get_file`; returns the path."""
        return self._download_file(bucket, key, path, _core.Control(progress))

    def _download_file(
        self, bucket: str, key: str, path: str | os.PathLike[str], control: _core.Control
    ) -> Path:
        destination = Path(path)

        def run() -> Path:
            checked = _core.prepare_destination(destination.parent, destination.name)
            self._download(bucket, key, lambda size: _core.FileWriter(checked, size), control)
            return checked

        return self._run("download", bucket, key, run)

    def download_bytes(self, bucket: str, key: str, *, progress: Progress | None = None) -> bytes:
        """The verified contents of ``bucket/key``, read with the read key."""
        return self._download_bytes(bucket, key, _core.Control(progress))

    def _download_bytes(self, bucket: str, key: str, control: _core.Control) -> bytes:
        return self._run(
            "download",
            bucket,
            key,
            lambda: self._download(bucket, key, _core.MemoryWriter, control),
        )

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        """Size, ETag, type, caching and stored checksum of ``bucket/key``
        (a HEAD with the read key); raises :class:`NotFound` if absent."""
        return self._run(
            "stat",
            bucket,
            key,
            lambda: ObjectInfo.from_head(
                key,
                self.download_client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED"),
            ),
        )

    def exists(self, bucket: str, key: str) -> bool:
        """Whether ``bucket/key`` exists (a HEAD with the read key). A
        refused key or an unreachable host raise rather than read as
        "absent"; so does a missing bucket where the server says so (a HEAD
        answer carries no error code, so many servers cannot)."""
        try:
            self.stat(bucket, key)
        except NotFound as err:
            if err.reason == "NoSuchBucket":
                raise
            return False
        return True

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object of ``bucket`` whose key starts with ``prefix``, in key
        order, fetched page by page as the iterator advances (read key)."""
        pages = self.download_client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        )
        iterator = iter(pages)
        while True:
            page = self._run("list", bucket, None, lambda: next(iterator, None))
            if page is None:
                return
            for entry in page.get("Contents", []):
                yield ObjectInfo.from_listing(entry)

    def presign_download_url(self, bucket: str, key: str, expires: int = 3600) -> str:
        """A URL that lets anyone GET ``bucket/key`` for ``expires`` seconds,
        signed with the read key (a link never carries the write key)."""
        if not 1 <= expires <= MAX_PRESIGN_SECONDS:
            raise InvalidRequest(
                f"expires must be between 1 and {MAX_PRESIGN_SECONDS} seconds",
                reason="InvalidExpiry",
            )
        return self._run(
            "presign",
            bucket,
            key,
            lambda: str(
                self.download_client.generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
                )
            ),
        )

    # Batches.

    def upload_many(
        self,
        bucket: str,
        items: Iterable[tuple[str, Payload | os.PathLike[str]]],
        *,
        cache_control: str | None = None,
        progress: Progress | None = None,
    ) -> builtins.list[TransferResult]:
        """Uploads every ``(key, data)`` pair, ``config.concurrency`` at a
        time; ``data`` is a bytes-like object or a ``pathlib.Path`` to a
        file. One failure does not stop the rest: each item's outcome is in
        the returned list, in order. ``progress`` counts all items."""
        return self._upload_many(bucket, items, cache_control, _core.Control(progress))

    def _upload_many(
        self,
        bucket: str,
        items: Iterable[tuple[str, Payload | os.PathLike[str]]],
        cache_control: str | None,
        control: _core.Control,
    ) -> builtins.list[TransferResult]:
        algorithm = self.config.checksum_algorithm

        def one(key: str, data: Payload | os.PathLike[str]) -> TransferResult:
            def source() -> Source:
                if isinstance(data, os.PathLike):
                    return FileSource(data, algorithm)
                return BufferSource(as_byte_view(data), algorithm)

            self._upload(bucket, key, source, None, cache_control, control)
            return TransferResult(key)

        return self._batch([(key, partial(one, key, data)) for key, data in items], control)

    def download_many(
        self,
        bucket: str,
        keys: Iterable[str | tuple[str, str]],
        folder: str | os.PathLike[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> builtins.list[TransferResult]:
        """Downloads every key to ``folder/key`` (as :meth:`get_file`),
        ``config.concurrency`` at a time; an item ``(key, name)`` lands at
        ``folder/name`` instead, ``name`` held to the same rule as a key.
        One failure does not stop the rest: each item's outcome is in the
        returned list, in order."""
        return self._download_many(bucket, keys, folder, _core.Control(progress))

    def _download_many(
        self,
        bucket: str,
        keys: Iterable[str | tuple[str, str]],
        folder: str | os.PathLike[str] | None,
        control: _core.Control,
    ) -> builtins.list[TransferResult]:
        def one(key: str, name: str) -> TransferResult:
            return TransferResult(key, path=self._get_file(bucket, key, folder, control, name))

        pairs = [(item, item) if isinstance(item, str) else item for item in keys]
        return self._batch([(key, partial(one, key, name)) for key, name in pairs], control)

    def _batch(
        self, jobs: builtins.list[tuple[str, Callable[[], TransferResult]]], control: _core.Control
    ) -> builtins.list[TransferResult]:
        def guarded(key: str, job: Callable[[], TransferResult]) -> TransferResult:
            try:
                return job()
            except CDNError as err:
                return TransferResult(key, error=err)

        # Items get threads of their own: their parts queue on the shared part
        # workers, which an item waiting for its parts must not occupy.
        return run_each(
            [partial(guarded, key, job) for key, job in jobs], self.config.concurrency, control
        )

    # The least-privilege audit.

    def check(self, bucket: str) -> AuditReport:
        """Audits both keys against ``bucket``; see :func:`cdn_manager.audit.check`."""
        return check(self, bucket)

    # The seed's bool API.

    def upload(self, bucket: str, filename: str, file_bytes: bytes) -> bool:
        """Uploads ``file_bytes`` to ``bucket/filename``; False (and one log
        line) on any failure. Never raises."""
        return self._upload_as_bool(bucket, filename, file_bytes, _core.Control())

    def _upload_as_bool(
        self, bucket: str, filename: str, file_bytes: bytes, control: _core.Control
    ) -> bool:
        return self._as_bool(
            "upload",
            bucket,
            filename,
            lambda: self._put_bytes(bucket, filename, file_bytes, None, None, control),
        )

    def download(self, folder: str, filename: str) -> bool:
        """Downloads object ``filename`` of bucket ``folder`` to the local
        ``folder/filename``; False (and one log line) on any failure. Never
        raises."""
        return self._download_as_bool(folder, filename, _core.Control())

    def _download_as_bool(self, folder: str, filename: str, control: _core.Control) -> bool:
        return self._as_bool(
            "download", folder, filename, lambda: self._get_file(folder, filename, None, control)
        )

    def _as_bool(self, operation: str, bucket: str, key: str, action: Callable[[], object]) -> bool:
        try:
            action()
        except CDNError as err:
            log.error(
                "%s failed: bucket=%r key=%r reason=%s: %s",
                operation,
                bucket,
                key,
                err.reason,
                _printable(str(err)),
            )
            return False
        except Exception as err:  # the seed's contract: never raise
            log.error(
                "%s failed: bucket=%r key=%r reason=%s",
                operation,
                bucket,
                key,
                type(err).__name__,
            )
            return False
        return True
