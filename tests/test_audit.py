"""``manager.check(bucket)``: the least-privilege audit, against the
IAM-enforcing server with right, over-privileged and under-privileged keys,
and the documented policies (docs/security.md) being the ones that server
enforces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest

from cdn_manager import AuditReport
from cdn_manager._operations.audit import PROBE_PREFIX
from cdn_manager.local_server import reader_policy, writer_policy

from conftest import BUCKET, Server
from helpers.leaks import KNOWN_SECRETS, remember

ROOT = Path(__file__).resolve().parent.parent
ALL_CHECKS = {
    "write key can write",
    "read key can read",
    "read key can HEAD",
    "read key can list",
    "write key cannot read",
    "write key cannot list",
    "read key cannot write",
    "read key cannot delete",
}


def failed(report: AuditReport) -> set[str]:
    return {f.check for f in report.findings if not f.ok}


def probes_left(server: Server, bucket: str = BUCKET) -> list[str]:
    listing = server.admin.list_objects_v2(Bucket=bucket, Prefix=PROBE_PREFIX)
    return [o["Key"] for o in listing.get("Contents", [])]


def pair(key: tuple[str, str], role: str) -> dict[str, str]:
    side = "downloader" if role == "read" else "uploader"
    return {f"{side}_access_key": key[0], f"{side}_access_secret": key[1]}


def test_properly_set_up_keys_pass_the_audit(iam_server: Server) -> None:
    report = iam_server.manager().check(BUCKET)
    assert {f.check for f in report.findings} == ALL_CHECKS
    assert report.ok, str(report)
    assert str(report).endswith("all checks passed")
    assert probes_left(iam_server) == []


@pytest.mark.parametrize(
    ("who", "role", "expected_failures"),
    [
        ("admin", "read", {"read key cannot write", "read key cannot delete"}),
        ("admin", "write", {"write key cannot read", "write key cannot list"}),
        ("powerless", "read", {"read key can read", "read key can HEAD", "read key can list"}),
        (
            "powerless",
            "write",
            {"write key can write", "read key can read", "read key can HEAD"},
        ),
    ],
)
def test_a_key_with_the_wrong_rights_fails_the_audit(
    iam_server: Server,
    powerless_key: tuple[str, str],
    who: str,
    role: str,
    expected_failures: set[str],
) -> None:
    key = iam_server.admin_key if who == "admin" else powerless_key
    report = iam_server.manager(**pair(key, role)).check(BUCKET)
    assert not report.ok
    assert failed(report) == expected_failures, str(report)
    assert "some checks FAILED" in str(report)
    assert probes_left(iam_server) == []


def test_a_read_key_that_may_only_get_objects_fails_the_audit(iam_server: Server) -> None:
    """A read key that can fetch but not list (nor, on moto 5.2.6 and later,
    HEAD) breaks ``ls``, ``pull`` and ranged downloads: the audit says so."""
    key, secret = iam_server.admin_key
    iam = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret).client(
        "iam", endpoint_url=iam_server.endpoint, region_name="us-east-1"
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{BUCKET}/*"],
            }
        ],
    }
    iam.create_user(UserName="cdn-get-only")
    iam.put_user_policy(
        UserName="cdn-get-only", PolicyName="get-only", PolicyDocument=json.dumps(policy)
    )
    created = iam.create_access_key(UserName="cdn-get-only")["AccessKey"]
    remember(created["SecretAccessKey"])
    report = iam_server.manager(
        **pair((created["AccessKeyId"], created["SecretAccessKey"]), "read")
    ).check(BUCKET)
    assert not report.ok
    assert "read key can list" in failed(report), str(report)
    assert failed(report) <= {"read key can list", "read key can HEAD"}, str(report)
    assert probes_left(iam_server) == []


def test_swapped_keys_fail_every_check_and_leave_no_probe(iam_server: Server) -> None:
    c = iam_server.credentials
    manager = iam_server.manager(
        **pair((c.uploader_access_key, c.uploader_access_secret), "read"),
        **pair((c.downloader_access_key, c.downloader_access_secret), "write"),
    )
    report = manager.check(BUCKET)
    assert failed(report) == ALL_CHECKS, str(report)
    assert probes_left(iam_server) == []


def test_an_open_server_fails_every_refusal(moto_server: Server) -> None:
    report = moto_server.manager().check(BUCKET)
    assert failed(report) == {c for c in ALL_CHECKS if "cannot" in c}, str(report)
    assert probes_left(moto_server) == []


def test_a_missing_bucket_fails_the_audit_without_raising(iam_server: Server) -> None:
    report = iam_server.manager().check("no-such-bucket-here")
    assert not report.ok
    assert "write key can write" in failed(report)


def test_the_report_shows_no_secret(iam_server: Server) -> None:
    text = str(iam_server.manager().check(BUCKET))
    assert not [s for s in KNOWN_SECRETS if s in text]


def documented_policies() -> list[dict[str, object]]:
    page = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", page, re.S)]


def test_the_docs_recommend_the_policies_the_test_server_enforces() -> None:
    assert documented_policies() == [
        reader_policy("my-cdn-bucket"),
        writer_policy("my-cdn-bucket"),
    ]
