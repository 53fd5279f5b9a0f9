"""What the embedded server (:mod:`cdn_manager.local_server`) changes in moto,
in the server's own process, so that it serves what the README shows.

- **Presigned URLs under IAM enforcement.** moto's IAM check reads the
  ``Authorization`` header, which a presigned GET does not have, and answers
  HTTP 500. Here a request signed in its query string is checked as S3
  checks it: the SigV4 query signature recomputed with the key's secret
  (botocore's own signer), the expiry, and then the key's IAM policies, as
  for a header-signed request. A URL signed with the write key, tampered
  with or expired is refused; header-signed requests are untouched.
- **Ranged GETs read only their range.** moto builds every GET's body as a
  copy of the whole object (0.72 s per 8 MiB range of a 1 GiB object, so
  ~13 MB/s for a parallel download). Here a GET's body is a view of the
  stored object that reads only the bytes a range asks for, and streams a
  whole object in 1 MiB pieces.

Both are patches of moto internals, applied only where they fit (checked by
the test suite on the moto version it installs); if a future moto changes
shape, the server still starts and works, with moto's own behaviour and a
warning.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("cdn_manager")

#: Bytes per piece when a whole object is streamed.
STREAM_PIECE = 1024 * 1024


def apply() -> None:
    """Applies both changes to moto in this process (idempotent)."""
    for patch in (_presigned_urls, _ranged_reads):
        try:
            patch()
        except (AttributeError, ImportError, TypeError) as err:  # a moto of another shape
            log.warning("local server: moto not patched (%s: %s)", patch.__name__, err)


def _presigned_urls() -> None:
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from moto.iam import access_control as typed_access_control

    # moto's internals, patched: typed as Any, they are checked by the tests.
    access_control: Any = typed_access_control
    base: Any = access_control.S3IAMRequest
    if getattr(base, "cdn_manager_patched", False):
        return

    class QuerySignedS3Request(base):  # type: ignore[misc]
        """moto's S3 IAM request, also for requests signed in the query."""

        cdn_manager_patched = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            names = ("account_id", "method", "path", "data", "body", "headers", "action")
            fields = {**dict(zip(names, args, strict=False)), **kwargs}
            headers = dict(fields["headers"])
            self._query = dict(parse_qsl(urlsplit(fields["path"]).query, keep_blank_values=True))
            self._in_query = "Authorization" not in headers and "X-Amz-Signature" in self._query
            if self._in_query:
                # What moto reads from the header, taken from the query.
                q = self._query
                headers["Authorization"] = (
                    f"AWS4-HMAC-SHA256 Credential={q.get('X-Amz-Credential', '')}, "
                    f"SignedHeaders={q.get('X-Amz-SignedHeaders', '')}, "
                    f"Signature={q['X-Amz-Signature']}"
                )
                headers["X-Amz-Date"] = q.get("X-Amz-Date", "")
            fields["headers"] = headers
            super().__init__(**fields)

        def check_signature(self) -> None:
            if not self._in_query:
                super().check_signature()
                return
            try:
                signed_at = datetime.strptime(self._query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
                lifetime = timedelta(seconds=int(self._query["X-Amz-Expires"]))
            except (KeyError, ValueError):
                self._raise_access_denied()
                return
            if datetime.now(UTC).replace(tzinfo=None) > signed_at + lifetime:
                self._raise_access_denied()  # expired: S3 says AccessDenied too
            if not hmac.compare_digest(self._query_signature(), self._query["X-Amz-Signature"]):
                self._raise_signature_does_not_match()

        def _query_signature(self) -> str:
            """The signature S3 expects: the canonical request of the URL
            without its signature, as botocore's presigner signs it."""
            parts = urlsplit(self._path)
            unsigned = "&".join(
                p for p in parts.query.split("&") if not p.startswith("X-Amz-Signature=")
            )
            signed = self._query.get("X-Amz-SignedHeaders", "host").split(";")
            request = AWSRequest(
                method=self._method,
                url=f"{parts.path}?{unsigned}",
                headers=self._create_headers_for_aws_request(signed, self._headers),
            )
            request.context["timestamp"] = self._query["X-Amz-Date"]
            auth = S3SigV4QueryAuth(
                self._access_key.create_credentials(),
                self._service,
                self._region,
                expires=int(self._query["X-Amz-Expires"]),
            )
            canonical = auth.canonical_request(request)
            return str(auth.signature(auth.string_to_sign(request, canonical), request))

    access_control.S3IAMRequest = QuerySignedS3Request


class StoredBody:
    """The bytes of a stored moto object, read only where asked: ``len()``
    and slices for moto's Range handling, 1 MiB pieces when sent whole."""

    def __init__(self, key: Any) -> None:
        self._key = key
        self._size = int(key.size)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, where: slice) -> bytes:
        start, stop, step = where.indices(self._size)
        if step != 1:
            raise TypeError("only contiguous slices of an object")
        return self._read(start, max(stop - start, 0))

    def __iter__(self) -> Iterator[bytes]:
        for offset in range(0, self._size, STREAM_PIECE):
            yield self._read(offset, min(STREAM_PIECE, self._size - offset))

    def _read(self, offset: int, length: int) -> bytes:
        # The key's own lock, which moto takes around its buffer too.
        with self._key.lock:
            buffer = self._key._value_buffer
            buffer.seek(offset)
            return bytes(buffer.read(length))


def _ranged_reads() -> None:
    from moto.s3 import models as typed_models
    from moto.s3 import responses as typed_responses

    models: Any = typed_models
    responses: Any = typed_responses
    if getattr(responses.S3Response.get_object, "cdn_manager_patched", False):
        return
    stored: property = models.FakeKey.value
    getter = stored.fget
    assert getter is not None
    serving = threading.local()

    def value(key: Any) -> Any:
        # Within a GET only (its body); everything else keeps moto's bytes.
        return StoredBody(key) if getattr(serving, "get", False) else getter(key)

    original = responses.S3Response.get_object

    def get_object(self: Any) -> Any:
        serving.get = True
        try:
            return original(self)
        finally:
            serving.get = False

    get_object.cdn_manager_patched = True  # type: ignore[attr-defined]
    models.FakeKey.value = property(value, stored.fset)
    responses.S3Response.get_object = get_object
