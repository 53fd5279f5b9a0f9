"""The boto3 data plane: every object request through the boto3 client, so
botocore's HTTP stack, proxies and CA bundles apply."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore import exceptions as bex

from . import _core
from .dataplane import CHUNK, ObjectOptions
from .integrity import encode
from .retry import RETRIED_BY_BOTOCORE
from .s3errors import Truncated


class ProgressReader(io.RawIOBase):
    """Reads a memoryview for botocore, reporting progress and honouring
    cancellation; ``read`` copies only the chunk asked for, and a rewind (a
    botocore retry) takes back the progress already reported."""

    def __init__(self, view: memoryview, control: _core.Control) -> None:
        super().__init__()
        self._view = view
        self._pos = 0
        self._control = control

    def __len__(self) -> int:
        return len(self._view)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._control.check()
        n = min(len(buffer), len(self._view) - self._pos)
        if n <= 0:
            return 0
        buffer[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        self._control.advance(n)
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        position = min(max(0, base + offset), len(self._view))
        self._control.advance(position - self._pos)
        self._pos = position
        return self._pos

    def tell(self) -> int:
        return self._pos


@contextmanager
def _rewound_on_failure(reader: ProgressReader) -> Iterator[ProgressReader]:
    """Takes back the progress of a failed request: the retry counts again."""
    try:
        yield reader
    except BaseException:
        reader.seek(0)
        raise


class Boto3Response:
    def __init__(self, response: Mapping[str, Any]) -> None:
        self._headers: Mapping[str, str] = response["ResponseMetadata"]["HTTPHeaders"]
        self._body = response["Body"]

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    def read_into(self, sink: _core.PartSink, length: int) -> None:
        remaining = length
        while remaining > 0:
            chunk = self._body.read(min(CHUNK, remaining))
            if not chunk:
                raise Truncated(f"body ended {remaining} bytes short")
            sink.write(chunk)
            remaining -= len(chunk)

    def close(self) -> None:
        self._body.close()


def _call(method: Any, **params: Any) -> Any:
    """Calls a boto3 client method, marking what botocore already retried."""
    try:
        return method(**params)
    except (bex.ConnectionError, bex.HTTPClientError) as err:
        setattr(err, RETRIED_BY_BOTOCORE, True)
        raise
    except bex.ClientError as err:
        if err.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) > 0:
            setattr(err, RETRIED_BY_BOTOCORE, True)
        raise


class Boto3Plane:
    """Every request through a boto3 client: botocore's HTTP stack, proxies,
    CA bundles and all."""

    def __init__(self, client: Any, algorithm: str) -> None:
        self._client = client
        self._algorithm = algorithm

    def _checksum(self, crc: int) -> dict[str, str]:
        name = self._algorithm.upper()
        return {"ChecksumAlgorithm": name, "Checksum" + name: encode(crc)}

    def get(
        self,
        bucket: str,
        key: str,
        byte_range: tuple[int, int] | None = None,
        if_match: str | None = None,
    ) -> Boto3Response:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if byte_range is not None:
            params["Range"] = f"bytes={byte_range[0]}-{byte_range[1] - 1}"
        if if_match is not None:
            params["IfMatch"] = if_match
        return Boto3Response(_call(self._client.get_object, **params))

    def put(
        self,
        bucket: str,
        key: str,
        body: memoryview,
        crc: int,
        options: ObjectOptions,
        control: _core.Control,
    ) -> None:
        with _rewound_on_failure(ProgressReader(body, control)) as reader:
            _call(
                self._client.put_object,
                Bucket=bucket,
                Key=key,
                Body=reader,
                ContentLength=len(body),
                **self._checksum(crc),
                **options.boto3_params(),
            )

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: memoryview,
        crc: int,
        control: _core.Control,
    ) -> str:
        with _rewound_on_failure(ProgressReader(body, control)) as reader:
            response = _call(
                self._client.upload_part,
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=reader,
                ContentLength=len(body),
                **self._checksum(crc),
            )
        return str(response["ETag"])
