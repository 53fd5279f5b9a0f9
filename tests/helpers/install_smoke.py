"""What the packaging tests run with an installed cdn-manager, in a fresh
virtualenv and nothing from this checkout: a file up and back down through
the native plane against the embedded server (IAM enforced, so each key
does its own job). Prints one JSON line for the test to check."""

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
        config = TransferConfig(data_plane="native")
        with (
            CDNManager(server.credentials, config) as manager,
            tempfile.TemporaryDirectory() as tmp,
        ):
            data = bytes(range(256)) * (SIZE // 256)
            source = Path(tmp, "in.bin")
            source.write_bytes(data)
            manager.upload_file(server.bucket, "smoke/in.bin", source)
            back = manager.download_file(server.bucket, "smoke/in.bin", Path(tmp, "out.bin"))
            report = {
                "package": cdn_manager.__file__,
                "plane": manager.data_plane.name,
                "round_trip": back.read_bytes() == data,
            }
    finally:
        server.stop()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
