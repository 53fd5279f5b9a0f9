"""Release history (``.cdn-manager/PREFIX``): every deploy records a
release, conditionally, so concurrent deploys make a linear history;
``--delete`` retains what a release inside the window still references;
a rollback makes an earlier release live again byte for byte and header
for header from the content kept for it, or refuses, changing nothing,
when that content was pruned. Against moto and s3s-fs (both honour
``If-None-Match``; Garage does not), through both faces."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_deploy import deploy, requests

from cdn_manager import (
    ConfigError,
    Conflict,
    InvalidRequest,
    ReleaseIncomplete,
    ReleaseNotFound,
    Retention,
    Rules,
    TooManyDeletes,
)
from cdn_manager._cli.parser import build_parser
from cdn_manager._cli.releases import retention_of

from conftest import ANY_SERVER, BUCKET, Server, StartProxy
from helpers.site import write_site

HISTORY = ".cdn-manager/www/"
PAGE_RULES = """\
rules:
  - match: "*.html"
    content_encoding: gzip
  - match: robots.txt
    cache_control: "public, max-age=60"
    metadata: {team: web}
"""


@pytest.fixture(params=["moto", "s3s-fs"])
def any_server(request: pytest.FixtureRequest) -> Server:
    """Servers that honour ``If-None-Match`` (Garage 2.5 does not)."""
    server: Server = request.getfixturevalue(ANY_SERVER[request.param])
    return server


class Clock:
    """A clock the test sets; deploys read it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def days(self, days: float) -> None:
        self.now += timedelta(days=days)


