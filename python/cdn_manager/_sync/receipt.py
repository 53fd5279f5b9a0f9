"""Receipts: one JSON document recording what a push or pull left in the
bucket and on disk, and the check that both still match it later
(``cdn-manager verify RECEIPT``).

Per object key: its size (of the file: uncompressed), the checksum of the
file (algorithm and value, as S3 writes values), its ETag, its version id
when the bucket reported one, the local path, and the headers a push set
(a pull records none). The bucket side is checked with the read key (one
HEAD per object) by the comparison every sync uses (:mod:`.compare`): the
object must hold the recorded bytes, proven by a checksum where it carries
one in the receipt's algorithm (an ETag that changed with the same bytes
is no difference), else by its ETag; and the recorded headers. The local
side re-reads every file: it must have the recorded size and checksum.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from .. import _core
from .._checksums import decode, encode
from .._escape import shown
from .._transfers.parts import run_each
from ..errors import CDNError, ConfigError, NotFound
from .compare import Why, compare, content_differs, stored_differs
from .headers import Headers
from .memory import identity_of
from .outcome import SyncReport
from .plan import Action, ActionKind
from .remote import proven
from .store import Store

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
    #: How the object was proven to hold these bytes when the receipt was
    #: written (``crc32 composite 4 parts``, ``md5 etag``, ``size only``, …).
    verified: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
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
                        item.get("verified"),
                    )
                )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            message = err.strerror if isinstance(err, OSError) else err
            raise ConfigError(f"receipt {shown(str(path))}: {message}", reason="Receipt") from None
        return receipt


def write_receipt(path: str | os.PathLike[str], store: Store, report: SyncReport) -> Path:
    """The receipt of a sync: every object the folder now maps to."""
    plan = report.plan
    receipt = Receipt(plan.direction, store.endpoint, plan.bucket, plan.prefix, str(plan.folder))
    kept = [*plan.unchanged]
    done = [a for a in report.done if a.kind is not ActionKind.DELETE]
    if plan.direction == "push":
        for action in done:
            receipt.entries.append(_pushed(report, action, report.etags[action.key]))
        receipt.entries += [_pushed(report, action, action.etag or "") for action in kept]
    else:
        assert plan.cache is not None
        for action in [*done, *kept]:
            receipt.entries.append(_pulled(store, report, action))
        plan.cache.save()
    receipt.entries.sort(key=lambda entry: entry.key)
    return receipt.write(path)


def _pushed(report: SyncReport, action: Action, etag: str) -> Entry:
    assert action.checksum is not None and action.file is not None
    algorithm, crc = action.checksum
    file = action.file
    return Entry(
        action.key,
        file.size,
        algorithm,
        crc,
        etag,
        str(file.path),
        action.headers,
        verified=report.proof(action),
    )


def _pulled(store: Store, report: SyncReport, action: Action) -> Entry:
    """A pulled file as it is now on disk (read again, or from the cache)."""
    plan = report.plan
    assert plan.cache is not None
    identity = identity_of(action.path.lstat())
    crc = plan.cache.digests(action.path, identity, [plan.algorithm])[plan.algorithm]
    assert isinstance(crc, int)
    # Some servers (s3s-fs) list no ETags: ask the object itself.
    etag = action.etag or store.stat(plan.bucket, action.key).etag
    return Entry(
        action.key,
        identity[2],
        plan.algorithm,
        crc,
        etag,
        str(action.path),
        verified=report.proof(action),
    )


def _value(value: object) -> str:
    """A header's value as people read it."""
    if value is None or value == ():
        return "unset"
    if isinstance(value, tuple):
        return ", ".join(f"{k}={v}" for k, v in value)
    return f"'{value}'"


def verify(store: Store, receipt: Receipt, *, bucket: bool = True, local: bool = True) -> list[str]:
    """One line per difference between the receipt and the bucket (HEADs
    with the read key) and/or the local files (re-read); empty if all match."""
    # A push records the file a deploy may have stored compressed; a pull
    # records the bytes as stored.
    differs = content_differs if receipt.command == "push" else stored_differs

    def check_object(entry: Entry) -> list[str]:
        name = shown(entry.key)
        try:
            info = store.stat(receipt.bucket, entry.key)
        except NotFound:
            return [f"{name}: missing from the bucket"]
        except CDNError as err:
            return [f"{name}: cannot check the object: {shown(str(err))}"]
        state = proven(info)
        found = []
        why = differs(entry.size, {entry.algorithm: entry.crc}, state)
        if why is Why.SIZE_DIFFERS:
            found.append(f"{name}: holds {state.size} bytes, receipt has {entry.size}")
        elif why is Why.CHECKSUM_DIFFERS:
            found.append(f"{name}: {entry.algorithm} of the object differs from the receipt")
        elif why is Why.NO_STORED_CHECKSUM and state.etag != entry.etag:
            # No checksum to judge by: another ETag is another object.
            found.append(f"{name}: ETag is {shown(state.etag)}, receipt has {shown(entry.etag)}")
        if entry.version_id is not None and info.version_id != entry.version_id:
            found.append(f"{name}: version is {shown(str(info.version_id))}")
        if entry.headers is not None:
            for header in entry.headers.differences(state.headers):
                now, then = getattr(state.headers, header), getattr(entry.headers, header)
                found.append(
                    f"{name}: {header.replace('_', '-')} is {shown(_value(now))}, "
                    f"receipt has {shown(_value(then))}"
                )
        return found

    def check_file(entry: Entry) -> list[str]:
        name = shown(entry.path)
        try:
            (crc,), _, before, _ = _core.file_digests(entry.path, [entry.algorithm])
        except OSError as err:
            return [f"{name}: cannot read: {shown(str(err.strerror or err))}"]
        why = compare(before[2], {entry.algorithm: crc}, entry.size, (entry.algorithm, entry.crc))
        if why is Why.SIZE_DIFFERS:
            return [f"{name}: size is {before[2]}, receipt has {entry.size}"]
        if why is not None:
            return [f"{name}: {entry.algorithm} of the file differs from the receipt"]
        return []

    jobs: list[Callable[[], list[str]]] = []
    for entry in receipt.entries:
        if bucket:
            jobs.append(partial(check_object, entry))
        if local:
            jobs.append(partial(check_file, entry))
    found = run_each(jobs, store.config.max_in_flight, _core.Control())
    return [line for lines in found for line in lines]
