"""Uploading a buffer or a file: one PUT, or a concurrent multipart upload.

Every request carries a CRC computed by the Rust core (the server verifies
it), and the object keeps the full-object CRC as user metadata, so a later
download can prove every byte on any server. A multipart upload that fails
is aborted, so no parts are left behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from . import _core
from .escape import shown
from .integrity import encode, expectation, upload_metadata
from .planes.base import Condition, DataPlane, ObjectOptions, Put
from .s3errors import ETagMismatch
from .source import Source
from .transfer import Transfer, run_parts
from .unaborted import abort

log = logging.getLogger("cdn_manager")


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

    @property
    def plane(self) -> DataPlane:
        return self.transport.upload_plane

    @property
    def client(self) -> Any:
        return self.transport.upload_client

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
        algorithm = self.config.checksum_algorithm
        crcs = self.source.part_checksums(part_size, self.control)
        lengths = [
            min(part_size, self.source.size - start)
            for start in range(0, self.source.size, part_size)
        ]
        full = _core.combine_checksums(list(zip(crcs, lengths, strict=True)), algorithm)
        # Uploads an earlier failure could not abort (the server was down):
        # the server answers again if this upload gets going.
        self.transport.unaborted.retry(self.client)
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            ChecksumAlgorithm=algorithm.upper(),
            # A full-object CRC (not a CRC of part CRCs) where the server keeps
            # one; the metadata copy covers servers that keep none.
            ChecksumType="FULL_OBJECT",
            **self._options(full).boto3_params(),
        )["UploadId"]
        log.debug("upload %s of %s: created", shown(upload_id), shown(self.name))

        def send(number: int) -> dict[str, Any]:
            offset = (number - 1) * part_size
            body, crc = self.source.read(offset, lengths[number - 1], crcs[number - 1])
            md5 = _core.md5_hex(body) if self.config.verify_etag else None

            request = Put(self.bucket, self.key, body, crc, self.control, part=(upload_id, number))

            def attempt() -> str:
                etag = self.plane.put(request)
                if md5 is not None and etag.strip('"').lower() != md5:
                    raise ETagMismatch(f"part {number}: the server stored other bytes ({etag})")
                return etag

            etag = self.retried(attempt, f"part {number} of {self.name}")
            return {"PartNumber": number, "ETag": etag, "Checksum" + algorithm.upper(): encode(crc)}

        try:
            parts = run_parts(
                self.transport.executor,
                partial(send, 1),
                [partial(send, n) for n in range(2, len(crcs) + 1)],
                self.control,
            )
            # Every part is stored, but a cancelled upload must not become an
            # object: its batch reports it as not done, and aborts it here.
            self.control.check()
            return self._complete(upload_id, parts, full)
        except BaseException:
            self._abort(upload_id)
            raise

    def _complete(self, upload_id: str, parts: list[dict[str, Any]], full: int) -> str:
        algorithm = self.config.checksum_algorithm
        try:
            response = self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                ChecksumType="FULL_OBJECT",
                **{"Checksum" + algorithm.upper(): encode(full)},
                **self.condition.boto3_params(),
            )
        except ClientError as err:
            # botocore asked again after an attempt whose answer was lost: the
            # upload may be complete already, and the retry refused as unknown.
            if err.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) == 0:
                raise
            etag = self._stored(full)
            if etag is None:
                raise
            log.info("upload %s: completed by an attempt whose answer was lost", shown(self.name))
            return etag
        log.debug("upload %s of %s: completed", shown(upload_id), shown(self.name))
        return str(response.get("ETag", ""))

    def _stored(self, full: int) -> str | None:
        """The ETag of the object now at the key if it is this upload's (its
        size and the full-object CRC it carries as metadata, read with the
        read key), else None."""
        try:
            head = self.transport.download_client.head_object(Bucket=self.bucket, Key=self.key)
        except ClientError:
            return None
        headers = head["ResponseMetadata"]["HTTPHeaders"]
        stored = expectation(headers)
        if stored.size == self.source.size and stored.full_crc == full:
            return stored.etag
        return None

    def _abort(self, upload_id: str) -> None:
        if not abort(self.client, self.bucket, self.key, upload_id):
            self.transport.unaborted.add(self.bucket, self.key, upload_id)
