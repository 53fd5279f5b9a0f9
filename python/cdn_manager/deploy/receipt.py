"""Receipts: one JSON document recording what a push or pull left in the
bucket and on disk, and the check that both still match it later
(``cdn-manager verify RECEIPT``).

Per object key: its size (of the file: uncompressed), the checksum of its
content (algorithm and value, as S3 writes values), its ETag, its version
id when the bucket reported one, the local path, and the headers a push set
(a pull records none). The bucket side is checked with the read key (one
HEAD per object): the object must have the recorded ETag, checksum and
headers. The local side re-reads every file: it must have the recorded
size and checksum.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _core
from ..errors import CDNError, ConfigError, NotFound
from ..escape import shown
from ..integrity import decode, encode
from ..transfer import run_each
from .remote import proven
from .rules import Headers

if TYPE_CHECKING:
    from ..operations import Operations
    from .plan import HeaderUpdate, Unchanged, Upload
    from .run import DeployReport

FORMAT = "cdn-manager receipt 1"


@dataclass(frozen=True)
class Entry:
    """What a receipt records of one object."""

    key: str
    size: int
    algorithm: str
    crc: int
    etag: str
    path: str
    headers: Headers | None = None
    version_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "checksum": {"algorithm": self.algorithm, "value": encode(self.crc, self.algorithm)},
            "etag": self.etag,
            "version_id": self.version_id,
            "path": self.path,
            "headers": None if self.headers is None else self.headers.as_dict(),
        }


@dataclass
class Receipt:
    """A whole receipt."""

    command: str
    endpoint: str
    bucket: str
    prefix: str
    folder: str
    entries: list[Entry] = field(default_factory=list)

    def write(self, path: str | os.PathLike[str]) -> Path:
        document = {
            "format": FORMAT,
            "command": self.command,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "folder": self.folder,
            "objects": {entry.key: entry.as_json() for entry in self.entries},
        }
        target = Path(path)
        temp = target.with_name(f".{target.name}.tmp")
        temp.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        os.replace(temp, target)
        return target

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Receipt:
        """Raises :class:`ConfigError` for a file that is no receipt."""
        try:
            document = json.loads(Path(path).read_text())
            if document.get("format") != FORMAT:
                raise ValueError("not a cdn-manager receipt")
            receipt = cls(
                document["command"],
                document["endpoint"],
                document["bucket"],
                document["prefix"],
                document["folder"],
            )
            for key, item in document["objects"].items():
                algorithm = item["checksum"]["algorithm"]
                crc = decode(item["checksum"]["value"], algorithm)
                if crc is None:
                    raise ValueError(f"bad checksum for {key!r}")
                headers = item.get("headers")
                receipt.entries.append(
                    Entry(
                        key,
                        int(item["size"]),
                        algorithm,
                        crc,
                        str(item["etag"]),
                        str(item["path"]),
                        None if headers is None else Headers.from_dict(headers),
                        item.get("version_id"),
                    )
                )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            message = err.strerror if isinstance(err, OSError) else err
            raise ConfigError(f"receipt {shown(str(path))}: {message}", reason="Receipt") from None
        return receipt


def write_receipt(path: str | os.PathLike[str], ops: Operations, report: DeployReport) -> Path:
    """The receipt of a deploy: every object the folder now maps to."""
    plan = report.plan
    receipt = Receipt("push", ops.creds.host, plan.bucket, plan.prefix, str(plan.folder))
    done: list[Upload | HeaderUpdate] = [*report.uploaded, *report.updated, *report.reuploaded]
    for change in done:
        receipt.entries.append(_entry(change, report.etags[change.key]))
    for same in plan.unchanged:
        receipt.entries.append(_entry(same, same.etag))
    receipt.entries.sort(key=lambda entry: entry.key)
    return receipt.write(path)


def _entry(change: Upload | HeaderUpdate | Unchanged, etag: str) -> Entry:
    algorithm, crc = change.checksum
    file = change.file
    return Entry(change.key, file.size, algorithm, crc, etag, str(file.path), change.headers)


def verify(
    ops: Operations, receipt: Receipt, *, bucket: bool = True, local: bool = True
) -> list[str]:
    """One line per difference between the receipt and the bucket (HEADs
    with the read key) and/or the local files (re-read); empty if all match."""

    def check_object(entry: Entry) -> list[str]:
        name = shown(entry.key)
        try:
            info = ops.stat(receipt.bucket, entry.key)
        except NotFound:
            return [f"{name}: missing from the bucket"]
        except CDNError as err:
            return [f"{name}: cannot check the object: {shown(str(err))}"]
        state = proven(info)
        found = []
        if state.etag != entry.etag:
            found.append(f"{name}: ETag is {shown(state.etag)}, receipt has {shown(entry.etag)}")
        comparable = state.content is not None and state.content[0] == entry.algorithm
        if comparable and state.content != (entry.algorithm, entry.crc):
            found.append(f"{name}: {entry.algorithm} of the object differs from the receipt")
        if entry.version_id is not None and info.version_id != entry.version_id:
            found.append(f"{name}: version is {shown(str(info.version_id))}")
        if entry.headers is not None:
            for header in entry.headers.differences(state.headers):
                found.append(
                    f"{name}: {header} is {shown(repr(getattr(state.headers, header)))}, "
                    f"receipt has {shown(repr(getattr(entry.headers, header)))}"
                )
        return found

    def check_file(entry: Entry) -> list[str]:
        name = shown(entry.path)
        try:
            (crc,), _, before, _ = _core.file_digests(entry.path, [entry.algorithm])
        except OSError as err:
            return [f"{name}: cannot read: {shown(str(err.strerror or err))}"]
        if before[2] != entry.size:
            return [f"{name}: size is {before[2]}, receipt has {entry.size}"]
        if crc != entry.crc:
            return [f"{name}: {entry.algorithm} of the file differs from the receipt"]
        return []

    jobs: list[Callable[[], list[str]]] = []
    for entry in receipt.entries:
        if bucket:
            jobs.append(partial(check_object, entry))
        if local:
            jobs.append(partial(check_file, entry))
    found = run_each(jobs, ops.config.max_in_flight, _core.Control())
    return [line for lines in found for line in lines]
