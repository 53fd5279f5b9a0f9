"""Downloading an object to a file: one streamed GET, or concurrent ranged
GETs written at their offsets, verified end to end, then committed.

The bytes go to a temporary file beside the destination (Rust ``FileWriter``);
only a fully received and verified object is renamed into place.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from . import _core
from .config import TransferConfig
from .errors import IntegrityError
from .integrity import Expectation, expectation, verify
from .retry import Truncated, is_transient, with_retries
from .s3errors import error_code

log = logging.getLogger("cdn_manager")

#: Bytes read from a response per call into the Rust writer.
CHUNK = 1024 * 1024


class _ObjectChanged(Exception):
    """The object was replaced while its parts were being fetched."""


def _drain(body: Any, sink: Any, length: int) -> None:
    """Streams ``length`` bytes of ``body`` into ``sink``; raises
    :class:`Truncated` if the body ends early."""
    remaining = length
    while remaining > 0:
        chunk = body.read(min(CHUNK, remaining))
        if not chunk:
            raise Truncated(f"body ended {remaining} bytes short")
        sink.write(chunk)
        remaining -= len(chunk)


def _ranges(size: int, part_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + part_size, size)) for start in range(0, size, part_size)]


def _composite_part_size(client: Any, bucket: str, key: str, exp: Expectation) -> int | None:
    """Part size of a multipart object, assuming equal parts but the last (as
    every mainstream uploader makes them); None if the sizes disagree."""
    assert exp.composite is not None
    count = exp.composite[1]
    first = client.head_object(Bucket=bucket, Key=key, PartNumber=1, IfMatch=exp.etag)
    part_size = int(first["ContentLength"])
    if part_size <= 0 or not (count - 1) * part_size < exp.size <= count * part_size:
        return None
    return part_size


def download_object(
    client: Any,
    bucket: str,
    key: str,
    destination: Path,
    config: TransferConfig,
    executor: Executor,
) -> None:
    """Downloads ``bucket/key`` to ``destination`` (its folder must exist).

    Retries the whole object when it fails verification or changes midway;
    raises :class:`IntegrityError` when it keeps failing verification.
    """
    for attempt in range(1, config.max_attempts + 1):
        try:
            _download_once(client, bucket, key, destination, config, executor)
            return
        except (IntegrityError, _ObjectChanged) as err:
            if attempt == config.max_attempts:
                if isinstance(err, _ObjectChanged):
                    raise IntegrityError(
                        "object kept changing during the download", reason="ObjectChanged"
                    ) from None
                raise
            log.warning("download %s/%s: %s; retrying (attempt %d)", bucket, key, err, attempt + 1)


def _download_once(
    client: Any,
    bucket: str,
    key: str,
    destination: Path,
    config: TransferConfig,
    executor: Executor,
) -> None:
    first = with_retries(
        lambda: client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED"),
        config.max_attempts,
        f"get {bucket}/{key}",
    )
    body = first["Body"]
    try:
        exp = expectation(first)
        part_size = config.part_size_for(exp.size)
        if exp.composite is not None:
            layout = _composite_part_size(client, bucket, key, exp)
            if layout is None:
                log.warning("download %s/%s: unknown part layout, checking size only", bucket, key)
                exp = Expectation(exp.size, exp.etag)
            else:
                part_size = layout
        # A composite CRC needs the parts exactly as uploaded, even when small.
        sequential = exp.needs_sequential_read or (
            exp.composite is None and exp.size <= config.download_threshold
        )
        ranges = [(0, exp.size)] if sequential or exp.size == 0 else _ranges(exp.size, part_size)
        writer = _core.FileWriter(destination, exp.size)
    except BaseException:
        body.close()
        raise
    try:
        sinks = _fetch(client, bucket, key, exp, ranges, body, writer, config, executor)
        verify(exp, sinks)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        body.close()


def _fetch(
    client: Any,
    bucket: str,
    key: str,
    exp: Expectation,
    ranges: list[tuple[int, int]],
    first_body: Any,
    writer: Any,
    config: TransferConfig,
    executor: Executor,
) -> list[Any]:
    """Writes every range; the first comes from the already open response."""

    def new_sink(start: int) -> Any:
        return writer.part(start, algorithm=exp.algorithm, md5=exp.md5 is not None)

    def ranged(start: int, end: int) -> Any:
        def attempt() -> Any:
            sink = new_sink(start)
            try:
                response = client.get_object(
                    Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}", IfMatch=exp.etag
                )
            except ClientError as err:
                if error_code(err) in ("PreconditionFailed", "412"):
                    raise _ObjectChanged() from None
                raise
            try:
                _drain(response["Body"], sink, end - start)
            finally:
                response["Body"].close()
            return sink

        return with_retries(attempt, config.max_attempts, f"range {start}-{end} of {bucket}/{key}")

    def first_range() -> Any:
        start, end = ranges[0]
        try:
            sink = new_sink(start)
            _drain(first_body, sink, end - start)
            return sink
        except Exception as err:
            if not is_transient(err):
                raise
            log.debug("first range of %s/%s failed (%s), refetching", bucket, key, err)
            return ranged(start, end)

    futures: list[Future[Any]] = []
    try:
        futures = [executor.submit(ranged, s, e) for s, e in ranges[1:]]
        sinks = [first_range()]
        sinks.extend(f.result() for f in futures)
        return sinks
    except BaseException:
        for f in futures:
            f.cancel()
        for f in futures:
            if not f.cancelled():
                f.exception()
        raise
