"""Conditional writes: two deploys that planned against the same bucket
never silently replace each other's objects (the later one's items fail
with Conflict), while a deploy's own write, retried after its answer was
lost, is not mistaken for someone else's."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_deploy import deploy

from cdn_manager import Conflict

from conftest import ANY_SERVER, Server, StartProxy
from helpers.faultproxy import Fault, Rule
from helpers.site import write_site


@pytest.fixture(params=["moto", "s3s-fs"])
def any_server(request: pytest.FixtureRequest) -> Server:
    """Servers that honour conditional writes: Garage 2.5 ignores them
    (``test_garage.py``; README, provider notes)."""
    server: Server = request.getfixturevalue(ANY_SERVER[request.param])
    return server


def test_concurrent_writers_conflict_instead_of_clobbering(
    any_server: Server, bucket: str, tmp_path: Path
) -> None:
    manager = any_server.manager()
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    write_site(ours, {"index.html": b"<p>v1</p>", "app.css": b"a{}"})
    deploy(manager, manager.plan_deploy(ours, bucket))
    write_site(ours, {"index.html": b"<p>ours</p>", "new.js": b"ours()"})

    # Another tool writes the same keys after our plan was made (two
    # deploys would meet at their release's manifest first:
    # test_releases.py).
    our_plan = manager.plan_deploy(ours, bucket)
    for key, data in (("new.js", b"theirs()"), ("index.html", b"<p>theirs</p>")):
        any_server.admin.put_object(Bucket=bucket, Key=key, Body=data)
    report = manager.deploy(our_plan)

    assert not report.ok
    assert sorted(key for key, _ in report.failed) == ["new.js"]
    assert all(isinstance(err, Conflict) for _, err in report.failed)
    # The entry point waits for its assets: it was never sent.
    assert [c.key for c in report.held_back] == ["index.html"]
    assert report.release is not None and report.release.state == "failed"
    for key, data in (("index.html", b"<p>theirs</p>"), ("new.js", b"theirs()")):
        assert any_server.admin.get_object(Bucket=bucket, Key=key)["Body"].read() == data

    # An overwrite planned against an ETag that has since changed loses too.
    write_site(theirs, {"index.html": b"<p>theirs</p>", "new.js": b"theirs()", "app.css": b"a{}"})
    deploy(manager, manager.plan_deploy(theirs, bucket))
    stale = manager.plan_deploy(ours, bucket, include=["index.html"], exclude=["*.js"])
    any_server.admin.put_object(Bucket=bucket, Key="index.html", Body=b"<p>third</p>")
    late = manager.deploy(stale)
    assert [(key, err.reason) for key, err in late.failed] == [("index.html", "PreconditionFailed")]
    body = any_server.admin.get_object(Bucket=bucket, Key="index.html")["Body"].read()
    assert body == b"<p>third</p>"


def test_a_retried_write_that_meets_its_own_object_is_no_conflict(
    any_server: Server, tmp_path: Path, fault_proxy: StartProxy
) -> None:
    bucket = any_server.new_bucket()
    proxy = fault_proxy(any_server)
    manager = any_server.manager(host=proxy.endpoint)
    site = tmp_path / "site"
    write_site(site, {"new.css": b"a{}", "index.html": b"<p>1</p>"})
    # The server stores the first PUT of new.css, but its answer never comes:
    # the retry (If-None-Match: *) meets the object that PUT wrote.
    rule = proxy.add(Rule(Fault.RESET, at=None, method="PUT", path="new.css", times=1))
    report = deploy(manager, manager.plan_deploy(site, bucket))
    assert rule.applied == 1
    assert sorted(u.key for u in report.uploaded) == ["index.html", "new.css"]
    assert any_server.admin.get_object(Bucket=bucket, Key="new.css")["Body"].read() == b"a{}"
