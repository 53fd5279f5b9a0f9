"""What the packaging tests run with an installed cdn-manager, in a fresh
virtualenv and nothing from this checkout: a file up and back down through
the native plane against the embedded server (IAM enforced, so each key
does its own job), once with CRC32 and once with CRC32C (which moto can
only store right with the ``crc32c`` package the ``server`` extra brings).
Prints one JSON line for the test to check."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import cdn_manager
from cdn_manager import CDNManager, TransferConfig
from cdn_manager.local_server import start_local_server

#: Above the 16 MiB thresholds: a multipart upload and a ranged download,
#: so the Rust reader, checksums, HTTP client and file writer all run.
SIZE = 20 * 1024 * 1024


def main() -> None:
    server = start_local_server()
    try:
        report: dict[str, object] = {"package": cdn_manager.__file__}
        round_trips = {}
        for algorithm in ("crc32", "crc32c"):
            config = TransferConfig(data_plane="native", checksum_algorithm=algorithm)
            with (
                CDNManager(server.credentials, config) as manager,
                tempfile.TemporaryDirectory() as tmp,
            ):
                data = bytes(range(256)) * (SIZE // 256)
                source = Path(tmp, "in.bin")
                source.write_bytes(data)
                key = f"smoke/{algorithm}.bin"
                manager.upload_file(server.bucket, key, source)
                back = manager.download_file(server.bucket, key, Path(tmp, "out.bin"))
                round_trips[algorithm] = back.read_bytes() == data
                report["plane"] = manager.data_plane.name
        report["round_trips"] = round_trips
        report["round_trip"] = all(round_trips.values())
    finally:
        server.stop()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
