"""How closely ``TransferConfig(max_bandwidth=...)`` holds its rate.

Starts s3s-fs on 127.0.0.1 (data in a temporary folder on tmpfs), then for
each limit, plane and direction moves one object and prints the achieved
rate two ways: between the first and the last progress report (the bytes
while they move) and over the whole call (with the HEAD, the multipart
steps, the verification and the final fsync). Writes the figures as JSON.

    .venv/bin/python benchmarks/bwlimit.py --size-mib 200 --limits 5M,20M,50M
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from bench import S3S_FS, S3sFs

from cdn_manager import CDNCredentials, CDNManager, TransferConfig
from cdn_manager._cli.parser import parse_rate

MiB = 1024 * 1024


class Clock:
    """A progress callback noting when the first and the last bytes moved."""

    def __init__(self) -> None:
        self.first = self.last = 0.0
        self.moved = 0

    def __call__(self, n: int) -> None:
        self.last = time.monotonic()
        if not self.moved:
            self.first = self.last
        self.moved += n


def measure(manager: CDNManager, direction: str, bucket: str, data: bytes, folder: Path) -> dict:
    clock = Clock()
    started = time.monotonic()
    if direction == "upload":
        manager.put_bytes(bucket, "big.bin", data, progress=clock)
    else:
        manager.get_file(bucket, "big.bin", folder, progress=clock)
    ended = time.monotonic()
    return {
        "moving": len(data) / (clock.last - clock.first) / MiB,
        "call": len(data) / (ended - started) / MiB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--limits", default="5M,20M,50M")
    parser.add_argument("--planes", default="native,boto3")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bwlimit.json"))
    args = parser.parse_args()
    data = os.urandom(args.size_mib * MiB)
    with tempfile.TemporaryDirectory(dir="/dev/shm") as root:
        served = Path(root) / "served"
        served.mkdir()
        server = S3sFs(S3S_FS, served)
        try:
            key, secret = server.access_key, server.secret_key
            boto3.client(
                "s3",
                endpoint_url=server.endpoint,
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                region_name="us-east-1",
            ).create_bucket(Bucket="bench")
            creds = CDNCredentials(server.endpoint, key, secret, key, secret)
            rows: list[dict[str, Any]] = []
            print(f"{args.size_mib} MiB, load average {os.getloadavg()[0]:.1f} before")
            print("limit  plane   direction  moving MiB/s  call MiB/s  moving/limit")
            for text in args.limits.split(","):
                limit = parse_rate(text)
                for plane in args.planes.split(","):
                    config = TransferConfig(max_bandwidth=limit, data_plane=plane)  # type: ignore[arg-type]
                    with CDNManager(creds, config) as manager:
                        for direction in ("upload", "download"):
                            folder = Path(root) / "out"
                            got = measure(manager, direction, "bench", data, folder)
                            row = {"limit": text, "plane": plane, "direction": direction, **got}
                            rows.append(row)
                            print(
                                f"{text:>5}  {plane:<7} {direction:<9}  {got['moving']:>12.2f}"
                                f"  {got['call']:>10.2f}  {got['moving'] * MiB / limit:>12.3f}",
                                flush=True,
                            )
            args.out.write_text(json.dumps({"size_mib": args.size_mib, "rows": rows}, indent=1))
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
