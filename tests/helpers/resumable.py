"""One transfer in small parts, run as a program of its own so that a test
can SIGKILL it midway and run the same call again:

    python tests/helpers/resumable.py download CONFIG BUCKET KEY PATH [cli]
    python tests/helpers/resumable.py upload CONFIG BUCKET KEY PATH
    python tests/helpers/resumable.py put CONFIG BUCKET KEY PATH
    python tests/helpers/resumable.py deploy CONFIG BUCKET PREFIX FOLDER

``put`` uploads the file's bytes from memory (``put_bytes``) and ``deploy``
pushes a folder: multipart uploads that cannot be resumed.

Parts are 5 MiB (S3's minimum) and one at a time besides the first, so
that they complete one after another and a kill leaves some done. With
``cli``, parts are the command line's (the default config's) size. Prints
``started`` once the manager is up, then ``done`` when the transfer ends.

With ``hold-create`` (``upload`` or ``put``), each multipart upload stops
right after the server answered its CreateMultipartUpload, before anything
journals the new id: the child prints ``created ID`` and waits for a line
on stdin, so that a test can SIGKILL it in that window without racing it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from cdn_manager import CDNCredentials, CDNManager, TransferConfig
from cdn_manager._transfers.upload import Upload

MiB = 1024 * 1024
#: What the tests' own second runs use too.
CONFIG = TransferConfig(
    part_size=5 * MiB, multipart_threshold=5 * MiB, download_threshold=5 * MiB, concurrency=1
)


def hold_after_create() -> None:
    """Makes each multipart upload wait on stdin once its id is answered."""
    create = Upload._create

    def held(upload: Upload, options: Any) -> str:
        upload_id: str = create(upload, options)
        print(f"created {upload_id}", flush=True)
        sys.stdin.readline()
        return upload_id

    Upload._create = held  # type: ignore[method-assign,assignment]


def main(argv: list[str]) -> int:
    command, config, bucket, key, path, *extra = argv
    if extra == ["hold-create"]:
        hold_after_create()
    chosen = TransferConfig(concurrency=1) if extra == ["cli"] else CONFIG
    with CDNManager(CDNCredentials.from_yaml(config), chosen) as manager:
        print("started", flush=True)
        if command == "download":
            manager.download_file(bucket, key, path)
        elif command == "upload":
            manager.upload_file(bucket, key, path)
        elif command == "put":
            manager.put_bytes(bucket, key, Path(path).read_bytes())
        elif command == "deploy":
            assert manager.deploy(manager.plan_deploy(path, bucket, key)).ok
        else:
            raise SystemExit(f"unknown command {command}")
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
