"""The soak's S3 servers on loopback, each a process of its own: moto
(``ThreadedMotoServer``), s3s-fs and a Garage node; and what the
orchestrator asks of them beside the library: an admin client, the
unfinished multipart uploads under a prefix, and the clean-up."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import urllib3
from botocore.config import Config

from helpers.garage import REGION as GARAGE_REGION
from helpers.garage import GarageCluster, garage_binary
from helpers.ports import reserve_port

BUCKET = "soak"

#: moto in a process of its own: its objects live in that process's memory,
#: not in the orchestrator's (whose memory the soak measures).
MOTO = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


def admin_client(endpoint: str, key: str, secret: str, region: str) -> Any:
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret).client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        # The soak's checks read objects back and judge their bytes
        # themselves. botocore's own check of a GET trusts the server's
        # stored CRC, which s3s-fs 0.14 keeps from the previous object when
        # a multipart upload overwrites a key (it saves only the new ETag).
        config=Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 10, "mode": "standard"},
            read_timeout=120,
            response_checksum_validation="when_required",
        ),
    )


@dataclass
class SoakServer:
    name: str
    endpoint: str
    reader: tuple[str, str]
    writer: tuple[str, str]
    admin: Any
    region: str | None = None
    #: s3s-fs: the folder it serves (it has no ListMultipartUploads).
    data_root: Path | None = None
    #: Is the server still running (None: yes), else its exit status.
    poll: Callable[[], int | None] = lambda: None
    stop: Callable[[], None] = lambda: None
    secrets: list[str] = field(default_factory=list)

    def keys(self, prefix: str) -> Iterator[str]:
        pages = self.admin.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"]

    def get(self, key: str) -> bytes | None:
        try:
            return bytes(self.admin.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        except self.admin.exceptions.NoSuchKey:
            return None

    def uploads(self, prefix: str) -> list[tuple[str, str]]:
        """``(key, upload id)`` of every unfinished multipart upload under ``prefix``."""
        if self.data_root is None:
            found = []
            pages = self.admin.get_paginator("list_multipart_uploads").paginate(
                Bucket=BUCKET, Prefix=prefix
            )
            for page in pages:
                found += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
            return found
        # s3s-fs keeps each open upload's metadata in
        # ".bucket-<b64>.object-<b64>.upload-<id>.metadata.json".
        found = []
        pattern = re.compile(r"\.bucket-([^.]+)\.object-([^.]+)\.upload-(.+)\.metadata\.json")
        for path in self.data_root.iterdir():
            match = pattern.fullmatch(path.name)
            if not match or _unb64(match.group(1)) != BUCKET:
                continue
            key = _unb64(match.group(2))
            if key.startswith(prefix):
                found.append((key, match.group(3)))
        return found

    def clean(self, prefix: str) -> None:
        """Deletes every object and aborts every upload under ``prefix``."""
        for key, upload_id in self.uploads(prefix):
            with contextlib.suppress(self.admin.exceptions.NoSuchUpload):
                self.admin.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)
        batch: list[dict[str, str]] = []
        for key in self.keys(prefix):
            batch.append({"Key": key})
            if len(batch) == 1000:
                self.admin.delete_objects(Bucket=BUCKET, Delete={"Objects": batch})
                batch = []
        if batch:
            self.admin.delete_objects(Bucket=BUCKET, Delete={"Objects": batch})


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def _wait_for(endpoint: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib3.request("GET", endpoint, timeout=1.0, retries=False)
            return
        except urllib3.exceptions.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def secret(label: str) -> str:
    """A distinctive secret: one found in any output is a leak."""
    return f"soak-{label}-SECRET-{uuid.uuid4().hex}"


def start_moto(folder: Path) -> SoakServer:
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-c", MOTO],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(folder / "moto.log").open("ab"),
        cwd=folder,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None

    def stop() -> None:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    try:
        endpoint = f"http://127.0.0.1:{int(process.stdout.readline())}"
        admin = admin_client(endpoint, "admin", "admin-secret", "us-east-1")
        admin.create_bucket(Bucket=BUCKET)
    except BaseException:
        stop()
        raise
    # moto checks no signature: any key pair works, each its own.
    reader, writer = ("soak-reader", secret("moto-reader")), ("soak-writer", secret("moto-writer"))

    return SoakServer(
        "moto",
        endpoint,
        reader,
        writer,
        admin,
        poll=process.poll,
        stop=stop,
        secrets=[reader[1], writer[1]],
    )


def s3s_binary() -> str | None:
    for candidate in (
        os.environ.get("CDN_MANAGER_S3S_FS"),
        str(Path.home() / ".cache/cdn-manager/s3s-fs/bin/s3s-fs"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("s3s-fs")


def start_s3s(folder: Path) -> SoakServer:
    binary = s3s_binary()
    if binary is None:
        raise RuntimeError("s3s-fs not found: `make soak` installs it, or set CDN_MANAGER_S3S_FS")
    root = folder / "data"
    root.mkdir(parents=True, exist_ok=True)
    port = reserve_port()
    key, password = "soak-s3s", secret("s3s")
    process = subprocess.Popen(
        [
            binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--access-key",
            key,
            "--secret-key",
            password,
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "s3s-fs.log").open("ab"),
        cwd=folder,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def stop() -> None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    try:
        _wait_for(endpoint)
        admin = admin_client(endpoint, key, password, "us-east-1")
        admin.create_bucket(Bucket=BUCKET)
    except BaseException:
        stop()
        raise

    return SoakServer(
        "s3s-fs",
        endpoint,
        (key, password),
        (key, password),
        admin,
        data_root=root,
        poll=process.poll,
        stop=stop,
        secrets=[password],
    )


def start_garage(folder: Path) -> SoakServer:
    binary = garage_binary()
    if binary is None:
        raise RuntimeError("garage not found: `make soak` installs it, or set CDN_MANAGER_GARAGE")
    cluster = GarageCluster(binary, folder)
    node = cluster.nodes[0]

    def poll() -> int | None:
        return None if node.process is None else node.process.poll()

    def stop() -> None:
        for one in cluster.nodes:
            one.stop()

    try:
        admin_key = cluster.create_key("admin")
        reader, writer = cluster.create_key("reader"), cluster.create_key("writer")
        cluster.create_bucket(BUCKET)
        cluster.allow(BUCKET, admin_key[0], "read", "write", "owner")
        cluster.allow(BUCKET, reader[0], "read")
        cluster.allow(BUCKET, writer[0], "write")
    except BaseException:
        stop()
        raise

    return SoakServer(
        "garage",
        cluster.endpoint,
        reader,
        writer,
        admin_client(cluster.endpoint, *admin_key, GARAGE_REGION),
        region=GARAGE_REGION,
        poll=poll,
        stop=stop,
        secrets=[admin_key[1], reader[1], writer[1]],
    )


STARTERS: dict[str, Callable[[Path], SoakServer]] = {
    "moto": start_moto,
    "s3s-fs": start_s3s,
    "garage": start_garage,
}
