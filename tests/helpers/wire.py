"""What a boto3 client actually sends: operation names and the access key
each request is signed with, read from the requests as they leave."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/s3/aws4_request")


@dataclass(frozen=True)
class Sent:
    operation: str
    access_key: str
    region: str
    url: str


def record_requests(client: Any) -> list[Sent]:
    """A list that fills with every request ``client`` sends from now on
    (retries included)."""
    sent: list[Sent] = []

    def on_send(request: Any, event_name: str, **_: Any) -> None:
        authorization = request.headers.get("Authorization", b"")
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        match = _CREDENTIAL.search(authorization)
        key, region = match.groups() if match else ("<unsigned>", "")
        sent.append(Sent(event_name.rsplit(".", 1)[-1], key, region, request.url))

    client.meta.events.register("before-send.s3", on_send)
    return sent
