"""Other tools that read and write the same buckets: the AWS CLI (PyPI's
``awscli``, in this venv), boto3 itself, rclone and s3cmd (Debian packages;
``.ci/run`` installs them). Each runs against one test server with that
server's admin key and its region, with a configuration of its own (nothing
read from the user's home), multipart above 5 MiB in 5 MiB parts, so the
same 16 MiB file is four parts whoever writes it.

A missing tool skips its tests on a developer's machine and fails them in
CI (``CI=true``): a green CI run has run every peer.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig as S3TransferConfig

from cdn_manager import _core
from cdn_manager._checksums import encode

from conftest import MiB, Server, admin_client
from helpers.missing import missing

#: Every peer's part size, and the size from which it uploads in parts.
PART = 5 * MiB
TIMEOUT = 180


def require(tool: str) -> str:
    """The path of ``tool``; skips the test without it, fails it in CI."""
    found = shutil.which(tool)
    if found is None:
        missing(f"{tool} is not installed (apt-get install {tool}; .ci/run does)")
    return found


def region_of(server: Server) -> str:
    return server.credentials.region or "us-east-1"


def _run(command: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    done = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"
    # A tool that succeeded but complained (a checksum it could not match,
    # a size it did not expect) is a failure of interoperability too.
    complaints = [
        line
        for line in done.stderr.splitlines()
        if any(word in line.lower() for word in ("error", "warning", "mismatch", "corrupt"))
    ]
    assert complaints == [], done.stderr
    return done.stdout


def _home(tmp: Path) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}


@dataclass
class AwsCli:
    """The AWS CLI against one server (path-style, 5 MiB parts)."""

    server: Server
    env: dict[str, str]

    @classmethod
    def on(cls, server: Server, tmp: Path) -> AwsCli:
        config = tmp / "aws-config"
        config.write_text(
            f"[default]\nregion = {region_of(server)}\ns3 =\n  addressing_style = path\n"
            f"  multipart_threshold = {PART}\n  multipart_chunksize = {PART}\n"
        )
        key, secret = server.admin_key
        env = {
            **_home(tmp),
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-credentials"),
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        return cls(server, env)

    def __call__(self, *args: str) -> str:
        aws = str(Path(sys.executable).parent / "aws")
        return _run([aws, "--endpoint-url", self.server.endpoint, *args], self.env)

    def put(self, local: Path, bucket: str, key: str) -> None:
        self("s3", "cp", "--only-show-errors", str(local), f"s3://{bucket}/{key}")

    def get(self, bucket: str, key: str, local: Path) -> None:
        self("s3", "cp", "--only-show-errors", f"s3://{bucket}/{key}", str(local))


@dataclass
class Rclone:
    """rclone against one server, as remote ``peer:`` (path-style, 5 MiB
    chunks above 5 MiB; it keeps the file's MD5 as ``md5chksum`` metadata
    on multipart uploads and its mtime as ``mtime``)."""

    env: dict[str, str]

    @classmethod
    def on(cls, server: Server, tmp: Path) -> Rclone:
        require("rclone")
        key, secret = server.admin_key
        # moto answers a CompleteMultipartUpload in a bucket without
        # versioning with "x-amz-version-id: null", and rclone's HEAD of
        # ?versionId=null then gets 400: rclone's own check after its upload
        # is left out there (what it stores is checked by the tests).
        quirk = {"RCLONE_S3_NO_HEAD": "true"} if server.name.startswith("moto") else {}
        env = {
            **quirk,
            **_home(tmp),
            "RCLONE_CONFIG": str(tmp / "no-rclone.conf"),
            "RCLONE_CONFIG_PEER_TYPE": "s3",
            "RCLONE_CONFIG_PEER_PROVIDER": "Other",
            "RCLONE_CONFIG_PEER_ENDPOINT": server.endpoint,
            "RCLONE_CONFIG_PEER_ACCESS_KEY_ID": key,
            "RCLONE_CONFIG_PEER_SECRET_ACCESS_KEY": secret,
            "RCLONE_CONFIG_PEER_REGION": region_of(server),
            "RCLONE_CONFIG_PEER_FORCE_PATH_STYLE": "true",
            # A bare number would be KiB to rclone.
            "RCLONE_S3_UPLOAD_CUTOFF": f"{PART // MiB}M",
            "RCLONE_S3_CHUNK_SIZE": f"{PART // MiB}M",
        }
        return cls(env)

    def __call__(self, *args: str) -> str:
        return _run(["rclone", *args], self.env)

    def put(self, local: Path, bucket: str, key: str) -> None:
        self("copyto", str(local), f"peer:{bucket}/{key}")

    def get(self, bucket: str, key: str, local: Path) -> None:
        self("copyto", f"peer:{bucket}/{key}", str(local))

    def check(self, local: Path, bucket: str, prefix: str) -> None:
        """``rclone check``: every file's size and hash against the objects."""
        self("check", str(local), f"peer:{bucket}/{prefix}")


