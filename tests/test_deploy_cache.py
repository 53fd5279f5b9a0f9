"""What a deploy compares and remembers: the checksums other tools store,
the local checksum cache and the remembered ETags that let an unchanged tree
be re-pushed without reading a file or sending a HEAD, and a cache that is
corrupt (ignored, never trusted)."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest
import urllib3
from test_deploy import deploy

from cdn_manager import _core

from conftest import Server, StartProxy
from helpers.site import write_site


@pytest.mark.slow  # 10,000 uploads to moto first (about a minute)
def test_unchanged_10000_file_repush_reads_no_file_and_heads_no_object(
    moto_server: Server, tmp_path: Path, fault_proxy: StartProxy
) -> None:
    bucket = moto_server.new_bucket()
    site = tmp_path / "tree"
    for n in range(10_000):
        path = site / f"d{n % 20:02}" / f"s{n % 7}" / f"file-{n:05}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%d" % n * (n % 50))
    # Files modified in the last moments are re-read once (racily clean, as
    # git treats them); a built tree is older than that.
    past = time.time() - 3600
    for path in site.rglob("*.txt"):
        os.utime(path, (past, past))
    proxy = fault_proxy(moto_server)
    manager = moto_server.manager(host=proxy.endpoint)
    deploy(manager, manager.plan_deploy(site, bucket, "snap"))
    proxy.exchanges.clear()

    started = time.monotonic()
    plan = manager.plan_deploy(site, bucket, "snap", delete=True)
    assert (plan.uploads, plan.updates, plan.deletes) == ([], [], [])
    assert len(plan.unchanged) == 10_000
    assert plan.stats.files_read == 0 and plan.stats.bytes_read == 0
    assert plan.stats.cache_hits == 10_000 and plan.stats.remembered == 10_000
    report = manager.deploy(plan)
    assert report.ok and report.uploaded == []
    print(f"unchanged 10,000-file re-push: {time.monotonic() - started:.2f} s")
    # Listings and nothing else: a first page, the 20 folders' names, then
    # each folder's 500 keys side by side (cdn_manager._operations.listing);
    # and the release history's: its releases, the latest one's manifest,
    # and the 10,000 kept copies of the files (none has a content hash),
    # 1,000 a page.
    manifest = f"/{bucket}/.cdn-manager/snap/releases/0000000001.json.gz"
    # (The native plane lists "/bucket/", boto3 "/bucket".)
    paths = {(e.method, e.target.split("?")[0].rstrip("/")) for e in proxy.exchanges}
    assert paths == {
        ("GET", f"/{bucket}"),
        ("GET", manifest),
    }
    assert len(proxy.exchanges) == (1 + 1 + 20) + (1 + 1 + 10)


def test_a_corrupt_cache_is_ignored_not_trusted(
    moto_server: Server, tmp_path: Path, private_cache: Path
) -> None:
    bucket = moto_server.new_bucket()
    manager = moto_server.manager()
    site = tmp_path / "site"
    write_site(site, {"a.txt": b"first", "b.txt": b"second"})
    past = time.time() - 3600
    for path in site.iterdir():
        os.utime(path, (past, past))
    deploy(manager, manager.plan_deploy(site, bucket))
    assert manager.plan_deploy(site, bucket).stats.files_read == 0

    # Release 1's manifest also proves the objects without a HEAD: gone,
    # only the (corrupt) cache could spare the HEADs.
    history = moto_server.admin.list_objects_v2(Bucket=bucket, Prefix=".cdn-manager/")
    for listed in history["Contents"]:
        moto_server.admin.delete_object(Bucket=bucket, Key=listed["Key"])
    for cache in (private_cache / "cdn-manager" / "deploy").glob("*.json"):
        text = cache.read_text()
        cache.write_text(text.replace('"etag"', '"etaG"').replace("5", "6", 1))
    plan = manager.plan_deploy(site, bucket)
    assert plan.stats.files_read == 2 and plan.stats.remembered == 0
    assert plan.stats.heads == 2 and len(plan.unchanged) == 2


def test_objects_other_tools_wrote_compare_by_their_crc64nvme_or_md5(
    moto_server: Server, tmp_path: Path
) -> None:

    bucket = moto_server.new_bucket()
    site = tmp_path / "site"
    write_site(site, {"cli.txt": b"written by the aws cli", "md5.txt": b"only an md5 etag"})
    crc = base64.b64encode(
        _core.checksum(b"written by the aws cli", "crc64nvme").to_bytes(8, "big")
    )
    # The AWS CLI's default: a CRC64NVME full-object checksum (moto is open,
    # so a plain PUT stands in for the CLI).
    urllib3.request(
        "PUT",
        f"{moto_server.endpoint}/{bucket}/cli.txt",
        body=b"written by the aws cli",
        headers={
            "x-amz-checksum-crc64nvme": crc.decode(),
            "x-amz-sdk-checksum-algorithm": "CRC64NVME",
        },
    )
    moto_server.admin.put_object(Bucket=bucket, Key="md5.txt", Body=b"only an md5 etag")
    manager = moto_server.manager()
    plan = manager.plan_deploy(site, bucket)
    # Same content: no upload; only their content type is not the rules'.
    assert plan.uploads == []
    assert [(u.key, u.why) for u in plan.updates] == [
        ("cli.txt", "headers differ: content_type"),
        ("md5.txt", "headers differ: content_type"),
    ]
    (site / "cli.txt").write_bytes(b"written by the aws CLI")
    plan = manager.plan_deploy(site, bucket)
    assert [(u.key, u.why) for u in plan.uploads] == [("cli.txt", "checksum differs")]
