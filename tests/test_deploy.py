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

from cdn_manager import CDNManager, Conflict
from cdn_manager.deploy import DeployPlan, TooManyDeletes
from cdn_manager.deploy.invalidate import MAX_PATHS, MAX_WILDCARDS, cdn_paths

from conftest import Server, StartProxy
from helpers.faultproxy import FaultProxy
from helpers.site import RULES, site_files, write_site

PREFIX = "www"


def create_distribution(endpoint: str) -> str:
    """A CloudFront distribution on moto; its id."""
    client = boto3.client(
        "cloudfront",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="admin",
        aws_secret_access_key="admin-secret",
    )
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


def requests(proxy: FaultProxy, method: str, bucket: str) -> list[str]:
    """The keys of the ``method`` requests the proxy saw, in order."""
    prefix = f"/{bucket}/"
    keys = []
    for exchange in proxy.exchanges:
        path = exchange.target.split("?")[0]
        if exchange.method == method and path.startswith(prefix):
            keys.append(urllib.parse.unquote(path[len(prefix) :]))
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


def deploy(manager: CDNManager, plan: DeployPlan, **options: Any) -> Any:
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

    first = manager.plan_deploy(site, bucket, PREFIX, rules=rules, delete=True)
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

    second = manager.plan_deploy(site, bucket, PREFIX, rules=rules, delete=True)
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
    assert [u.key for u in report.updated] == [f"{PREFIX}/robots.txt"]
    assert {d.key for d in report.deleted} == {
        f"{PREFIX}/img/gallery/03/photo-061.jpg",
        f"{PREFIX}/data/item-05.json",
    }
    # On the wire: two uploads and one copy (both PUTs), two deletes, no HEAD.
    assert sorted(requests(proxy, "PUT", bucket)) == sorted(
        [
            f"{PREFIX}/{edited}",
            f"{PREFIX}/img/gallery/03/photo-061-renamed.jpg",
            f"{PREFIX}/robots.txt",
        ]
    )
    assert len(requests(proxy, "DELETE", bucket)) == 2
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
    cloudfront = boto3.client(
        "cloudfront",
        endpoint_url=moto_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="admin",
        aws_secret_access_key="admin-secret",
    )
    made = cloudfront.get_invalidation(DistributionId=distribution, Id=report.invalidation.id)
    assert sorted(made["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]) == sorted(
        report.invalidation.paths
    )
    listed = {
        o["Key"]
        for o in any_server.admin.list_objects_v2(Bucket=bucket, MaxKeys=1000).get("Contents", [])
    }
    assert listed == {f"{PREFIX}/{name}" for name in files}
    _, body = fetch_raw(manager.presign_download_url(bucket, f"{PREFIX}/{edited}"))
    assert gzip.decompress(body) == files[edited]

    third = manager.plan_deploy(site, bucket, PREFIX, rules=rules, delete=True)
    assert (third.uploads, third.updates, third.deletes) == ([], [], [])
    assert len(third.unchanged) == len(files)
