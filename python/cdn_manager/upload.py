"""Uploading a buffer: one PUT, or a concurrent multipart upload.

Every request carries a CRC computed by the Rust core (the server verifies
it), and the object keeps the full-object CRC as user metadata, so a later
download can prove every byte on any server.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, Future
from typing import Any

from . import _core
from .bufferio import BufferReader
from .config import TransferConfig
from .integrity import encode, upload_metadata
from .retry import with_retries

log = logging.getLogger("cdn_manager")


def _checksum_args(algorithm: str, crc: int) -> dict[str, str]:
    return {"ChecksumAlgorithm": algorithm.upper(), "Checksum" + algorithm.upper(): encode(crc)}


def upload_view(
    client: Any,
    bucket: str,
    key: str,
    view: memoryview,
    config: TransferConfig,
    executor: Executor,
    extra: dict[str, Any] | None = None,
) -> None:
    """Stores ``view`` at ``bucket/key``; raises botocore's errors as they come."""
    algorithm = config.checksum_algorithm
    extra = dict(extra or {})
    size = len(view)
    if size <= config.multipart_threshold:
        crc = _core.checksum(view, algorithm)
        with_retries(
            lambda: client.put_object(
                Bucket=bucket,
                Key=key,
                Body=BufferReader(view),
                ContentLength=size,
                Metadata=upload_metadata(algorithm, crc),
                **_checksum_args(algorithm, crc),
                **extra,
            ),
            config.max_attempts,
            f"put {bucket}/{key}",
        )
        return
    part_size = config.part_size_for(size)
    crcs = _core.part_checksums(view, part_size, algorithm)
    slices = [view[i : i + part_size] for i in range(0, size, part_size)]
    full = _core.combine_checksums(
        [(c, len(s)) for c, s in zip(crcs, slices, strict=True)], algorithm
    )
    upload_id = client.create_multipart_upload(
        Bucket=bucket,
        Key=key,
        ChecksumAlgorithm=algorithm.upper(),
        # A full-object CRC (not a CRC of part CRCs) where the server keeps
        # one; the metadata copy covers servers that keep none.
        ChecksumType="FULL_OBJECT",
        Metadata=upload_metadata(algorithm, full),
        **extra,
    )["UploadId"]

    def send(number: int, part: memoryview, crc: int) -> dict[str, Any]:
        response = with_retries(
            lambda: client.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=BufferReader(part),
                ContentLength=len(part),
                **_checksum_args(algorithm, crc),
            ),
            config.max_attempts,
            f"part {number} of {bucket}/{key}",
        )
        return {
            "PartNumber": number,
            "ETag": response["ETag"],
            "Checksum" + algorithm.upper(): encode(crc),
        }

    futures: list[Future[dict[str, Any]]] = []
    try:
        futures = [
            executor.submit(send, n, part, crc)
            for n, (part, crc) in enumerate(zip(slices, crcs, strict=True), start=1)
        ]
        parts = [f.result() for f in futures]
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            ChecksumType="FULL_OBJECT",
            **{"Checksum" + algorithm.upper(): encode(full)},
        )
    except BaseException:
        for f in futures:
            f.cancel()
        for f in futures:
            if not f.cancelled():
                f.exception()  # wait: no part may land after the abort
        _abort(client, bucket, key, upload_id)
        raise


def _abort(client: Any, bucket: str, key: str, upload_id: str) -> None:
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except Exception as err:
        log.warning(
            "could not abort multipart upload %s of %s/%s (%s); its parts remain",
            upload_id,
            bucket,
            key,
            type(err).__name__,
        )
