"""``cdn-manager push`` as a deploy, ``pull --delete`` and ``verify``, run
as users run them: subprocesses against the real servers."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from test_deploy import cloudfront, create_distribution

from conftest import MiB, Server
from helpers.cli import (
    bucket_keys,
    cdn,
    clean_env,
    config_for,
    make_tree,
    read_tree,
    site_keys,
    start,
    wait_until,
)
from helpers.site import RULES

#: moto behind a throttling proxy, as test_cli's interrupt tests use it.


def test_push_dry_run_shows_every_kind_of_change_then_push_and_verify(
    any_server: Server, tmp_path: Path
) -> None:
    config = config_for(any_server, tmp_path)
    bucket = any_server.new_bucket()
    site, rules = tmp_path / "site", tmp_path / "rules.yaml"
    make_tree(
        site,
        {
            "index.html": b"<h1>1</h1>",
            "app.0123abcd.js": b"go()",
            "old.txt": b"x",
            "robots.txt": b"*",
        },
    )
    rules.write_text(RULES)
    receipt = tmp_path / "deploy.json"
    first = cdn(
        "push", site, f"{bucket}/web", "--rules", rules, "--receipt", receipt, config=config
    )
    assert first.code == 0, first.stderr
    assert "4 uploaded" in first.out and f"receipt written to {receipt}" in first.out

    (site / "index.html").write_bytes(b"<h1>2</h1>")
    (site / "old.txt").unlink()
    rules.write_text(RULES.replace("max-age=60", "max-age=5"))
    # A window of the new release alone: what leaves the site goes at once.
    at_once = ("--keep-releases", "1", "--keep-days", "0")
    args = ("push", site, f"{bucket}/web", "--rules", rules, "--delete", *at_once)
    dry = cdn(*args, "--dry-run", config=config)
    assert dry.code == 0, dry.stderr
    lines = dry.out.splitlines()
    assert f"would upload web/index.html <- {site / 'index.html'} (10 B, checksum differs)" in lines
    assert "would update headers of web/robots.txt (headers differ: cache_control)" in lines
    assert "would delete web/old.txt" in lines
    assert lines[-1].startswith(
        f"push {bucket}/web/: 1 to upload (10 B), 1 to update, 1 to delete, 1 unchanged in "
    )
    assert sorted(site_keys(any_server, bucket)) == [
        "web/app.0123abcd.js",
        "web/index.html",
        "web/old.txt",
        "web/robots.txt",
    ]

    done = cdn(*args, "--json", "--receipt", receipt, config=config).json()
    assert done["ok"] and done["deleted"] == ["web/old.txt"]
    assert [u["key"] for u in done["transferred"]] == ["web/index.html"]
    assert done["updated"] == [
        {
            "key": "web/robots.txt",
            "why": "headers differ: cache_control",
            # Garage, like AWS, does not let a write-only key copy.
            "uploaded_again": any_server.name == "garage",
        }
    ]
    assert sorted(done["unchanged"]) == ["web/app.0123abcd.js"]

    verified = cdn("verify", receipt, config=config)
    assert verified.code == 0, verified.stderr
    assert "bucket and local files match the receipt" in verified.out
    any_server.admin.put_object(Bucket=bucket, Key="web/robots.txt", Body=b"*", CacheControl="x")
    failed = cdn("verify", receipt, "--bucket-only", config=config)
    assert failed.code == 1
    cache, kind = failed.stderr.splitlines()
    assert cache == (
        "cdn-manager: error: web/robots.txt: cache-control is 'x', receipt has 'public, max-age=5'"
    )
    # The server's default type for an object stored without one (moto's, or none).
    assert kind.startswith("cdn-manager: error: web/robots.txt: content-type is ")
    assert kind.endswith(", receipt has 'text/plain'")
    assert cdn("verify", receipt, "--local-only", config=config).code == 0


def test_push_over_max_delete_refuses_in_one_line_and_changes_nothing(
    moto_server: Server, tmp_path: Path
) -> None:
    config = config_for(moto_server, tmp_path)
    bucket = moto_server.new_bucket()
    site = tmp_path / "site"
    make_tree(site, {f"p{n}.html": b"%d" % n for n in range(4)})
    assert cdn("push", site, bucket, config=config).code == 0
    for n in range(3):
        (site / f"p{n}.html").unlink()
    (site / "p3.html").write_bytes(b"new")

    at_once = ("--keep-releases", "1", "--keep-days", "0")
    args = ("push", site, bucket, "--delete", "--max-delete", "2", *at_once)
    dry = cdn(*args, "--dry-run", config=config)
    assert dry.code == 1
    assert "would refuse: 3 deletes exceed --max-delete 2" in dry.stderr
    run = cdn(*args, config=config)
    assert run.code == 1
    assert run.stderr.splitlines() == [
        f"cdn-manager: error: deploy to {bucket}/ would delete 3 objects, more than "
        "max_delete=2; nothing was changed"
    ]
    assert sorted(site_keys(moto_server, bucket)) == [f"p{n}.html" for n in range(4)]
    body = moto_server.admin.get_object(Bucket=bucket, Key="p3.html")["Body"].read()
    assert body == b"3"


def test_push_invalidates_overwritten_paths_on_cloudfront(
    moto_server: Server, tmp_path: Path
) -> None:
    config = config_for(moto_server, tmp_path)
    bucket = moto_server.new_bucket()
    distribution = create_distribution(moto_server.endpoint)
    env = clean_env(AWS_ENDPOINT_URL_CLOUDFRONT=moto_server.endpoint)
    site = tmp_path / "site"
    make_tree(site, {"index.html": b"<p>1</p>", "a b.html": b"<p>1</p>", "new.css": b""})
    target = f"cloudfront:{distribution}"
    first = cdn("push", site, bucket, "--invalidate", target, "--json", config=config, env=env)
    assert first.json()["invalidation"] is None  # nothing was overwritten
    make_tree(site, {"index.html": b"<p>2</p>", "a b.html": b"<p>2</p>", "more.css": b"b{}"})
    run = cdn("push", site, bucket, "--invalidate", target, "--wait", config=config, env=env)
    assert run.code == 0, run.stderr
    line = next(line for line in run.out.splitlines() if line.startswith("invalidation "))
    assert line.endswith(f"on {target} for 2 paths (COMPLETED)")  # moto's word
    invalidation_id = line.split()[1]
    made = cloudfront(moto_server.endpoint).get_invalidation(
        DistributionId=distribution, Id=invalidation_id
    )
    assert sorted(made["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]) == [
        "/a%20b.html",
        "/index.html",
    ]
    bad = cdn("push", site, bucket, "--invalidate", "fastly:x", config=config, env=env)
    assert bad.code == 1 and "cloudfront:DISTRIBUTION_ID" in bad.stderr


def test_pull_delete_filters_receipt_and_one_line_failures(
    any_server: Server, tmp_path: Path
) -> None:
    config = config_for(any_server, tmp_path)
    bucket = any_server.new_bucket()
    for key, data in (("s/a.html", b"a"), ("s/b.tmp", b"b"), ("s/sub/c.css", b"c")):
        any_server.admin.put_object(Bucket=bucket, Key=key, Body=data)
    target = tmp_path / "mirror"
    make_tree(target, {"stale.html": b"old", "keep.tmp": b"mine", "sub/old.css": b"o"})

    receipt = tmp_path / "pull.json"
    args = ("pull", f"{bucket}/s", target, "--exclude", "*.tmp", "--delete")
    dry = cdn(*args, "--dry-run", config=config)
    assert f"would delete {target / 'stale.html'}" in dry.out.splitlines()
    assert read_tree(target)["stale.html"] == b"old"
    run = cdn(*args, "--receipt", receipt, "--json", config=config)
    assert run.code == 0, run.stderr
    assert sorted(run.json()["deleted"]) == [
        str(target / "stale.html"),
        str(target / "sub/old.css"),
    ]
    assert read_tree(target) == {"a.html": b"a", "keep.tmp": b"mine", "sub/c.css": b"c"}
    document = json.loads(receipt.read_text())
    assert sorted(document["objects"]) == ["s/a.html", "s/sub/c.css"]
    assert cdn("verify", receipt, config=config).code == 0
    (target / "a.html").write_bytes(b"A")
    local = cdn("verify", receipt, "--local-only", config=config)
    assert local.code == 1
    assert local.stderr.strip() == (
        f"cdn-manager: error: {target / 'a.html'}: crc32 of the file differs from the receipt"
    )

    # An empty prefix says so; a folder that cannot be written is one line.
    empty = cdn("pull", f"{bucket}/nothing-here", tmp_path / "e", config=config)
    assert empty.code == 0 and f"no objects under {bucket}/nothing-here/" in empty.stderr
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    blocked = cdn("pull", f"{bucket}/s", blocker / "sub", config=config)
    assert blocked.code == 1
    (line,) = blocked.stderr.splitlines()
    assert line.startswith(f"cdn-manager: error: cannot write to {blocker / 'sub'}: ")


def test_push_output_escapes_hostile_file_names(moto_server: Server, tmp_path: Path) -> None:
    config = config_for(moto_server, tmp_path)
    bucket = moto_server.new_bucket()
    site = tmp_path / "site"
    make_tree(site, {"evil\x1b[31m.txt": b"x", "fine.txt": b"y"})
    run = cdn("push", site, bucket, config=config)
    assert run.code == 0, run.stderr
    assert "\x1b" not in run.out and "evil\\x1b[31m.txt" in run.out
    keys = cdn("push", site, bucket, "--json", "--dry-run", config=config).json()["unchanged"]
    assert sorted(keys) == ["evil\x1b[31m.txt", "fine.txt"]
    assert os.path.exists(site / "evil\x1b[31m.txt")


def test_interrupted_push_starts_no_delete_and_leaves_no_upload(
    slow_moto: Server, tmp_path: Path
) -> None:
    config = config_for(slow_moto, tmp_path)
    bucket = slow_moto.new_bucket()
    slow_moto.admin.put_object(Bucket=bucket, Key="old.txt", Body=b"still served")
    folder = tmp_path / "folder"
    make_tree(folder, {"big.bin": os.urandom(40 * MiB), "index.html": b"<p>new</p>"})

    process = start("push", folder, bucket, "--delete", config=config)

    def upload_started() -> bool:
        return bool(slow_moto.admin.list_multipart_uploads(Bucket=bucket).get("Uploads"))

    wait_until(upload_started, 60, "a multipart upload")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 130, stderr
    assert slow_moto.admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # Nothing after the interrupt: no page, no delete. The release it
    # claimed first stays "deploying": it never completed.
    assert site_keys(slow_moto, bucket) == ["old.txt"]
    assert ".cdn-manager/releases/0000000001.json.gz" in bucket_keys(slow_moto, bucket)
