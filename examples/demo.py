"""`make demo`: a round trip through an embedded S3 server with two keys.

Uploads a file with the write key, downloads it with the read key, checks the
bytes, and shows that each key is refused the other's job. Works in a
temporary folder, removed at the end (also on failure or Ctrl-C).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
from pathlib import Path

from cdn_manager import CDNCredentials, CDNManager
from cdn_manager.local_server import start_local_server


def main() -> None:
    logging.basicConfig(
        stream=sys.stdout, level=logging.ERROR, format="  log: %(name)s %(levelname)s %(message)s"
    )
    server = start_local_server(bucket="cdn-demo")
    print(f"started an S3 server (moto, IAM enforced) at {server.endpoint}")
    home = Path.cwd()
    scratch = tempfile.TemporaryDirectory(prefix="cdn-demo-")
    try:
        workdir = Path(scratch.name)
        os.chdir(workdir)
        # The journal every multipart upload keeps while it runs goes to the
        # cache folder; the demo's, with everything else, is removed at the end.
        os.environ["XDG_CACHE_HOME"] = str(workdir / "cache")
        config = workdir / "cdn.yaml"
        config.write_text(server.credentials.to_yaml())
        config.chmod(0o600)  # it holds both secrets
        creds = CDNCredentials.from_yaml(config)
        print(
            f"loaded {config.name}: endpoint {creds.host}, read key "
            f"{creds.downloader_access_key}, write key {creds.uploader_access_key}"
        )
        manager = CDNManager(creds)

        payload = os.urandom(20 * 1024 * 1024 + 123)
        digest = hashlib.sha256(payload).hexdigest()
        key = "models/demo/weights.bin"
        ok = manager.upload(server.bucket, key, payload)
        print(f"upload   {server.bucket}/{key} ({len(payload):,} bytes) with the write key: {ok}")
        ok = manager.download(server.bucket, key)
        local = workdir / server.bucket / key
        print(f"download {server.bucket}/{key} with the read key -> {local}: {ok}")
        same = hashlib.sha256(local.read_bytes()).hexdigest() == digest
        print(f"bytes identical (sha256 {digest[:16]}…): {same}")

        print("the keys cannot stand in for each other:")
        swapped = CDNManager(
            CDNCredentials(
                creds.host,
                creds.uploader_access_key,
                creds.uploader_access_secret,
                creds.downloader_access_key,
                creds.downloader_access_secret,
            )
        )
        print(f"  read key uploading:    {swapped.upload(server.bucket, 'x.bin', b'x')}")
        print(f"  write key downloading: {swapped.download(server.bucket, key)}")
        print(manager.check(server.bucket))
        if not same:
            raise SystemExit("demo FAILED: the downloaded bytes differ")
        print("demo OK")
    finally:
        os.chdir(home)
        scratch.cleanup()
        server.stop()


if __name__ == "__main__":
    main()
