"""A batch run as a program of its own, so a test can interrupt it as a user
would (SIGINT, SIGTERM) and see what it reports:

    python tests/helpers/batch.py upload CONFIG BUCKET FOLDER
    python tests/helpers/batch.py download CONFIG BUCKET FOLDER KEY...

``upload`` sends every file of FOLDER (``big.bin`` first, the rest in name
order) with ``upload_many``; ``download`` fetches the keys into FOLDER with
``download_many``. It prints ``started`` once the batch begins, then one JSON
line: ``{"completed": [keys]}`` and exit 130 if interrupted, or
``{"ok": [keys], "failed": [keys]}`` and exit 0.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from cdn_manager import CDNCredentials, CDNManager, Interrupted, TransferResult


def report(results: list[TransferResult]) -> None:
    ok = [r.key for r in results if r.ok]
    failed = [r.key for r in results if not r.ok]
    print(json.dumps({"ok": ok, "failed": failed}), flush=True)


def main(argv: list[str]) -> int:
    command, config, bucket, folder, *keys = argv
    # SIGTERM as the command line takes it: as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    manager = CDNManager(CDNCredentials.from_yaml(config))
    print("started", flush=True)
    try:
        if command == "upload":
            files = sorted(Path(folder).iterdir(), key=lambda p: (p.name != "big.bin", p.name))
            report(manager.upload_many(bucket, [(p.name, p) for p in files]))
        else:
            report(manager.download_many(bucket, keys, folder))
    except Interrupted as err:
        print(json.dumps({"completed": [r.key for r in err.completed]}), flush=True)
        return 130
    finally:
        manager.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
