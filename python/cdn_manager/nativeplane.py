"""The native data plane: object requests signed and sent by the Rust core,
bytes moved between the socket and the file or buffer with the GIL released."""

from __future__ import annotations

from typing import Any

from . import _core
from .dataplane import ObjectOptions


class NativePlane:
    """Requests signed and sent by the Rust core. The key pair is read from
    the boto3 session's credentials at each request, so rotation and refresh
    apply exactly as they do for the boto3 client."""

    def __init__(self, engine: _core.Engine, credentials: Any, algorithm: str) -> None:
        self._engine = engine
        self._credentials = credentials
        self._algorithm = algorithm

    def _keys(self) -> tuple[str, str, str | None]:
        frozen = self._credentials.get_frozen_credentials()
        return frozen.access_key, frozen.secret_key, frozen.token

    def get(
        self,
        bucket: str,
        key: str,
        byte_range: tuple[int, int] | None = None,
        if_match: str | None = None,
    ) -> _core.Response:
        return self._engine.get(self._keys(), bucket, key, byte_range, if_match)

    def put(
        self,
        bucket: str,
        key: str,
        body: memoryview,
        crc: int,
        options: ObjectOptions,
        control: _core.Control,
    ) -> None:
        self._engine.put(
            self._keys(), bucket, key, body, (self._algorithm, crc), options.headers(), control
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
        response = self._engine.put(
            self._keys(),
            bucket,
            key,
            body,
            (self._algorithm, crc),
            [],
            control,
            (upload_id, number),
        )
        return response["etag"]
