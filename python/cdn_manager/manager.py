"""CDNManager: the facade the seed module had, on the Rust core.

The raising methods (``put_bytes``, ``get_file``) are the one code path; the
seed's ``upload`` and ``download`` wrap them, log one line on failure and
return False.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from . import _core
from .audit import AuditReport, check
from .bufferio import as_byte_view
from .clients import make_client
from .config import TransferConfig
from .credentials import CDNCredentials
from .download import download_object
from .errors import CDNError, LocalIOError
from .s3errors import translate
from .upload import upload_view

log = logging.getLogger("cdn_manager")
T = TypeVar("T")


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
        self.download_client: Any = make_client(
            credentials.host,
            credentials.downloader_access_key,
            credentials.downloader_access_secret,
            self.config,
        )
        self.upload_client: Any = make_client(
            credentials.host,
            credentials.uploader_access_key,
            credentials.uploader_access_secret,
            self.config,
        )
        # Parts of every transfer of this manager share these workers, so
        # concurrent callers cannot multiply the connections in flight.
        self._executor = ThreadPoolExecutor(
            max_workers=self.config.concurrency, thread_name_prefix="cdn-manager"
        )

    def __repr__(self) -> str:
        return (
            f"CDNManager(host={self.creds.host!r}, "
            f"downloader_access_key={self.creds.downloader_access_key!r}, "
            f"uploader_access_key={self.creds.uploader_access_key!r})"
        )

    def close(self) -> None:
        """Stops the worker threads (they also stop at interpreter exit)."""
        self._executor.shutdown(wait=True)

    def __enter__(self) -> CDNManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, what: str, action: Callable[[], T]) -> T:
        """Runs ``action`` and turns every failure into a ``CDNError``."""
        try:
            return action()
        except CDNError:
            raise
        except OSError as err:
            raise LocalIOError(
                f"{what}: {err.strerror or err}", reason=type(err).__name__
            ) from None
        except Exception as err:
            raise translate(err, what, self.creds.secrets()) from None

    # The raising API.

    def put_bytes(self, bucket: str, key: str, data: bytes | bytearray | memoryview) -> None:
        """Stores ``data`` at ``bucket/key`` with the write key.

        Multipart above ``config.multipart_threshold``; every request carries
        a CRC the server can verify. Raises a :class:`CDNError` subclass.
        """
        view = as_byte_view(data)
        self._run(
            f"upload {bucket}/{key}",
            lambda: upload_view(self.upload_client, bucket, key, view, self.config, self._executor),
        )

    def get_file(self, bucket: str, key: str, folder: str | os.PathLike[str] | None = None) -> Path:
        """Downloads ``bucket/key`` with the read key to ``folder/key``
        (``folder`` defaults to the bucket name, relative to the working
        directory) and returns that path.

        The key must name a file strictly inside ``folder`` (else
        :class:`UnsafePath`); the file appears only once every byte is
        verified, and a file already there is untouched on failure.
        """
        target = Path(bucket if folder is None else folder)

        def run() -> Path:
            destination = Path(_core.prepare_destination(target, key))
            download_object(
                self.download_client, bucket, key, destination, self.config, self._executor
            )
            return destination

        return self._run(f"download {bucket}/{key}", run)

    def check(self, bucket: str) -> AuditReport:
        """Audits both keys against ``bucket``; see :func:`cdn_manager.audit.check`."""
        return check(self, bucket)

    # The seed's bool API.

    def upload(self, bucket: str, filename: str, file_bytes: bytes) -> bool:
        """Uploads ``file_bytes`` to ``bucket/filename``; False (and one log
        line) on any failure. Never raises."""
        return self._as_bool(
            "upload", bucket, filename, lambda: self.put_bytes(bucket, filename, file_bytes)
        )

    def download(self, folder: str, filename: str) -> bool:
        """Downloads object ``filename`` of bucket ``folder`` to the local
        ``folder/filename``; False (and one log line) on any failure. Never
        raises."""
        return self._as_bool("download", folder, filename, lambda: self.get_file(folder, filename))

    def _as_bool(self, operation: str, bucket: str, key: str, action: Callable[[], object]) -> bool:
        try:
            action()
        except CDNError as err:
            log.error(
                "%s failed: bucket=%r key=%r reason=%s: %s", operation, bucket, key, err.reason, err
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
