"""The least-privilege audit: does each key do what it must, and no more?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from .._planes.failures import translate
from ..errors import AccessDenied, NotFound

if TYPE_CHECKING:
    from .._transfers.kit import TransferKit

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
    #: The signing region used and where it came from ("garage (learnt)"),
    #: or None if the server refused it.
    region: str | None = None
    #: What the findings together suggest (the bucket may not exist), or None.
    hint: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.findings) and all(f.ok for f in self.findings)

    def __str__(self) -> str:
        lines = [f"cdn-manager check of bucket '{self.bucket}' at {self.host}"]
        if self.region is not None:
            lines.append(f"  region: {self.region}")
        for f in self.findings:
            mark = "ok  " if f.ok else "FAIL"
            lines.append(f"  [{mark}] {f.check}: expected {f.expected}, got {f.observed}")
        if self.hint is not None:
            lines.append(f"  note: {self.hint}")
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


def _bucket_hint(
    bucket: str, wrote: str, listing: Callable[[], Any], secrets: tuple[str, str]
) -> str | None:
    """Whether the bucket itself may be missing: the server says so, or
    neither key may write to it nor list it (a key limited to one bucket
    is refused a missing one, so a mistyped name looks like keys without
    rights)."""
    if wrote.startswith("not found"):
        return f"bucket '{bucket}' does not exist on this server: check the name"
    if wrote.startswith("denied") and _outcome(listing, secrets) != "allowed":
        return (
            f"neither key may write to bucket '{bucket}' nor list it: the bucket may not "
            "exist (check the name), or neither key is allowed on it"
        )
    return None


def _read(client: Any, bucket: str, key: str) -> None:
    client.get_object(Bucket=bucket, Key=key)["Body"].read()


def check(kit: TransferKit, bucket: str) -> AuditReport:
    """Probes ``bucket`` with both keys and reports whether the read key can
    read, HEAD and list (what a download, ``stat`` and ``pull`` ask) and is
    refused writes and deletes, and the write key can write and is refused
    reads and listings.

    Writes at most two small objects under :data:`PROBE_PREFIX` and deletes
    them again (with whichever key may); a probe that cannot be removed is
    reported as a failure. Never raises for what the server answers.
    """
    secrets = kit.credentials.secrets()
    reader, writer = kit.download_client, kit.upload_client
    from uuid import uuid4  # here: uuid costs every command's start-up

    probe = f"{PROBE_PREFIX}{uuid4().hex}"
    reader_probe = probe + "-by-read-key"
    report = AuditReport(kit.credentials.host, bucket)

    def add(check: str, expected: str, observed: str) -> str:
        report.findings.append(Finding(check, expected, observed, observed.startswith(expected)))
        return observed

    def probe_with(check: str, expected: str, action: Callable[[], Any]) -> str:
        return add(check, expected, _outcome(action, secrets))

    try:
        report.region = str(kit.regions.of(bucket))
    except Exception as err:
        # A wrong configured region: every probe would be refused for it.
        add("server accepts the region", "accepted", str(translate(err, "region", secrets)))
        return report

    wrote = probe_with(
        "write key can write",
        "allowed",
        partial(writer.put_object, Bucket=bucket, Key=probe, Body=b"probe"),
    )
    if wrote == "allowed":
        probe_with("read key can read", "allowed", partial(_read, reader, bucket, probe))
        probe_with(
            "read key can HEAD",
            "allowed",
            partial(reader.head_object, Bucket=bucket, Key=probe),
        )
    else:
        for check_name in ("read key can read", "read key can HEAD"):
            add(check_name, "allowed", "not tested (no probe object to read)")
    probe_with(
        "read key can list",
        "allowed",
        partial(reader.list_objects_v2, Bucket=bucket, Prefix=PROBE_PREFIX, MaxKeys=1),
    )
    # Without the probe this reads a missing key, which a key allowed to read
    # answers with a 404 and a key refused reads with a 403.
    probe_with("write key cannot read", "denied", partial(_read, writer, bucket, probe))
    probe_with(
        "write key cannot list",
        "denied",
        partial(writer.list_objects_v2, Bucket=bucket, Prefix=PROBE_PREFIX, MaxKeys=1),
    )
    reader_wrote = probe_with(
        "read key cannot write",
        "denied",
        partial(reader.put_object, Bucket=bucket, Key=reader_probe, Body=b"probe"),
    )
    # Aimed at the write key's probe: if the read key may delete, that is
    # also the clean-up.
    probe_with(
        "read key cannot delete",
        "denied",
        partial(reader.delete_object, Bucket=bucket, Key=probe),
    )
    if wrote != "allowed":
        report.hint = _bucket_hint(
            bucket, wrote, partial(reader.list_objects_v2, Bucket=bucket, MaxKeys=1), secrets
        )
    for key, written in ((probe, wrote), (reader_probe, reader_wrote)):
        if written != "allowed":
            continue
        # Either key may be the one allowed to delete when they are mixed up.
        removed = _outcome(partial(writer.delete_object, Bucket=bucket, Key=key), secrets)
        if removed != "allowed":
            removed = _outcome(partial(reader.delete_object, Bucket=bucket, Key=key), secrets)
        if removed != "allowed":
            add(f"probe {key} removed", "allowed", removed)
    return report
