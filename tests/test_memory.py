"""Memory stays flat whatever the object size (issue 4, item 2): a 1 GiB
download raises the process's peak memory by less than 256 MiB.

The download runs in a fresh Python process with the default TransferConfig,
which reports its own high-water mark (VmHWM, from /proc/self/status) after
a warm-up download and again after the 1 GiB one.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MiB, Server
from helpers.writers import write_with_cdn_manager

GiB = 1024 * MiB
LIMIT = 256 * MiB

DOWNLOADER = """
import json, sys
from cdn_manager import CDNCredentials, CDNManager

def high_water_mark() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")

fields, bucket, key = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
manager = CDNManager(CDNCredentials(**fields))
assert manager.download(bucket, "warm-up.bin")  # imports, clients, connections
before = high_water_mark()
ok = manager.download(bucket, key)
print(json.dumps({"ok": ok, "before": before, "after": high_water_mark()}))
"""


@pytest.mark.slow  # ~3 GiB written to disk: over 20 s here
def test_one_gib_download_grows_peak_memory_by_less_than_256_mib(
    s3s_server: Server, tmp_path: Path
) -> None:
    bucket = s3s_server.new_bucket()
    # A random block whose length shares no factor with the part sizes, so a
    # range written at the wrong offset would change the bytes.
    block = os.urandom(MiB + 4093)
    data = (block * (GiB // len(block) + 1))[:GiB]
    write_with_cdn_manager(s3s_server, bucket, "huge.bin", data)
    write_with_cdn_manager(s3s_server, bucket, "warm-up.bin", b"small")
    expected = hashlib.sha256(data).hexdigest()
    del data

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            DOWNLOADER,
            json.dumps(s3s_server.credentials.__dict__),
            bucket,
            "huge.bin",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = json.loads(out.stdout)
    growth = report["after"] - report["before"]
    print(
        f"\n1 GiB download: peak memory (VmHWM) {report['before'] / MiB:.1f} MiB before, "
        f"{report['after'] / MiB:.1f} MiB after: grew by {growth / MiB:.1f} MiB"
    )

    assert report["ok"] is True, out.stderr
    landed = tmp_path / bucket / "huge.bin"
    digest = hashlib.sha256()
    with landed.open("rb") as file:
        while chunk := file.read(8 * MiB):
            digest.update(chunk)
    assert digest.hexdigest() == expected
    assert growth < LIMIT
