"""The least-privilege audit: does each key do what it must, and no more?"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from .errors import AccessDenied, NotFound
from .s3errors import translate

if TYPE_CHECKING:
    from .manager import CDNManager

#: Folder of the probe objects the audit writes (and deletes again).
PROBE_PREFIX = ".cdn-manager-check/"


@dataclass(frozen=True)
class Finding:
    """One expectation about one key and what the server did."""

    check: str
    expected: str
    observed: str
    ok: bool


@dataclass
class AuditReport:
    """Findings of :func:`check`; ``ok`` only if every one holds."""

    host: str
    bucket: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.findings) and all(f.ok for f in self.findings)

    def __str__(self) -> str:
        lines = [f"cdn-manager check of bucket {self.bucket!r} at {self.host}"]
        for f in self.findings:
            mark = "ok  " if f.ok else "FAIL"
            lines.append(f"  [{mark}] {f.check}: expected {f.expected}, got {f.observed}")
        lines.append("all checks passed" if self.ok else "some checks FAILED")
        return "\n".join(lines)


def _outcome(action: Callable[[], Any], secrets: tuple[str, str]) -> str:
    """``"allowed"`` or the error's reason code."""
    try:
        action()
    except Exception as err:
        translated = translate(err, "probe", secrets)
        if isinstance(translated, AccessDenied):
            return f"denied ({translated.reason})"
        if isinstance(translated, NotFound):
            return f"not found ({translated.reason})"
        return f"error ({translated.reason})"
    return "allowed"


def check(manager: CDNManager, bucket: str) -> AuditReport:
    """Probes ``bucket`` with both keys and reports whether the read key can
    read and is refused writes, and the write key can write and is refused
    reads. Deletes the probe objects it wrote (with the write key)."""
    secrets = manager.creds.secrets()
    reader, writer = manager.download_client, manager.upload_client
    probe = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    reader_probe = probe + "-by-read-key"
    report = AuditReport(manager.creds.host, bucket)

    def add(check: str, expected: str, observed: str) -> None:
        report.findings.append(Finding(check, expected, observed, observed.startswith(expected)))

    wrote = _outcome(lambda: writer.put_object(Bucket=bucket, Key=probe, Body=b"probe"), secrets)
    add("write key can write", "allowed", wrote)
    if wrote == "allowed":
        add(
            "read key can read",
            "allowed",
            _outcome(lambda: reader.get_object(Bucket=bucket, Key=probe)["Body"].read(), secrets),
        )
        add(
            "write key cannot read",
            "denied",
            _outcome(lambda: writer.get_object(Bucket=bucket, Key=probe)["Body"].read(), secrets),
        )
    reader_wrote = _outcome(
        lambda: reader.put_object(Bucket=bucket, Key=reader_probe, Body=b"probe"), secrets
    )
    add("read key cannot write", "denied", reader_wrote)
    for key, written in ((probe, wrote), (reader_probe, reader_wrote)):
        if written == "allowed":
            deleted = _outcome(partial(writer.delete_object, Bucket=bucket, Key=key), secrets)
            if deleted != "allowed":
                add(f"probe {key} removed", "allowed", deleted)
    return report
