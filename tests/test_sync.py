"""One sync engine under push, pull and verify, on both faces: the same
comparison decides in both directions, and what each action did and why is
reported in one shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdn_manager import ActionKind, SyncPlan, SyncReport

from conftest import Server
from helpers.site import write_site

#: Every test here runs against the sync and the async face.
pytestmark = pytest.mark.usefixtures("face")

SITE = {
    "index.html": b"<h1>home</h1>\n",
    "css/site.css": b"body { margin: 0 }\n",
    "img/logo.png": bytes(range(256)) * 40,
}


def _kinds(plan: SyncPlan) -> dict[str, ActionKind]:
    return {action.key: action.kind for action in plan.actions}


def test_pull_plans_by_the_comparison_push_uses_and_deletes_only_after_success(
    any_server: Server, bucket: str, tmp_path: Path
) -> None:
    manager = any_server.manager()
    site, mirror = tmp_path / "site", tmp_path / "mirror"
    write_site(site, SITE)
    pushed: SyncReport = manager.deploy(manager.plan_deploy(site, bucket, "web"))
    assert pushed.ok and len(pushed.uploaded) == 3

    first = manager.pull(manager.plan_pull(bucket, "web", mirror))
    assert first.ok and {a.why for a in first.downloaded} == {"new"}
    assert {p.relative_to(mirror).as_posix(): p.read_bytes() for p in mirror.rglob("*.*")} == SITE

    # Same length, other bytes: only a checksum can tell, and it does.
    (mirror / "css/site.css").write_bytes(b"body { margin: 1 }\n")
    (mirror / "stale.txt").write_bytes(b"no object")
    plan = manager.plan_pull(bucket, "web/", mirror, delete=True)
    assert _kinds(plan) == {
        "web/css/site.css": ActionKind.DOWNLOAD,
        "web/img/logo.png": ActionKind.KEEP,
        "web/index.html": ActionKind.KEEP,
        "web/stale.txt": ActionKind.DELETE,
    }
    assert plan.downloads[0].why == "checksum differs"
    assert str(plan).splitlines()[1:] == [
        f"download web/css/site.css -> {mirror / 'css/site.css'} (checksum differs)",
        f"delete {mirror / 'stale.txt'}",
    ]
    report = manager.pull(plan)
    assert report.ok
    assert [a.key for a in report.done] == ["web/css/site.css", "web/stale.txt"]
    assert (mirror / "css/site.css").read_bytes() == SITE["css/site.css"]
    assert not (mirror / "stale.txt").exists()

    # Push the other way: the same files are the same objects.
    again = manager.plan_deploy(mirror, bucket, "web")
    assert {a.kind for a in again.actions} == {ActionKind.KEEP}


def test_a_failed_download_holds_back_every_local_delete(
    any_server: Server, bucket: str, tmp_path: Path
) -> None:
    manager = any_server.manager()
    any_server.admin.put_object(Bucket=bucket, Key="p/a.txt", Body=b"a")
    mirror = tmp_path / "mirror"
    write_site(mirror, {"old.txt": b"old"})
    plan = manager.plan_pull(bucket, "p", mirror, delete=True)
    assert _kinds(plan) == {"p/a.txt": ActionKind.DOWNLOAD, "p/old.txt": ActionKind.DELETE}
    # Gone between plan and pull: its download fails, so nothing is deleted.
    any_server.admin.delete_object(Bucket=bucket, Key="p/a.txt")
    report = manager.pull(plan)
    assert not report.ok
    assert [key for key, _ in report.failed] == ["p/a.txt"]
    assert [a.key for a in report.held_back] == ["p/old.txt"]
    assert (mirror / "old.txt").read_bytes() == b"old"


def test_errors_name_their_operation_bucket_key_and_server_code(
    any_server: Server, bucket: str, tmp_path: Path
) -> None:
    manager = any_server.manager()
    with pytest.raises(Exception) as caught:
        manager.get_file(bucket, "missing/key.txt", tmp_path)
    err = caught.value
    assert (err.operation, err.bucket, err.key) == ("download", bucket, "missing/key.txt")
    assert err.code in ("NoSuchKey", "404")
    report = manager.download_many(bucket, ["missing/other.txt"], tmp_path)
    failed = report[0].error
    assert failed is not None and failed.key == "missing/other.txt"
    assert failed.operation == "download" and failed.attempts in (None, 1)
