"""The ways an object gets into a bucket, for tests of what a download
proves: this library, boto3's own uploads, and a bare PUT with no checksum."""

from __future__ import annotations

import io
from collections.abc import Callable

from boto3.s3.transfer import TransferConfig as S3TransferConfig

from conftest import MiB, Server, admin_client


def write_with_cdn_manager(server: Server, bucket: str, key: str, data: bytes) -> None:
    server.manager().put_bytes(bucket, key, data)


def write_with_boto3(server: Server, bucket: str, key: str, data: bytes) -> None:
    """boto3's own upload: one PUT with a CRC32 up to 5 MiB, else multipart
    with 5 MiB parts, each with a CRC32 (a composite CRC where kept)."""
    parts = 5 * MiB
    config = S3TransferConfig(multipart_threshold=parts, multipart_chunksize=parts)
    server.admin.upload_fileobj(io.BytesIO(data), bucket, key, Config=config)


def write_with_boto3_md5_only(server: Server, bucket: str, key: str, data: bytes) -> None:
    """One PUT with no checksum at all: only the ETag (an MD5) describes it."""
    key_id, secret = server.admin_key
    client = admin_client(server.endpoint, key_id, secret, checksums="when_required")
    client.put_object(Bucket=bucket, Key=key, Body=data)


Writer = Callable[[Server, str, str, bytes], None]
WRITERS: dict[str, Writer] = {
    "cdn-manager": write_with_cdn_manager,
    "boto3": write_with_boto3,
    "boto3-md5-only": write_with_boto3_md5_only,
}
