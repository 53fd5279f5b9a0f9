"""Garage, set up with its usual region ("garage"): the region is learnt when
not configured, used as given when configured, and a wrong one is an error
naming the server's; every transfer stays on the native plane (the suite's
``no_unintended_fallback`` guard fails any test that falls back). And the
least-privilege audit (``doctor``) on Garage's per-bucket key grants."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import urllib3

from cdn_manager import WrongRegion

from conftest import SMALL_PARTS, MiB, Server
from helpers.cli import cdn, config_for, one_error_line
from helpers.garage import REGION

PAYLOADS = {"small": b"on garage", "multipart": os.urandom(7 * MiB)}
#: The region given in the credentials: none (learnt) or Garage's own.
REGIONS: dict[str, dict[str, str | None]] = {"learnt": {"region": None}, "configured": {}}


@pytest.mark.parametrize("how", list(REGIONS))
def test_transfers_links_and_doctor_use_the_servers_region_natively(
    garage_server: Server, workdir: Path, how: str
) -> None:
    bucket = garage_server.new_bucket()
    # Native, whatever plane the run asks for: the issue is that the native
    # plane must not lose a wrong-region request to the boto3 fallback.
    manager = garage_server.manager(replace(SMALL_PARTS, data_plane="native"), **REGIONS[how])
    for size, data in PAYLOADS.items():
        manager.put_bytes(bucket, f"{size}.bin", data)
        assert manager.get_file(bucket, f"{size}.bin", workdir / size).read_bytes() == data
        link = manager.presign_download_url(bucket, f"{size}.bin", expires=60)
        fetched = urllib3.request("GET", link, timeout=30)
        assert (fetched.status, fetched.data) == (200, data)
    report = manager.check(bucket)
    assert report.ok, str(report)
    assert report.region == f"{REGION} ({how})"
    assert manager.data_plane.name == "native"


@pytest.mark.parametrize("first", ["stat", "exists", "stat after a download"])
def test_a_head_first_learns_the_region_it_cannot_be_told(
    garage_server: Server, workdir: Path, first: str
) -> None:
    # A HEAD signed for another region gets a bare 400 from Garage (no body
    # names the region), and botocore's redirector cannot learn from it.
    bucket = garage_server.new_bucket()
    garage_server.admin.put_object(Bucket=bucket, Key="k", Body=b"on garage")
    manager = garage_server.manager(replace(SMALL_PARTS, data_plane="native"), region=None)
    if first == "exists":
        assert manager.exists(bucket, "k")
        assert not manager.exists(bucket, "missing")
    else:
        if first == "stat after a download":
            # The native GET learns the region; boto3's HEAD must sign for it.
            assert manager.get_file(bucket, "k", workdir / "k").read_bytes() == b"on garage"
        assert manager.stat(bucket, "k").size == len(b"on garage")
    assert manager.check(bucket).region == f"{REGION} (learnt)"


#: Uploads too large for the socket buffers, as a manager's first request:
#: (body size, part size) — one PUT, or parts after boto3's
#: CreateMultipartUpload (which its own redirector sends to the right region).
FIRST_UPLOADS = {
    "4MiB-put": (4 * MiB, 128 * MiB),
    "64MiB-put": (64 * MiB, 128 * MiB),
    "64MiB-parts": (64 * MiB, 16 * MiB),
}


@pytest.mark.parametrize("upload", list(FIRST_UPLOADS))
def test_a_large_first_upload_learns_the_region_natively(
    garage_server: Server, upload: str
) -> None:
    # Garage refuses a request signed for us-east-1 by its head and closes;
    # a sender still writing a large body used to fail with a broken pipe
    # without reading the refusal, so the region was never learnt (issue 27).
    size, part = FIRST_UPLOADS[upload]
    bucket = garage_server.new_bucket()
    config = replace(SMALL_PARTS, data_plane="native", multipart_threshold=part, part_size=part)
    manager = garage_server.manager(config, region=None)
    data = os.urandom(size)
    manager.put_bytes(bucket, "first.bin", data)
    stored = garage_server.admin.get_object(Bucket=bucket, Key="first.bin")["Body"].read()
    assert stored == data
    assert manager.data_plane.name == "native"
    assert manager.check(bucket).region == f"{REGION} (learnt)"


def test_a_wrong_configured_region_is_an_error_naming_the_servers(
    garage_server: Server, workdir: Path
) -> None:
    bucket = garage_server.new_bucket()
    manager = garage_server.manager(region="eu-west-1")
    for action in (
        lambda: manager.put_bytes(bucket, "k", b"x"),
        lambda: manager.get_file(bucket, "k", workdir / "k"),
        lambda: list(manager.list(bucket)),
    ):
        with pytest.raises(WrongRegion) as caught:
            action()
        message = str(caught.value)
        assert "\n" not in message
        assert f"signed for region {REGION}, not the configured eu-west-1" in message
        assert caught.value.server_region == REGION
    report = manager.check(bucket)
    assert not report.ok and report.region is None
    assert REGION in str(report)
    assert garage_server.admin.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_doctor_reports_the_region_and_fails_one_key_allowed_both(
    garage_server: Server, tmp_path: Path
) -> None:
    bucket = garage_server.new_bucket()
    config = config_for(garage_server, tmp_path / "two-keys", region=None)
    passed = cdn("doctor", bucket, config=config)
    assert passed.code == 0, passed.out + passed.stderr
    assert f"region: {REGION} (learnt)" in passed.out
    # The key that created the bucket may read, write and administer it.
    key, secret = garage_server.admin_key
    both = config_for(
        garage_server,
        tmp_path / "one-key",
        downloader_access_key=key,
        downloader_access_secret=secret,
        uploader_access_key=key,
        uploader_access_secret=secret,
        region=REGION,
    )
    failed = cdn("doctor", bucket, "--json", config=both)
    assert failed.code == 1
    result = failed.json()
    assert result["region"] == f"{REGION} (configured)"
    refused = {f["check"] for f in result["findings"] if not f["ok"]}
    assert refused == {
        "write key cannot read",
        "write key cannot list",
        "read key cannot write",
        "read key cannot delete",
    }


def test_the_cli_names_the_servers_region_in_one_line(
    garage_server: Server, tmp_path: Path
) -> None:
    bucket = garage_server.new_bucket()
    config = config_for(garage_server, tmp_path, region="eu-west-1")
    run = cdn("ls", bucket, config=config)
    assert run.code == 1
    assert f"signed for region {REGION}, not the configured eu-west-1" in one_error_line(run)


def test_garage_ignores_conditional_writes(garage_server: Server) -> None:
    """Pins the README's provider notes: a deploy's conflict detection cannot
    hold on Garage 2.5, which overwrites whatever the condition says."""
    bucket = garage_server.new_bucket()
    admin = garage_server.admin
    admin.put_object(Bucket=bucket, Key="k", Body=b"first")
    admin.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
    admin.put_object(Bucket=bucket, Key="k", Body=b"third", IfMatch='"not-its-etag"')
    assert admin.get_object(Bucket=bucket, Key="k")["Body"].read() == b"third"
