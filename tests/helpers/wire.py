"""What actually goes on the wire, whichever data plane sends it: the S3
operation of each request a proxy saw, and the key pair that signed it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from helpers.faultproxy import Exchange, FaultProxy

_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/s3/aws4_request")


@dataclass(frozen=True)
class Sent:
    operation: str
    access_key: str
    region: str
    #: Path and query, as sent.
    target: str
    user_agent: str


def operation(method: str, target: str) -> str:
    """The S3 operation a path-style request performs."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    on_object = parts.path.strip("/").count("/") >= 1
    if method == "PUT":
        return "UploadPart" if "uploadId" in query else "PutObject"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    if method == "HEAD":
        return "HeadObject" if on_object else "HeadBucket"
    if "uploads" in query:
        return "ListMultipartUploads"
    if "uploadId" in query:
        return "ListParts"
    return "GetObject" if on_object else "ListObjects"


def _sent(exchange: Exchange) -> Sent:
    match = _CREDENTIAL.search(exchange.authorization or "")
    key, region = match.groups() if match else ("<unsigned>", "")
    return Sent(
        operation(exchange.method, exchange.target),
        key,
        region,
        exchange.target,
        exchange.user_agent or "",
    )


def sent(proxy: FaultProxy) -> list[Sent]:
    """Every request the proxy has seen so far, retries included."""
    return [_sent(exchange) for exchange in proxy.exchanges]
