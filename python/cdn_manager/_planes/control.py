"""The requests that carry no object bytes (listings, multipart steps,
copies, deletes, probes), each built here and sent through the boto3
client of the key that may make it; and the boto3 parameters of what an
upload stores beside its bytes, which the boto3 data plane shares.

Callers name the operation and pass plain values; no other module builds a
boto3 request dictionary.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .._checksums import encode
from .protocol import Condition, ObjectOptions

#: A listed part of a multipart upload, or one to complete it with, as the
#: S3 API spells it (``PartNumber``, ``ETag``, ``Checksum<ALG>``, ``Size``).
PartEntry = Mapping[str, Any]


def object_params(options: ObjectOptions) -> dict[str, Any]:
    """``options`` as PutObject, CreateMultipartUpload and CopyObject take them."""
    params: dict[str, Any] = {"Metadata": dict(options.metadata)}
    if options.content_type:
        params["ContentType"] = options.content_type
    if options.cache_control:
        params["CacheControl"] = options.cache_control
    if options.content_encoding:
        params["ContentEncoding"] = options.content_encoding
    return params


def condition_params(condition: Condition) -> dict[str, str]:
    """``condition`` as PutObject and CompleteMultipartUpload take it."""
    params = {}
    if condition.if_match is not None:
        params["IfMatch"] = condition.if_match
    if condition.if_none_match:
        params["IfNoneMatch"] = "*"
    return params


def checksum_params(algorithm: str, crc: int) -> dict[str, str]:
    """A request's own CRC, which the server verifies."""
    name = algorithm.upper()
    return {"ChecksumAlgorithm": name, "Checksum" + name: encode(crc, algorithm)}


def part_entry(number: int, etag: str, algorithm: str, crc: int) -> dict[str, Any]:
    """A part as CompleteMultipartUpload takes it."""
    return {"PartNumber": number, "ETag": etag, "Checksum" + algorithm.upper(): encode(crc)}


def part_checksum(entry: PartEntry, algorithm: str) -> str | None:
    """The ``algorithm`` checksum a listed part carries, if any."""
    value = entry.get("Checksum" + algorithm.upper())
    return None if value is None else str(value)


# Listings (read key).


def head(client: Any, bucket: str, key: str, part: int | None = None) -> dict[str, Any]:
    """A HeadObject answer, of part ``part`` of a multipart object if given."""
    extra = {} if part is None else {"PartNumber": part}
    answer: dict[str, Any] = client.head_object(Bucket=bucket, Key=key, **extra)
    return answer


def response_headers(answer: Mapping[str, Any]) -> dict[str, str]:
    """The HTTP headers of a boto3 answer, names in lower case."""
    headers: dict[str, str] = answer["ResponseMetadata"]["HTTPHeaders"]
    return headers


def retried(answer: Mapping[str, Any]) -> bool:
    """Whether botocore sent the request more than once to get ``answer``."""
    return bool(answer.get("ResponseMetadata", {}).get("RetryAttempts", 0))


def read_whole(client: Any, bucket: str, key: str) -> bytes:
    """A small object's bytes (the key audit's probe)."""
    body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


# Writes (write key).


def put_small(client: Any, bucket: str, key: str, body: bytes) -> None:
    """A small object with no options (the key audit's probe)."""
    client.put_object(Bucket=bucket, Key=key, Body=body)


def copy_in_place(
    client: Any, bucket: str, key: str, options: ObjectOptions, if_match: str | None
) -> str:
    """Replaces the headers and metadata of ``bucket/key`` with ``options``
    (a copy onto itself), if it still has ETag ``if_match``; its new ETag."""
    params = {
        **object_params(options),
        "Bucket": bucket,
        "Key": key,
        "CopySource": {"Bucket": bucket, "Key": key},
        "MetadataDirective": "REPLACE",
    }
    if if_match is not None:
        params["CopySourceIfMatch"] = if_match
    answer = client.copy_object(**params)
    return str(answer.get("CopyObjectResult", {}).get("ETag", ""))


def delete(client: Any, bucket: str, key: str, if_match: str | None = None) -> None:
    """Deletes ``bucket/key``, with ``if_match`` only if it has that ETag."""
    extra = {} if if_match is None else {"IfMatch": if_match}
    client.delete_object(Bucket=bucket, Key=key, **extra)


# Multipart uploads (write key; listing them may need the read key).


def create_multipart(
    client: Any, bucket: str, key: str, algorithm: str, options: ObjectOptions
) -> dict[str, Any]:
    """Begins a multipart upload whose object keeps a full-object CRC (not a
    CRC of the part CRCs) where the server keeps one; the answer holds
    ``UploadId``."""
    answer: dict[str, Any] = client.create_multipart_upload(
        Bucket=bucket,
        Key=key,
        ChecksumAlgorithm=algorithm.upper(),
        ChecksumType="FULL_OBJECT",
        **object_params(options),
    )
    return answer


def complete_multipart(
    client: Any,
    bucket: str,
    key: str,
    upload_id: str,
    parts: Sequence[PartEntry],
    algorithm: str,
    full_crc: int,
    condition: Condition,
) -> dict[str, Any]:
    """Completes an upload from ``parts`` (in order), stating the whole
    object's CRC, conditionally."""
    answer: dict[str, Any] = client.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": list(parts)},
        ChecksumType="FULL_OBJECT",
        **{"Checksum" + algorithm.upper(): encode(full_crc, algorithm)},
        **condition_params(condition),
    )
    return answer


def abort_multipart(client: Any, bucket: str, key: str, upload_id: str) -> None:
    client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def list_parts(
    client: Any, bucket: str, key: str, upload_id: str, limit: int | None = None
) -> Iterator[PartEntry]:
    """The parts stored for ``upload_id``; at most ``limit`` (one request)."""
    if limit is not None:
        answer = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, MaxParts=limit)
        yield from answer.get("Parts", [])
        return
    pages = client.get_paginator("list_parts").paginate(Bucket=bucket, Key=key, UploadId=upload_id)
    for page in pages:
        yield from page.get("Parts", [])


def list_uploads(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Pages of ListMultipartUploads of the keys under ``prefix``."""
    pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    yield from pages
