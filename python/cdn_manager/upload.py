"""Uploading a buffer or a file: one PUT, or a concurrent multipart upload.

Every request carries a CRC computed by the Rust core (the server verifies
it), and the object keeps the full-object CRC as user metadata, so a later
download can prove every byte on any server. A multipart upload that fails
is aborted, so no parts are left behind.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from . import _core
from .config import TransferConfig
from .dataplane import DataPlane, ObjectOptions
from .integrity import encode, upload_metadata
from .parts import run_parts
from .retry import with_retries
from .source import Source

log = logging.getLogger("cdn_manager")


@dataclass
class Upload:
    """One object to store: what from, with what, and where."""

    plane: DataPlane
    #: The boto3 client of the write key, for the multipart control plane.
    client: Any
    bucket: str
    key: str
    source: Source
    options: ObjectOptions
    config: TransferConfig
    executor: Executor
    control: _core.Control

    @property
    def name(self) -> str:
        return f"{self.bucket}/{self.key}"

    def run(self) -> None:
        """Stores the object; raises botocore's or the data plane's errors."""
        size = self.source.size
        if size <= self.config.multipart_threshold:
            self._put()
        else:
            self._multipart(self.config.part_size_for(size))

    def _options(self, full_crc: int) -> ObjectOptions:
        metadata = {
            **self.options.metadata,
            **upload_metadata(self.config.checksum_algorithm, full_crc),
        }
        return replace(self.options, metadata=metadata)

    def _put(self) -> None:
        body, crc = self.source.read(0, self.source.size, None)
        options = self._options(crc)
        with_retries(
            lambda: self.plane.put(self.bucket, self.key, body, crc, options, self.control),
            self.config.max_attempts,
            f"put {self.name}",
        )

    def _multipart(self, part_size: int) -> None:
        algorithm = self.config.checksum_algorithm
        crcs = self.source.part_checksums(part_size)
        lengths = [
            min(part_size, self.source.size - start)
            for start in range(0, self.source.size, part_size)
        ]
        full = _core.combine_checksums(list(zip(crcs, lengths, strict=True)), algorithm)
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            ChecksumAlgorithm=algorithm.upper(),
            # A full-object CRC (not a CRC of part CRCs) where the server keeps
            # one; the metadata copy covers servers that keep none.
            ChecksumType="FULL_OBJECT",
            **self._options(full).boto3_params(),
        )["UploadId"]

        def send(number: int) -> dict[str, Any]:
            offset = (number - 1) * part_size
            body, crc = self.source.read(offset, lengths[number - 1], crcs[number - 1])
            etag = with_retries(
                lambda: self.plane.upload_part(
                    self.bucket, self.key, upload_id, number, body, crc, self.control
                ),
                self.config.max_attempts,
                f"part {number} of {self.name}",
            )
            return {"PartNumber": number, "ETag": etag, "Checksum" + algorithm.upper(): encode(crc)}

        try:
            parts = run_parts(
                self.executor,
                partial(send, 1),
                [partial(send, n) for n in range(2, len(crcs) + 1)],
                self.control,
            )
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                ChecksumType="FULL_OBJECT",
                **{"Checksum" + algorithm.upper(): encode(full)},
            )
        except BaseException:
            self._abort(upload_id)
            raise

    def _abort(self, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
        except Exception as err:
            log.warning(
                "could not abort multipart upload %s of %s (%s); its parts remain",
                upload_id,
                self.name,
                type(err).__name__,
            )
