"""Garage (a distributed S3 store, crates.io ``garage``) on loopback: one
node, or a cluster of several, each node a process of its own, driven
through Garage's own command line (layout, buckets, keys and grants)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import urllib3

from .ports import reserve_port

#: The region Garage is set up with: its usual value, not AWS's default, so
#: every test on Garage proves the region is learnt or configured.
REGION = "garage"


def garage_binary() -> str | None:
    """$CDN_MANAGER_GARAGE, else where `make test-garage` installs it, else PATH."""
    for candidate in (
        os.environ.get("CDN_MANAGER_GARAGE"),
        str(Path.home() / ".cache/cdn-manager/garage/bin/garage"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("garage")


@dataclass
class GarageNode:
    """One Garage process and its configuration file."""

    binary: str
    root: Path
    rpc_secret: str
    replication: int
    region: str = REGION
    rpc_port: int = field(default_factory=reserve_port)
    s3_port: int = field(default_factory=reserve_port)
    admin_port: int = field(default_factory=reserve_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.root / "garage.toml"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            f'metadata_dir = "{self.root / "meta"}"\n'
            f'data_dir = "{self.root / "data"}"\n'
            'db_engine = "sqlite"\n'
            f"replication_factor = {self.replication}\n"
            f'rpc_bind_addr = "127.0.0.1:{self.rpc_port}"\n'
            f'rpc_public_addr = "127.0.0.1:{self.rpc_port}"\n'
            f'rpc_secret = "{self.rpc_secret}"\n'
            "[s3_api]\n"
            f's3_region = "{self.region}"\n'
            f'api_bind_addr = "127.0.0.1:{self.s3_port}"\n'
            'root_domain = ".s3.garage.localhost"\n'
            "[admin]\n"
            f'api_bind_addr = "127.0.0.1:{self.admin_port}"\n'
        )

    def start(self) -> None:
        log = (self.root / "garage.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config), "server"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": "garage=warn"},
        )

    def kill(self) -> None:
        """SIGKILL: the node dies mid-request, as a crashed machine would."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None

    def cli(self, *args: str, timeout: float = 60.0, wait: bool = False) -> str:
        """Runs ``garage ARGS`` against this node; its output. ``wait``:
        tries again until ``timeout`` (while the node is starting)."""
        deadline = time.monotonic() + timeout
        while True:
            done = subprocess.run(
                [self.binary, "-c", str(self.config), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            if done.returncode == 0:
                return done.stdout
            if not wait or time.monotonic() > deadline:
                raise RuntimeError(f"garage {' '.join(args)}: {done.stderr.strip()}")
            time.sleep(0.3)

    def node_id(self) -> str:
        """The node's full id (``id@host:port``)."""
        return self.cli("node", "id", "-q", wait=True).strip()


class GarageCluster:
    """``size`` nodes on loopback, each a zone of its own, replicating every
    object ``size`` times (one node: a single-node store), answering S3
    requests signed for ``region``."""

    def __init__(self, binary: str, root: Path, size: int = 1, region: str = REGION) -> None:
        rpc_secret = secrets.token_hex(32)
        self.nodes = [
            GarageNode(binary, root / f"node{i}", rpc_secret, size, region) for i in range(size)
        ]
        for node in self.nodes:
            node.write_config()
            node.start()
        first = self.nodes[0]
        ids = [node.node_id() for node in self.nodes]
        for other in ids[1:]:
            first.cli("node", "connect", other, wait=True)
        for i, full in enumerate(ids):
            first.cli("layout", "assign", "-z", f"dc{i}", "-c", "1G", full.split("@")[0], wait=True)
        first.cli("layout", "apply", "--version", "1", wait=True)
        self.wait_until_serving()

    @property
    def endpoint(self) -> str:
        return self.nodes[0].endpoint

    def cli(self, *args: str) -> str:
        return self.nodes[0].cli(*args)

    def create_bucket(self, name: str) -> None:
        """A bucket with a global name (one made through S3's CreateBucket
        is only named for the key that made it)."""
        self.cli("bucket", "create", name)

    def create_key(self, name: str) -> tuple[str, str]:
        """A new key pair named ``name``: (key id, secret)."""
        out = self.cli("key", "create", name)
        key = re.search(r"Key ID:\s*(\S+)", out)
        secret = re.search(r"Secret key:\s*(\S+)", out)
        if key is None or secret is None:
            raise RuntimeError("garage key create printed no key")
        return key.group(1), secret.group(1)

    def allow(self, bucket: str, key: str, *permissions: str) -> None:
        """Grants ``key`` the ``permissions`` (read, write, owner) on ``bucket``."""
        self.cli("bucket", "allow", *(f"--{p}" for p in permissions), bucket, "--key", key)

    def wait_until_serving(self, timeout: float = 60.0) -> None:
        """Until the S3 port of every node answers (layout applied), and
        answers as S3 does: XML, not another server that holds the port."""
        deadline = time.monotonic() + timeout
        for i, node in enumerate(self.nodes):
            while True:
                try:
                    answer = urllib3.request("GET", node.endpoint, timeout=1.0, retries=False)
                    break
                except urllib3.exceptions.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            kind = answer.headers.get("content-type", "")
            if kind != "application/xml":
                raise RuntimeError(f"node {i}'s S3 port answers {answer.status} {kind!r}, not S3")

    def repair_tables(self, timeout: float = 60.0) -> None:
        """Starts Garage's anti-entropy on every node now (``garage repair
        tables``) instead of at its 10-minute interval: a node that was down
        gets the writes it missed, which until then only reads that happen
        to include it would repair. Tries again until every node has it
        running (a node just restarted may not be connected yet)."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.cli("repair", "--all-nodes", "--yes", "tables")
            if out.count("Repair launched") == len(self.nodes):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"garage repair tables: {out.strip()}")
            time.sleep(0.5)

    def close(self) -> None:
        """Stops every node and prints the end of each one's log (warnings
        and errors only), which pytest shows when the test failed."""
        for i, node in enumerate(self.nodes):
            node.stop()
            log = node.root / "garage.log"
            tail = log.read_text(errors="replace").splitlines()[-20:] if log.exists() else []
            print(f"garage node {i} log, last {len(tail)} lines:", *tail, sep="\n  ")
