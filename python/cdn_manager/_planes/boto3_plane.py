"""The boto3 data plane: every object request through a boto3 client, so
botocore's HTTP stack, proxies and CA bundles apply.

Its clients make one attempt per request: the transfer flows retry object
requests themselves, within the manager's retry quota, exactly as they do on
the native plane (botocore's retries would have a quota of their own).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from .. import _core
from .control import checksum_params, condition_params, object_params, response_headers
from .failures import Truncated
from .protocol import CHUNK, Get, Head, ListPage, Put


class ProgressReader(io.RawIOBase):
    """Reads a memoryview for botocore, reporting progress, honouring
    cancellation and keeping to the bandwidth limit; ``read`` copies only the
    chunk asked for, and a rewind (a botocore retry) takes back the progress
    already reported."""

    def __init__(self, view: memoryview, control: _core.Control) -> None:
        super().__init__()
        self._view = view
        self._pos = 0
        self._control = control
        #: False while botocore reads the body to sign it (always, over plain
        #: HTTP) and rewinds it: only the bytes sent count, for progress and
        #: for the bandwidth limit (which counted every body twice).
        self._sending = True

    def signal_not_transferring(self) -> None:
        self._sending = False

    def signal_transferring(self) -> None:
        self._sending = True

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
        if self._sending:
            self._control.moved(n)
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        position = min(max(0, base + offset), len(self._view))
        if self._sending:
            self._control.advance(position - self._pos)
        self._pos = position
        return self._pos

    def tell(self) -> int:
        return self._pos


def _signing(request: Any, **kwargs: Any) -> None:
    if isinstance(request.body, ProgressReader):
        request.body.signal_not_transferring()


def _signed(request: Any, **kwargs: Any) -> None:
    if isinstance(request.body, ProgressReader):
        request.body.signal_transferring()


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
        self._headers: Mapping[str, str] = response_headers(response)
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


class Boto3Plane:
    """Every request through a boto3 client: botocore's HTTP stack, proxies,
    CA bundles and all."""

    def __init__(self, make_client: Callable[[], Any], algorithm: str) -> None:
        self._make_client = make_client
        self._algorithm = algorithm

    @cached_property
    def _client(self) -> Any:
        # Made on first use: an adaptive manager may never need it.
        client = self._make_client()
        # Around the handlers of "request-created", the signer among them, as
        # s3transfer does it: what signing reads is not sent.
        events = client.meta.events
        events.register_first("request-created.s3", _signing, unique_id="cdn-manager-signing")
        events.register_last("request-created.s3", _signed, unique_id="cdn-manager-signed")
        return client

    def get(self, request: Get) -> Boto3Response:
        params: dict[str, Any] = {
            "Bucket": request.bucket,
            "Key": request.key,
            "ChecksumMode": "ENABLED",
        }
        if request.byte_range is not None:
            start, end = request.byte_range
            params["Range"] = f"bytes={start}-{end - 1}"
        if request.if_match is not None:
            params["IfMatch"] = request.if_match
        return Boto3Response(self._client.get_object(**params))

    def head(self, request: Head) -> Mapping[str, str]:
        return response_headers(
            self._client.head_object(Bucket=request.bucket, Key=request.key, ChecksumMode="ENABLED")
        )

    def list_page(self, request: ListPage) -> dict[str, Any]:
        return dict(self._client.list_objects_v2(Bucket=request.bucket, **request.params))

    def put(self, request: Put) -> str:
        params: dict[str, Any] = {
            "Bucket": request.bucket,
            "Key": request.key,
            "ContentLength": len(request.body),
            **checksum_params(self._algorithm, request.crc),
        }
        if request.part is None:
            method = self._client.put_object
            params.update(object_params(request.options))
            params.update(condition_params(request.condition))
        else:
            method = self._client.upload_part
            params["UploadId"], params["PartNumber"] = request.part
        with _rewound_on_failure(ProgressReader(request.body, request.control)) as reader:
            response = method(Body=reader, **params)
        return str(response.get("ETag", ""))
