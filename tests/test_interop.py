"""Interop (issue 4, item 7; issue 27): what cdn-manager writes, plain boto3,
the AWS CLI, rclone and s3cmd read back byte for byte, checking every
checksum they are offered; what the CLI writes, cdn-manager downloads and
verifies. (Every peer's objects read by cdn-manager: ``test_interop_read``.)"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import SMALL_PARTS, MiB, Server
from helpers.peers import AwsCli, Rclone, S3cmd
from helpers.writers import write_with_cdn_manager

#: Below and above SMALL_PARTS' thresholds: one PUT, and four parts.
SIZES = {"small.bin": 100_000, "multipart.bin": 16 * MiB + 1234}


@pytest.fixture
def aws(any_server: Server, tmp_path: Path) -> AwsCli:
    """The AWS CLI with its own config and the server's admin key pair,
    nothing read from the user's ~/.aws."""
    return AwsCli.on(any_server, tmp_path)


@pytest.fixture
def written_by_cdn_manager(any_server: Server, bucket: str) -> dict[str, bytes]:
    objects = {f"cdn/{name}": os.urandom(size) for name, size in SIZES.items()}
    for key, data in objects.items():
        write_with_cdn_manager(any_server, bucket, key, data)
    return objects


def test_boto3_reads_what_cdn_manager_wrote(
    any_server: Server, bucket: str, written_by_cdn_manager: dict[str, bytes], tmp_path: Path
) -> None:
    for key, data in written_by_cdn_manager.items():
        # botocore checks the full-object checksum of a whole GET when there is one.
        response = any_server.admin.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        assert response["Body"].read() == data, key
        # s3transfer's download (ranged GETs above its threshold).
        target = tmp_path / key.replace("/", "-")
        any_server.admin.download_file(bucket, key, str(target))
        assert target.read_bytes() == data, key


def test_aws_cli_reads_what_cdn_manager_wrote(
    aws: AwsCli, bucket: str, written_by_cdn_manager: dict[str, bytes], tmp_path: Path
) -> None:
    aws(
        "s3", "cp", "--recursive", "--only-show-errors", f"s3://{bucket}/cdn/", str(tmp_path / "cp")
    )
    for key, data in written_by_cdn_manager.items():
        assert (tmp_path / "cp" / key.removeprefix("cdn/")).read_bytes() == data, key
    # s3api checks the object's full-object checksum when the server returns one.
    key = "cdn/multipart.bin"
    target = tmp_path / "get-object.bin"
    out = aws(
        "s3api", "get-object", "--bucket", bucket, "--key", key,
        "--checksum-mode", "ENABLED", str(target),
    )  # fmt: skip
    assert target.read_bytes() == written_by_cdn_manager[key]
    assert json.loads(out)["ContentLength"] == len(written_by_cdn_manager[key])


def test_cdn_manager_downloads_what_the_aws_cli_wrote(
    any_server: Server, aws: AwsCli, bucket: str, in_tmp: Path
) -> None:
    source = in_tmp / "source"
    source.mkdir()
    objects = {name: os.urandom(size) for name, size in SIZES.items()}
    for name, data in objects.items():
        (source / name).write_bytes(data)
    aws("s3", "cp", "--recursive", "--only-show-errors", str(source), f"s3://{bucket}/cli/")
    manager = any_server.manager()

    for name, data in objects.items():
        assert manager.download(bucket, f"cli/{name}") is True, name
        assert (in_tmp / bucket / "cli" / name).read_bytes() == data, name


#: What cdn-manager writes for the peers to read: (upload algorithm, size).
CDN_OBJECTS = {
    "plain-crc32.bin": ("crc32", 100_000),
    "multipart-crc32.bin": ("crc32", 16 * MiB + 1234),
    "plain-crc32c.bin": ("crc32c", 100_000),
    "multipart-crc32c.bin": ("crc32c", 16 * MiB + 1234),
}
PEERS = ["aws-cli", "boto3", "rclone", "s3cmd"]


def peer_get(peer: str, server: Server, tmp: Path) -> Callable[[str, str, Path], None]:
    """``get(bucket, key, local)`` by ``peer``."""
    if peer == "aws-cli":
        return AwsCli.on(server, tmp).get
    if peer == "rclone":
        return Rclone.on(server, tmp).get
    if peer == "s3cmd":
        return S3cmd.on(server, tmp).get

    def get(bucket: str, key: str, local: Path) -> None:
        # botocore checks a whole GET's full-object checksum where there is one.
        answer = server.admin.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        local.write_bytes(answer["Body"].read())

    return get


@pytest.mark.parametrize("peer", PEERS)
def test_peers_read_every_kind_of_object_cdn_manager_writes(
    peer_server: Server, tmp_path: Path, peer: str
) -> None:
    """Plain and multipart, CRC32 and CRC32C, and a file a deploy stored
    gzip-compressed: each peer gets the stored bytes exactly, and says
    nothing against them."""
    bucket = peer_server.new_bucket()
    objects = {}
    for name, (algorithm, size) in CDN_OBJECTS.items():
        objects[name] = os.urandom(size)
        config = dataclasses.replace(SMALL_PARTS, checksum_algorithm=algorithm)
        peer_server.manager(config).put_bytes(bucket, f"cdn/{name}", objects[name])
    site = tmp_path / "site"
    site.mkdir()
    page = b"<p>" + b"compressible " * 50_000 + b"</p>"
    (site / "page.html").write_bytes(page)
    rules = tmp_path / "rules.yaml"
    rules.write_text('rules:\n  - match: "*.html"\n    content_encoding: gzip\n')
    manager = peer_server.manager(SMALL_PARTS)
    assert manager.deploy(manager.plan_deploy(site, bucket, "cdn", rules=rules)).ok
    stored = peer_server.admin.get_object(Bucket=bucket, Key="cdn/page.html")
    assert stored["ContentEncoding"] == "gzip"
    objects["page.html"] = stored["Body"].read()
    assert gzip.decompress(objects["page.html"]) == page

    get = peer_get(peer, peer_server, tmp_path)
    for name, data in objects.items():
        target = tmp_path / "peer" / name
        target.parent.mkdir(exist_ok=True)
        get(bucket, f"cdn/{name}", target)
        assert target.read_bytes() == data, name