@dataclass
class S3cmd:
    """s3cmd against one server (path-style, 5 MiB parts; it keeps the
    file's attributes, MD5 included, as ``s3cmd-attrs`` metadata)."""

    config: Path
    env: dict[str, str]

    @classmethod
    def on(cls, server: Server, tmp: Path) -> S3cmd:
        require("s3cmd")
        key, secret = server.admin_key
        host = server.endpoint.removeprefix("http://")
        config = tmp / "s3cmd.cfg"
        config.write_text(
            "[default]\n"
            f"access_key = {key}\nsecret_key = {secret}\n"
            f"host_base = {host}\nhost_bucket = {host}\n"
            f"bucket_location = {region_of(server)}\n"
            "use_https = False\nsignature_v2 = False\n"
            f"multipart_chunk_size_mb = {PART // MiB}\n"
            "check_ssl_certificate = False\nprogress_meter = False\n"
        )
        return cls(config, _home(tmp))

    def __call__(self, *args: str) -> str:
        return _run(["s3cmd", "-c", str(self.config), *args], self.env)

    def put(self, local: Path, bucket: str, key: str) -> None:
        self("put", str(local), f"s3://{bucket}/{key}")

    def get(self, bucket: str, key: str, local: Path) -> None:
        self("get", "--force", f"s3://{bucket}/{key}", str(local))


#: Algorithms botocore computes only with awscrt (botocore[crt]), which the
#: test venv leaves out (it would change what the suite exercises).
CRT_ONLY = ("crc32c", "crc64nvme")


def boto3_put(
    server: Server,
    local: Path,
    bucket: str,
    key: str,
    algorithm: str | None = None,
    checksums: Any = "when_supported",
) -> None:
    """boto3's own upload (s3transfer): one PUT below 5 MiB, else 5 MiB
    parts; ``algorithm`` as its ChecksumAlgorithm (None: boto3's default,
    CRC32), ``checksums="when_required"`` for none at all."""
    key_id, secret = server.admin_key
    client = admin_client(
        server.endpoint, key_id, secret, checksums=checksums, region=region_of(server)
    )
    if algorithm in CRT_ONLY:
        _put_with_values(client, local, bucket, key, algorithm)
        return
    config = S3TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
    extra = {} if algorithm is None else {"ChecksumAlgorithm": algorithm.upper()}
    with local.open("rb") as body:
        client.upload_fileobj(io.BufferedReader(body), bucket, key, ExtraArgs=extra, Config=config)


def _put_with_values(client: Any, local: Path, bucket: str, key: str, algorithm: str) -> None:
    """What boto3 with awscrt sends for ``algorithm``, with the values given
    (botocore sends a given checksum as it is): one PUT, or 5 MiB parts
    completed as a composite (CRC32C) or a full-object (CRC64NVME, the only
    kind S3 has for it) checksum."""
    data = local.read_bytes()
    name = "Checksum" + algorithm.upper()
    if len(data) < PART:
        value = encode(_core.checksum(data, algorithm), algorithm)
        client.put_object(
            Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm=algorithm.upper(), **{name: value}
        )
        return
    full = algorithm == "crc64nvme"
    kind = {"ChecksumType": "FULL_OBJECT"} if full else {}
    upload = client.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm.upper(), **kind
    )["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(data), PART), start=1):
        body = data[start : start + PART]
        value = encode(_core.checksum(body, algorithm), algorithm)
        answer = client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm=algorithm.upper(),
            **{name: value},
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"], name: value})
    whole = {name: encode(_core.checksum(data, algorithm), algorithm), **kind} if full else {}
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}, **whole
    )
