"""A ListObjectsV2 page from its XML, as botocore parses it: the same
dictionary (``Contents`` entries with ``Key``, ``Size``, ``ETag``,
``LastModified``; ``CommonPrefixes``; ``IsTruncated``,
``NextContinuationToken``), so the listing code cannot tell which plane
listed. The native plane asks for ``encoding-type=url`` as botocore does
(a key may hold characters XML 1.0 cannot carry) and decodes the same
fields botocore decodes, the same way (``unquote_plus``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus
from xml.etree import ElementTree

#: ListObjectsV2's parameters as boto3 names them, and as the query does.
QUERY_NAMES = {
    "Prefix": "prefix",
    "Delimiter": "delimiter",
    "ContinuationToken": "continuation-token",
    "MaxKeys": "max-keys",
    "StartAfter": "start-after",
}
#: Top-level fields botocore decodes when the answer is url-encoded.
_ENCODED = ("Prefix", "Delimiter", "StartAfter")


def query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The query of a ListObjectsV2 request with boto3's ``params``."""
    pairs = [("list-type", "2"), ("encoding-type", "url")]
    for name, value in params.items():
        pairs.append((QUERY_NAMES[name], str(value)))
    return pairs


def parse(body: bytes) -> dict[str, Any]:
    """The page ``body`` (ListBucketResult XML) as botocore's dictionary."""
    root = ElementTree.fromstring(body)
    # S3 writes its namespace; a server that leaves it out is read alike.
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""

    def text(name: str) -> str | None:
        return root.findtext(ns + name)

    encoded = text("EncodingType") == "url"

    def decoded(value: str) -> str:
        return unquote_plus(value) if encoded else value

    page: dict[str, Any] = {"IsTruncated": text("IsTruncated") == "true"}
    for name in ("Name", "Prefix", "Delimiter", "StartAfter", "EncodingType"):
        value = text(name)
        if value is not None:
            page[name] = decoded(value) if name in _ENCODED else value
    for name in ("ContinuationToken", "NextContinuationToken"):
        value = text(name)
        if value is not None:
            page[name] = value
    for name in ("MaxKeys", "KeyCount"):
        value = text(name)
        if value is not None:
            page[name] = int(value)
    contents = [_entry(element, ns, decoded) for element in root.iter(ns + "Contents")]
    if contents:
        page["Contents"] = contents
    prefixes = [
        {"Prefix": decoded(element.findtext(ns + "Prefix") or "")}
        for element in root.iter(ns + "CommonPrefixes")
    ]
    if prefixes:
        page["CommonPrefixes"] = prefixes
    return page


def _entry(element: ElementTree.Element, ns: str, decoded: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for child in element:
        name = child.tag.removeprefix(ns)
        text = child.text or ""
        if name == "Key":
            entry["Key"] = decoded(text)
        elif name == "Size":
            entry["Size"] = int(text)
        elif name == "LastModified":
            entry["LastModified"] = _timestamp(text)
        elif name in ("ETag", "StorageClass", "ChecksumType"):
            entry[name] = text
        elif name == "ChecksumAlgorithm":
            entry.setdefault(name, []).append(text)
    return entry


def _timestamp(text: str) -> datetime:
    """ISO 8601 with its zone, as every S3 listing writes ``LastModified``
    (botocore parses the rarer forms; so does this, through it)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:
        return parsed
    from botocore.utils import parse_timestamp

    value: datetime = parse_timestamp(text)
    return value
