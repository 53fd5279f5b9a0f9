"""Deploying a site (``plan_deploy`` + ``deploy``) against moto and s3s-fs:
exactly what changed moves, in a safe order, with the headers the rules
say, and the CDN told about exactly what it may hold stale."""

from __future__ import annotations

import gzip
import os
import time
import urllib.parse
from pathlib import Path
from typing import Any

import boto3
import brotli
import pytest
import urllib3

from cdn_manager import CDNManager, Retention, SyncPlan, TooManyDeletes

from conftest import Server, StartProxy
from helpers.faultproxy import FaultProxy
from helpers.site import RULES, site_files, write_site

PREFIX = "www"
#: A retention window of the new release alone: what leaves the site is
#: deleted at once (the release history's own tests are test_releases.py).
AT_ONCE = Retention(releases=1, days=0)


def cloudfront(endpoint: str) -> Any:
    """A CloudFront client on moto."""
    return boto3.client(
        "cloudfront",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="admin",
        aws_secret_access_key="admin-secret",
    )


def create_distribution(endpoint: str) -> str:
    """A CloudFront distribution on moto; its id."""
    client = cloudfront(endpoint)
    origin = {
        "Id": "o",
        "DomainName": "origin.s3.amazonaws.com",
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }
    config = {
        "CallerReference": str(time.time_ns()),
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "o",
            "ViewerProtocolPolicy": "allow-all",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
        "Comment": "",
        "Enabled": True,
    }
    return str(client.create_distribution(DistributionConfig=config)["Distribution"]["Id"])


def requests(proxy: FaultProxy, method: str, bucket: str, history: bool = False) -> list[str]:
    """The keys of the ``method`` requests the proxy saw, in order: of the
    site, or (``history``) of the release history."""
    prefix = f"/{bucket}/"
    keys = []
    for exchange in proxy.exchanges:
        path = exchange.target.split("?")[0]
        # (A listing's path is the bucket's, with or without its slash.)
        if exchange.method == method and path.startswith(prefix) and path != prefix:
            key = urllib.parse.unquote(path[len(prefix) :])
            if key.startswith(".cdn-manager/") == history:
                keys.append(key)
    return keys


def fetch_raw(url: str) -> tuple[dict[str, str], bytes]:
    """GET a URL; the headers and the body exactly as sent (not decoded)."""
    response = urllib3.request("GET", url, preload_content=False, decode_content=False)
    body = response.read(decode_content=False)
    assert response.status == 200, (response.status, body[:200])
    return {k.lower(): v for k, v in response.headers.items()}, body