def objects(server: Server, bucket: str, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every object below ``prefix``: its stored bytes and the headers a
    release is made of."""
    found = {}
    pages = server.admin.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for key in [o["Key"] for page in pages for o in page.get("Contents", [])]:
        got = server.admin.get_object(Bucket=bucket, Key=key)
        found[key] = {
            "body": got["Body"].read(),
            "type": got.get("ContentType"),
            "cache": got.get("CacheControl"),
            "encoding": got.get("ContentEncoding"),
            "metadata": {k: v for k, v in got["Metadata"].items() if not k.startswith("cdn-")},
        }
    return found


def site_keys(server: Server, bucket: str) -> set[str]:
    return set(objects(server, bucket, "www/"))


def history_keys(server: Server, bucket: str, part: str) -> set[str]:
    listed = server.admin.list_objects_v2(Bucket=bucket, Prefix=HISTORY + part)
    return {o["Key"][len(HISTORY + part) :] for o in listed.get("Contents", [])}


def manifest(server: Server, bucket: str, release: int) -> Any:
    key = f"{HISTORY}releases/{release:010d}.json.gz"
    return json.loads(
        gzip.decompress(server.admin.get_object(Bucket=bucket, Key=key)["Body"].read())
    )


@pytest.mark.usefixtures("face")
def test_every_deploy_that_changes_the_site_records_a_release(
    any_server: Server, bucket: str, tmp_path: Path
) -> None:
    manager = any_server.manager()
    repo = tmp_path / "repo"
    site, rules = repo / "public", tmp_path / "rules.yaml"
    rules.write_text(PAGE_RULES)
    write_site(site, {"index.html": b"<h1>1</h1>", "app.0badc0de.js": b"one()"})
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()

    first = deploy(manager, manager.plan_deploy(site, bucket, "www", rules=rules))
    assert first.release is not None and first.release.release == 1
    assert first.release.state == "complete"
    recorded = manifest(any_server, bucket, 1)
    assert recorded["commit"] == commit and recorded["kind"] == "deploy"
    assert recorded["state"] == "complete"
    # Each object: [size, algorithm, crc, headers (an index into a table of
    # distinct headers), flags (1: entry point, 2: kept), what it holds].
    size, algorithm, crc, headers, flags, stored = recorded["objects"]["index.html"]
    assert (size, algorithm, flags) == (10, "crc32", 1 | 2)
    value = first.release.entries["index.html"].checksum[1]
    assert crc == base64.b64encode(value.to_bytes(4, "big")).decode()
    assert recorded["headers"][headers] == {
        "cache_control": "public, max-age=0, must-revalidate",
        "content_type": "text/html",
        "content_encoding": "gzip",
        "metadata": {},
    }
    # What the page holds now: its ETag, stored (gzip) size and checksum,
    # the content's (null: the entry's own) and this library's metadata.
    etag, stored_size, stored_checksum, content, _, ours = stored
    head = any_server.admin.head_object(Bucket=bucket, Key="www/index.html")
    assert (etag, stored_size, content) == (head["ETag"], head["ContentLength"], None)
    assert stored_checksum[0] == "crc32" and set(ours) == {"cdn-crc32", "cdn-source-crc32"}
    assert recorded["objects"]["app.0badc0de.js"][4] == 0  # neither entry point nor kept
    # The page's content is kept (by content, as stored: gzip); the hashed
    # script is not copied.
    assert [name.rsplit("-", 1)[1] for name in history_keys(any_server, bucket, "content/")] == [
        "10.gzip"
    ]

    # Nothing changed: no release.
    again = deploy(manager, manager.plan_deploy(site, bucket, "www", rules=rules))
    assert again.release is None and again.history == []

    (site / "index.html").write_bytes(b"<h1>2</h1><p>more</p>")
    write_site(site, {"new.html": b"<p>new</p>"})
    deploy(manager, manager.plan_deploy(site, bucket, "www", rules=rules))
    listed = manager.releases(bucket, "www")
    assert [(r.id, r.kind, r.state, r.live) for r in listed] == [
        (2, "deploy", "complete", True),
        (1, "deploy", "complete", False),
    ]
    assert (listed[0].files, listed[0].size) == (3, 21 + 5 + 10)
    assert (listed[0].added, listed[0].changed, listed[0].removed) == (1, 1, 0)
    assert (listed[1].added, listed[1].changed, listed[1].removed) == (2, 0, 0)
    assert listed[0].commit == commit and listed[0].time >= listed[1].time


def test_the_read_key_reads_history_and_the_write_key_writes_it(
    iam_server: Server, tmp_path: Path
) -> None:
    """On moto with IAM enforced: the reader may only read, the writer only
    write; a deploy, a rollback and a listing of releases need nothing more."""
    manager = iam_server.manager()
    site, prefix = tmp_path / "site", f"site-{uuid.uuid4().hex[:8]}"
    write_site(site, {"index.html": b"<h1>1</h1>"})
    deploy(manager, manager.plan_deploy(site, BUCKET, prefix))
    (site / "index.html").write_bytes(b"<h1>two</h1>")
    deploy(manager, manager.plan_deploy(site, BUCKET, prefix))
    report = manager.rollback(BUCKET, prefix)
    assert report.ok, report.failed
    assert [r.id for r in manager.releases(BUCKET, prefix)] == [3, 2, 1]
    got = iam_server.admin.get_object(Bucket=BUCKET, Key=f"{prefix}/index.html")["Body"].read()
    assert got == b"<h1>1</h1>"


def test_concurrent_deploys_make_a_linear_history(
    any_server: Server, bucket: str, tmp_path: Path
) -> None:
    """Four deploys planned against release 1, then run: the first to
    record release 2 wins, every other fails with Conflict having changed
    nothing. (Interleaved at the plan/run boundary, not raced: moto and
    s3s-fs check ``If-None-Match`` and then write, so two truly
    simultaneous PUTs can both pass there; S3 makes the check atomic.)"""
    manager = any_server.manager()
    base = tmp_path / "base"
    write_site(base, {"index.html": b"<p>base</p>", "a.0badc0de.css": b"a{}"})
    deploy(manager, manager.plan_deploy(base, bucket, "www"))
    plans = []
    for n in range(4):
        site = tmp_path / f"site-{n}"
        write_site(site, {"index.html": b"<p>%d</p>" % n, f"s-{n}.js": b"%d" % n})
        plans.append(manager.plan_deploy(site, bucket, "www", delete=True))
    winner, *losers = [manager.deploy(plan) for plan in plans]

    assert winner.ok and winner.release is not None and winner.release.release == 2
    after = objects(any_server, bucket)
    for n, report in enumerate(losers, 1):
        assert [(key, err.reason) for key, err in report.failed] == [
            (f"{HISTORY}releases/0000000002.json.gz", "ReleaseConflict")
        ]
        assert all(isinstance(err, Conflict) for _, err in report.failed)
        assert "nothing was changed" in str(report.failed[0][1])
        changes = {a.key for a in plans[n].actions if a.kind.value not in ("keep", "retain")}
        assert {a.key for a in report.held_back} == changes and changes
        assert report.done == [] and report.history == [] and report.release is None
    # The losers changed nothing: the bucket is the winner's.
    assert objects(any_server, bucket) == after
    # (The stylesheet left the site; release 1 still references it.)
    assert set(objects(any_server, bucket, "www/")) == {
        "www/index.html",
        "www/s-0.js",
        "www/a.0badc0de.css",
    }
    assert after["www/index.html"]["body"] == b"<p>0</p>"
    assert [r.id for r in manager.releases(bucket, "www")] == [2, 1]
    assert manifest(any_server, bucket, 2)["objects"].keys() == {"index.html", "s-0.js"}
    # A loser planned again follows the winner.
    again = deploy(manager, manager.plan_deploy(tmp_path / "site-3", bucket, "www"))
    assert again.release is not None and again.release.release == 3
    times = [r.time for r in manager.releases(bucket, "www")]
    assert times == sorted(times, reverse=True)


def test_retention_keeps_exactly_what_the_window_says(moto_server: Server, tmp_path: Path) -> None:
    """Deploys a day apart, each renaming its script: a script that left the
    site stays while one of the last 3 releases or one at most 7 days old
    references it, judged by the manifests' times (the clock), never by
    the objects' LastModified."""
    bucket = moto_server.new_bucket()
    manager = moto_server.manager()
    clock = Clock()
    site = tmp_path / "site"
    pages: dict[int, str] = {}

    def release(n: int) -> Any:
        for old in site.glob("app.*.js"):
            old.unlink()
        write_site(site, {"index.html": b"<p>%d</p>" % n, f"app.{n:08x}.js": b"v(%d)" % n})
        plan = manager.plan_deploy(site, bucket, "www", delete=True, clock=clock)
        report = deploy(manager, plan)
        pages[n] = next(a.key for a in plan.release.keep)[len(HISTORY) :]
        return plan, report

    def scripts() -> list[int]:
        return sorted(
            int(k.split(".")[1], 16) for k in site_keys(moto_server, bucket) if ".js" in k
        )

    def kept() -> list[int]:
        found = {f"content/{name}" for name in history_keys(moto_server, bucket, "content/")}
        return sorted(n for n, key in pages.items() if key in found)

    release(1)
    for n in (2, 3, 4):
        clock.days(1)
        plan, _ = release(n)
    # Day 3: release 1 (3 days old) is inside by age, 2-4 by count.
    assert [a.key for a in plan.retained] == [f"www/app.{n:08x}.js" for n in (1, 2, 3)]
    assert scripts() == [1, 2, 3, 4] and kept() == [1, 2, 3, 4]

    clock.days(9)  # day 12: releases 1 and 2 are 11 and 10 days old
    plan, report = release(5)
    assert plan.release.window == [4, 3]
    assert sorted(a.key for a in report.deleted) == ["www/app.00000001.js", "www/app.00000002.js"]
    assert scripts() == [3, 4, 5] and kept() == [3, 4, 5]

    # At exactly 7 days, release 4 is inside; a second later it is not.
    r4 = manager.releases(bucket, "www")[1]
    assert r4.id == 4
    clock.now = r4.time + timedelta(days=7)
    window = Retention(releases=1, days=7)
    pruned = manager.plan_prune(bucket, "www", retention=window, clock=clock)
    assert [a.key for a in pruned.deletes] == ["www/app.00000003.js"]
    assert [a.key for a in pruned.retained] == ["www/app.00000004.js"]
    assert manager.prune(bucket, "www", retention=window, clock=clock).ok
    assert scripts() == [4, 5] and kept() == [4, 5]
    clock.now += timedelta(seconds=1)
    assert manager.prune(bucket, "www", retention=window, clock=clock).ok
    assert scripts() == [5] and kept() == [5]
    # Only what releases published is pruned; the history itself stays.
    assert [r.id for r in manager.releases(bucket, "www")] == [5, 4, 3, 2, 1]


@pytest.mark.usefixtures("face")
def test_rollback_restores_bytes_and_headers_writing_only_what_differs(
    any_server: Server, bucket: str, tmp_path: Path, fault_proxy: StartProxy
) -> None:
    proxy = fault_proxy(any_server)
    manager = any_server.manager(host=proxy.endpoint)
    site, rules = tmp_path / "site", tmp_path / "rules.yaml"
    rules.write_text(PAGE_RULES)
    write_site(
        site,
        {
            "index.html": b"<h1>release 1</h1>" * 20,
            "about/index.html": b"<p>about</p>",
            "app.11111111.js": b"one()",
            "robots.txt": b"User-agent: *\n",
        },
    )
    deploy(manager, manager.plan_deploy(site, bucket, "www", rules=rules))
    one = objects(any_server, bucket, "www/")

    (site / "index.html").write_bytes(b"<h1>release 2</h1>" * 20)
    (site / "app.11111111.js").rename(site / "app.22222222.js")
    write_site(site, {"new.html": b"<p>new</p>"})
    rules.write_text(PAGE_RULES.replace("max-age=60", "max-age=5"))
    deploy(manager, manager.plan_deploy(site, bucket, "www", rules=rules, delete=True))
    assert objects(any_server, bucket, "www/")["www/index.html"] != one["www/index.html"]
    proxy.exchanges.clear()

    plan = manager.plan_rollback(bucket, "www")
    assert [(a.key, a.origin is not None) for a in plan.uploads] == [("www/index.html", True)]
    assert [a.key for a in plan.updates] == ["www/robots.txt"]
    report = manager.deploy(plan)
    assert report.ok, report.failed
    assert report.release is not None and report.release.rollback_of == 1
    now = objects(any_server, bucket, "www/")
    # Every key of release 1, byte for byte and header for header.
    assert {key: now[key] for key in one} == one
    # What release 2 added stays (it is no delete, and release 2 references it).
    assert set(now) - set(one) == {"www/app.22222222.js", "www/new.html"}
    # Written: the page (its kept copy read with the read key) and a header
    # copy; nothing else of the site. On Garage the copy would be an upload.
    puts = requests(proxy, "PUT", bucket)
    assert sorted(puts) == ["www/index.html", "www/robots.txt"]
    assert set(requests(proxy, "GET", bucket, history=True)) >= {
        f"{HISTORY}{a}" for a in ("releases/0000000001.json.gz", "releases/0000000002.json.gz")
    }
    listed = manager.releases(bucket, "www")
    latest = listed[0]
    assert (latest.id, latest.kind, latest.rollback_of, latest.live) == (3, "rollback", 1, True)
    # Rolled back to 2 again: the rollback of a rollback.
    assert manager.rollback(bucket, "www", to=2).ok
    page = objects(any_server, bucket, "www/")["www/index.html"]
    assert gzip.decompress(page["body"]) == b"<h1>release 2</h1>" * 20


def test_another_machine_proves_the_site_by_the_manifest_without_a_head(
    any_server: Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest records each object's ETag when its push ended: a
    machine that never pushed here (an empty cache folder) plans a deploy
    and a rollback with a listing and no HEAD, where listings carry ETags."""
    manager = any_server.manager()
    site = tmp_path / "site"
    files = {f"p/{n}.html": b"<p>%d</p>" % n for n in range(20)}
    write_site(site, {**files, "app.0123abcd.js": b"x()"})
    deploy(manager, manager.plan_deploy(site, bucket, "www"))
    (site / "p/0.html").write_bytes(b"<p>changed</p>")
    deploy(manager, manager.plan_deploy(site, bucket, "www"))

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-machine"))
    fresh = any_server.manager()
    listed_etags = bool(
        any_server.admin.list_objects_v2(Bucket=bucket, Prefix="www/")["Contents"][0].get("ETag")
    )
    again = fresh.plan_deploy(site, bucket, "www")
    assert again.uploads == [] and len(again.unchanged) == 21
    rollback = fresh.plan_rollback(bucket, "www")
    assert [a.key for a in rollback.uploads] == ["www/p/0.html"]
    if listed_etags:  # s3s-fs 0.14 lists none: there every object gets a HEAD
        assert (again.stats.heads, again.stats.remembered) == (0, 21)
        # (The changed page's size differs: it needs no proof.)
        assert (rollback.stats.heads, rollback.stats.remembered) == (0, 20)
    assert fresh.deploy(rollback).ok
    body = any_server.admin.get_object(Bucket=bucket, Key="www/p/0.html")["Body"].read()
    assert body == b"<p>0</p>"


@pytest.mark.usefixtures("face")
def test_a_pruned_release_cannot_be_half_restored(
    any_server: Server, bucket: str, tmp_path: Path
) -> None:
    manager = any_server.manager()
    site = tmp_path / "site"
    clock = Clock()
    write_site(site, {"index.html": b"<p>1</p>", "app.11111111.js": b"one()", "a.css": b"a{}"})
    deploy(manager, manager.plan_deploy(site, bucket, "www", clock=clock))
    (site / "index.html").write_bytes(b"<p>2</p>")
    (site / "app.11111111.js").rename(site / "app.22222222.js")
    clock.days(30)
    deploy(manager, manager.plan_deploy(site, bucket, "www", delete=True, clock=clock))
    # Release 1's page copy and script go with a window of one release.
    report = manager.prune(bucket, "www", retention=Retention(1, 0), clock=clock)
    assert report.ok and [a.key for a in report.deleted] == ["www/app.11111111.js"]
    before = objects(any_server, bucket)

    with pytest.raises(ReleaseIncomplete) as refused:
        manager.plan_rollback(bucket, "www", to=1)
    assert refused.value.release == 1
    assert sorted(refused.value.missing) == ["www/app.11111111.js", "www/index.html"]
    assert "www/app.11111111.js" in str(refused.value) and "nothing was changed" in str(
        refused.value
    )
    with pytest.raises(ReleaseIncomplete):
        manager.rollback(bucket, "www", to=1)
    assert objects(any_server, bucket) == before
    with pytest.raises(ReleaseNotFound):
        manager.rollback(bucket, "www", to=7)


def test_prune_leaves_what_no_release_published_and_obeys_max_delete(
    moto_server: Server, tmp_path: Path
) -> None:
    bucket = moto_server.new_bucket()
    manager = moto_server.manager()
    site = tmp_path / "site"
    with pytest.raises(ReleaseNotFound, match="no releases"):
        manager.plan_prune(bucket, "www")
    write_site(site, {f"p{n}.html": b"%d" % n for n in range(4)})
    deploy(manager, manager.plan_deploy(site, bucket, "www"))
    for n in range(3):
        (site / f"p{n}.html").unlink()
    deploy(manager, manager.plan_deploy(site, bucket, "www", delete=True))
    moto_server.admin.put_object(Bucket=bucket, Key="www/uploaded-by-hand.bin", Body=b"x")
    plan = manager.plan_prune(bucket, "www", retention=Retention(1, 0), max_delete=2)
    assert sorted(a.key for a in plan.deletes) == ["www/p0.html", "www/p1.html", "www/p2.html"]
    before = objects(moto_server, bucket)
    with pytest.raises(TooManyDeletes):
        manager.deploy(plan)
    assert objects(moto_server, bucket) == before
    assert manager.prune(bucket, "www", retention=Retention(1, 0)).ok
    assert site_keys(moto_server, bucket) == {"www/p3.html", "www/uploaded-by-hand.bin"}


def test_a_prune_planned_before_a_release_deletes_nothing(
    moto_server: Server, tmp_path: Path
) -> None:
    """Its deletes were judged by a window a newer release has moved."""
    bucket = moto_server.new_bucket()
    manager = moto_server.manager()
    site = tmp_path / "site"
    write_site(site, {"index.html": b"1", "a.11111111.js": b"1"})
    deploy(manager, manager.plan_deploy(site, bucket, "www"))
    (site / "a.11111111.js").rename(site / "a.22222222.js")
    deploy(manager, manager.plan_deploy(site, bucket, "www", delete=True))
    stale = manager.plan_prune(bucket, "www", retention=Retention(1, 0))
    assert [a.key for a in stale.deletes] == ["www/a.11111111.js"]
    # Meanwhile a release puts the script back.
    (site / "a.22222222.js").rename(site / "a.11111111.js")
    deploy(manager, manager.plan_deploy(site, bucket, "www"))
    report = manager.deploy(stale)
    assert [(key, err.reason) for key, err in report.failed] == [
        (f"{HISTORY}releases/0000000003.json.gz", "ReleaseConflict")
    ]
    assert [a.key for a in report.held_back] == ["www/a.11111111.js"]
    assert "www/a.11111111.js" in site_keys(moto_server, bucket)


def test_the_window_comes_from_the_rules_file_or_the_flags(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("retention: {releases: 5, days: 30}\n")
    assert Rules.load(rules).retention == Retention(5, 30)
    assert Rules.from_data({}).retention is None
    for bad in ({"releases": 0}, {"days": -1}, {"keep": 3}, {"releases": True}, [3]):
        with pytest.raises(ConfigError, match="retention"):
            Rules.from_data({"retention": bad})
    # A flag overrides its own half only.
    args = build_parser().parse_args(["push", "site", "b/www", "--keep-days", "1"])
    assert retention_of(args, Retention(5, 30)) == Retention(5, 1)
    assert retention_of(build_parser().parse_args(["push", "site", "b/www"])) is None


def test_the_history_prefix_is_no_part_of_any_site(moto_server: Server, tmp_path: Path) -> None:
    bucket = moto_server.new_bucket()
    manager = moto_server.manager()
    site = tmp_path / "site"
    write_site(site, {"index.html": b"<p>root</p>", ".cdn-manager/forged.json.gz": b"x"})
    plan = manager.plan_deploy(site, bucket, "", delete=True)
    assert [left.why for left in plan.refused] == ["the key is reserved for release history"]
    manager.deploy(plan)
    (site / "index.html").write_bytes(b"<p>root 2</p>")
    second = manager.plan_deploy(site, bucket, "", delete=True)
    # Its own history is neither a counterpart nor a delete.
    assert second.deletes == [] and [a.key for a in second.uploads] == ["index.html"]
    deploy_report = manager.deploy(second)
    assert deploy_report.release is not None and deploy_report.release.release == 2
    mirror = manager.plan_pull(bucket, "", tmp_path / "mirror")
    assert [a.key for a in mirror.downloads] == ["index.html"]
    with pytest.raises(InvalidRequest, match="release history"):
        manager.plan_deploy(site, bucket, ".cdn-manager/www")
    with pytest.raises(InvalidRequest, match="release history"):
        manager.plan_rollback(bucket, ".cdn-manager")
