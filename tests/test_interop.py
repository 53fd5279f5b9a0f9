"""Interop (issue 4, item 7): what cdn-manager writes, plain boto3 and the AWS
CLI read back byte for byte, checking every checksum they are offered; what
the CLI writes, cdn-manager downloads and verifies. (Objects written by plain
boto3 are downloaded in ``test_integrity``.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import MiB, Server
from helpers.writers import write_with_cdn_manager

#: Below and above SMALL_PARTS' thresholds: one PUT, and four parts.
SIZES = {"small.bin": 100_000, "multipart.bin": 16 * MiB + 1234}


@dataclass
class AwsCli:
    """The AWS CLI (awscli from PyPI, in this venv) pointed at one server."""

    endpoint: str
    env: dict[str, str]

    def __call__(self, *args: str) -> str:
        command = [str(Path(sys.executable).parent / "aws"), "--endpoint-url", self.endpoint]
        done = subprocess.run(
            [*command, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def aws(any_server: Server, tmp_path: Path) -> AwsCli:
    """Its own config (multipart above 5 MiB in 5 MiB parts, path-style) and
    the server's admin key pair, nothing read from the user's ~/.aws."""
    config = tmp_path / "aws-config"
    config.write_text(
        "[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n"
        "  multipart_threshold = 5MB\n  multipart_chunksize = 5MB\n"
    )
    key, secret = any_server.admin_key
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return AwsCli(any_server.endpoint, env)


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