def decoded(encoding: str | None, body: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        return bytes(brotli.decompress(body))
    return body


def lists_etags(server: Server, bucket: str) -> bool:
    listed = server.admin.list_objects_v2(Bucket=bucket, MaxKeys=1)["Contents"]
    return bool(listed[0].get("ETag"))


def stored_etags(server: Server, bucket: str) -> dict[str, str]:
    listed = server.admin.list_objects_v2(Bucket=bucket)["Contents"]
    return {o["Key"]: server.admin.head_object(Bucket=bucket, Key=o["Key"])["ETag"] for o in listed}


def deploy(manager: CDNManager, plan: SyncPlan, **options: Any) -> Any:
    report = manager.deploy(plan, **options)
    assert report.ok, (report.failed, report.held_back, plan.refused)
    return report


def test_site_deploy_then_changes_move_exactly_what_changed(
    any_server: Server,
    moto_server: Server,
    bucket: str,
    tmp_path: Path,
    fault_proxy: StartProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFRONT", moto_server.endpoint)
    distribution = create_distribution(moto_server.endpoint)
    proxy = fault_proxy(any_server)
    manager = any_server.manager(host=proxy.endpoint)
    site, rules = tmp_path / "site", tmp_path / "rules.yaml"
    files = site_files()
    write_site(site, files)
    rules.write_text(RULES)
    keys = {f"{PREFIX}/{name}" for name in files}

    first = manager.plan_deploy(site, bucket, PREFIX, rules=rules, delete=True, retention=AT_ONCE)
    assert {u.key for u in first.uploads} == keys and len(keys) == 300
    deploy(manager, first, invalidate=f"cloudfront:{distribution}")
    # Pages only once every asset is in place.
    puts = requests(proxy, "PUT", bucket)
    pages = [n for n, key in enumerate(puts) if key.endswith(".html")]
    assert sorted(puts) == sorted(keys)
    assert min(pages) == len(puts) - len(pages)

    # Headers on the server, and as a browser would get them.
    for name, encoding, cache in (
        ("blog/post-03/index.html", "gzip", "public, max-age=0, must-revalidate"),
        (next(n for n in files if n.endswith(".css")), "br", "public, max-age=31536000, immutable"),
        ("img/gallery/01/photo-020.jpg", None, None),
        ("robots.txt", None, "public, max-age=60"),
    ):
        head = any_server.admin.head_object(Bucket=bucket, Key=f"{PREFIX}/{name}")
        assert head.get("ContentEncoding") == encoding, name
        assert head.get("CacheControl") == cache, name
        url = manager.presign_download_url(bucket, f"{PREFIX}/{name}")
        headers, body = fetch_raw(url)
        assert headers.get("content-encoding") == encoding, name
        assert decoded(encoding, body) == files[name]
    assert any_server.admin.head_object(Bucket=bucket, Key=f"{PREFIX}/index.html")[
        "ContentType"
    ].startswith("text/html")

    # One same-length edit, one rename, one delete, every mtime touched, one
    # rules change.
    edited = "blog/post-07/index.html"
    old = files[edited]
    files[edited] = old[:-12] + old[-12:].upper()
    assert len(files[edited]) == len(old) and files[edited] != old
    files["img/gallery/03/photo-061-renamed.jpg"] = files.pop("img/gallery/03/photo-061.jpg")
    (site / "img/gallery/03/photo-061.jpg").rename(site / "img/gallery/03/photo-061-renamed.jpg")
    del files["data/item-05.json"]
    (site / "data/item-05.json").unlink()
    (site / edited).write_bytes(files[edited])
    now = time.time()
    for name in files:
        os.utime(site / name, (now, now))
    rules.write_text(RULES.replace("max-age=60", "max-age=300"))
    proxy.exchanges.clear()

    second = manager.plan_deploy(site, bucket, PREFIX, rules=rules, delete=True, retention=AT_ONCE)
    # Every object proven by its remembered ETag, where listings carry ETags
    # (s3s-fs 0.14's do not: there every object is checked with a HEAD).
    listed_etags = lists_etags(any_server, bucket)
    assert second.stats.heads == (0 if listed_etags else len(files) - 1)
    assert second.stats.files_read == len(files)  # touched: re-read, not trusted
    report = deploy(manager, second, invalidate=f"cloudfront:{distribution}")
    assert {u.key: u.why for u in report.uploaded} == {
        f"{PREFIX}/{edited}": "checksum differs",
        f"{PREFIX}/img/gallery/03/photo-061-renamed.jpg": "new",
    }
    # Garage, like AWS, does not let a write-only key copy (CopyObject reads
    # the source): the header update is an upload again there.
    refuses_copies = any_server.name == "garage"
    header_updates = report.reuploaded if refuses_copies else report.updated
    assert [u.key for u in header_updates] == [f"{PREFIX}/robots.txt"]
    assert {d.key for d in report.deleted} == {
        f"{PREFIX}/img/gallery/03/photo-061.jpg",
        f"{PREFIX}/data/item-05.json",
    }
    # On the wire: two uploads and one copy (both PUTs; on Garage the copy
    # refused, then the upload), two deletes, no HEAD.
    copies = [f"{PREFIX}/robots.txt"] * (2 if refuses_copies else 1)
    assert sorted(requests(proxy, "PUT", bucket)) == sorted(
        [f"{PREFIX}/{edited}", f"{PREFIX}/img/gallery/03/photo-061-renamed.jpg", *copies]
    )
    assert len(requests(proxy, "DELETE", bucket)) == 2
    # The release history: the manifest claimed then completed, and a kept
    # copy of the one mutable file with new content (the renamed photo's
    # content is kept already).
    manifest = ".cdn-manager/www/releases/0000000002.json.gz"
    assert sorted(requests(proxy, "PUT", bucket, history=True)) == sorted(
        [manifest, manifest, *(a.key for a in second.release.keep)]
    )
    assert [a.key.rsplit("-", 1)[1] for a in second.release.keep] == [f"{len(files[edited])}.gzip"]
    if listed_etags:
        assert requests(proxy, "HEAD", bucket) == []
    head = any_server.admin.head_object(Bucket=bucket, Key=f"{PREFIX}/robots.txt")
    assert head["CacheControl"] == "public, max-age=300"
    # The invalidation: exactly the overwritten and deleted paths.
    assert report.invalidation is not None
    assert sorted(report.invalidation.paths) == [
        f"/{PREFIX}/blog/post-07/index.html",
        f"/{PREFIX}/data/item-05.json",
        f"/{PREFIX}/img/gallery/03/photo-061.jpg",
        f"/{PREFIX}/robots.txt",
    ]
    made = cloudfront(moto_server.endpoint).get_invalidation(
        DistributionId=distribution, Id=report.invalidation.id
    )
    assert sorted(made["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]) == sorted(
        report.invalidation.paths
    )
    listed = {
        o["Key"]
        for o in any_server.admin.list_objects_v2(
            Bucket=bucket, Prefix=f"{PREFIX}/", MaxKeys=1000
        ).get("Contents", [])
    }
    assert listed == {f"{PREFIX}/{name}" for name in files}
    _, body = fetch_raw(manager.presign_download_url(bucket, f"{PREFIX}/{edited}"))
    assert gzip.decompress(body) == files[edited]

    third = manager.plan_deploy(site, bucket, PREFIX, rules=rules, delete=True, retention=AT_ONCE)
    assert (third.uploads, third.updates, third.deletes) == ([], [], [])
    assert len(third.unchanged) == len(files)
    assert third.release is not None and not third.release.record


def test_more_deletes_than_max_delete_changes_nothing(
    any_server: Server, bucket: str, tmp_path: Path
) -> None:
    manager = any_server.manager()
    site = tmp_path / "site"
    write_site(site, {f"page-{n}.html": b"<p>%d</p>" % n for n in range(5)})
    deploy(manager, manager.plan_deploy(site, bucket))
    for n in range(4):
        (site / f"page-{n}.html").unlink()
    (site / "page-4.html").write_bytes(b"<p>changed</p>")
    (site / "new.css").write_bytes(b"body{}")
    before = stored_etags(any_server, bucket)

    plan = manager.plan_deploy(site, bucket, delete=True, max_delete=3, retention=AT_ONCE)
    assert plan.too_many_deletes and len(plan.deletes) == 4
    with pytest.raises(TooManyDeletes, match="nothing was changed"):
        manager.deploy(plan)
    assert stored_etags(any_server, bucket) == before

    allowed = manager.plan_deploy(site, bucket, delete=True, max_delete=4, retention=AT_ONCE)
    deploy(manager, allowed)
    keys = [o["Key"] for o in any_server.admin.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(k for k in keys if not k.startswith(".cdn-manager/")) == [
        "new.css",
        "page-4.html",
    ]


def test_filters_select_the_same_paths_on_push_and_pull(
    any_server: Server, bucket: str, tmp_path: Path
) -> None:
    manager = any_server.manager()
    site = tmp_path / "site"
    files = {
        "index.html": b"<h1>home</h1>",
        "drafts/wip.html": b"<p>draft</p>",
        "drafts/keep.html": b"<p>kept</p>",
        "img/a.png": b"\x89PNG a",
        "img/b.tmp": b"scratch",
        "notes.md": b"# notes",
    }
    write_site(site, files)
    # Everything but drafts and *.tmp, except drafts/keep.html: the last
    # matching filter wins.
    filters = [
        ("exclude", "drafts/"),
        ("exclude", "*.tmp"),
        ("include", "drafts/keep.html"),
    ]
    plan = manager.plan_deploy(site, bucket, "web", filters=filters, delete=True)
    assert sorted(u.key for u in plan.uploads) == [
        "web/drafts/keep.html",
        "web/img/a.png",
        "web/index.html",
        "web/notes.md",
    ]
    assert plan.stats.filtered_out == 2
    deploy(manager, plan)
    # Objects that filters exclude are left alone by --delete.
    any_server.admin.put_object(Bucket=bucket, Key="web/img/c.tmp", Body=b"made elsewhere")
    again = manager.plan_deploy(site, bucket, "web", filters=filters, delete=True)
    assert again.deletes == [] and again.uploads == []

    # The same filters on a pull: keys are selected by their path below the
    # prefix, local files outside the selection are never deleted.
    mirror_folder = tmp_path / "mirror"
    write_site(mirror_folder, {"img/local.tmp": b"mine", "stale.html": b"old"})
    pulled = manager.plan_pull(bucket, "web", mirror_folder, filters=filters, delete=True)
    assert sorted(c.key for c in pulled.downloads) == [
        "web/drafts/keep.html",
        "web/img/a.png",
        "web/index.html",
        "web/notes.md",
    ]
    assert [d.path for d in pulled.deletes] == [mirror_folder / "stale.html"]
    report = manager.pull(pulled)
    assert report.ok and [d.path for d in report.deleted] == [mirror_folder / "stale.html"]
    assert sorted(p.relative_to(mirror_folder).as_posix() for p in mirror_folder.rglob("*.*")) == [
        "drafts/keep.html",
        "img/a.png",
        "img/local.tmp",
        "index.html",
        "notes.md",
    ]


def test_receipt_verifies_until_an_object_changes_behind_its_back(
    any_server: Server, bucket: str, tmp_path: Path
) -> None:
    manager = any_server.manager()
    site, rules = tmp_path / "site", tmp_path / "rules.yaml"
    write_site(site, {"index.html": b"<h1>hi</h1>" * 40, "css/a.0badc0de.css": b"a{}" * 50})
    rules.write_text(RULES)
    receipt = tmp_path / "receipt.json"
    report = deploy(manager, manager.plan_deploy(site, bucket, "r", rules=rules), receipt=receipt)
    assert report.receipt == receipt
    assert manager.verify_receipt(receipt) == []

    any_server.admin.put_object(Bucket=bucket, Key="r/index.html", Body=b"<h1>defaced</h1>")
    (site / "css/a.0badc0de.css").write_bytes(b"b{}" * 50)
    differences = manager.verify_receipt(receipt)
    # Judged by content: other bytes, whatever the ETag says.
    assert "r/index.html: holds 16 bytes, receipt has 440" in differences, differences
    assert "r/index.html: content-encoding is unset, receipt has 'gzip'" in differences
    assert any(
        line.endswith("a.0badc0de.css: crc32 of the file differs from the receipt")
        for line in differences
    )
    assert manager.verify_receipt(receipt, local=False) == [
        line for line in differences if line.startswith("r/")
    ]


@pytest.mark.usefixtures("face")
def test_both_faces_plan_and_deploy_with_progress_for_the_whole_deploy(
    moto_server: Server, tmp_path: Path
) -> None:
    bucket = moto_server.new_bucket()
    manager = moto_server.manager()
    site, rules = tmp_path / "site", tmp_path / "rules.yaml"
    files = {"index.html": b"<p>" * 3000, "a.js": b"x()" * 2000, "b.bin": os.urandom(9000)}
    write_site(site, files)
    rules.write_text(RULES)
    plan = manager.plan_deploy(site, bucket, "p", rules=rules)
    # The site's files, and a kept copy of each (none has a content hash).
    assert plan.release is not None and len(plan.release.keep) == 3
    assert plan.size == 2 * sum(len(data) for data in files.values())
    moved: list[int] = []
    report = manager.deploy(plan, progress=moved.append)
    assert report.ok and len(report.uploaded) == 3
    # Compressed files count their own size, so the total is the plan's.
    assert sum(moved) == plan.size
    assert manager.plan_deploy(site, bucket, "p", rules=rules).uploads == []
