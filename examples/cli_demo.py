"""`make demo`, second part: the `cdn-manager` command against its own
`local-server`: push a folder, list it, pull it back, audit the keys.

Every command runs as a user would type it, in a temporary folder where
`local-server` wrote the cdn.yaml the other commands read. What the
commands remember between runs (push's checksum cache) goes to a cache
folder inside it too, so the demo leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

#: The command as installed beside this Python (`make build-dev`).
CLI = str(Path(sys.executable).with_name("cdn-manager"))
FILES = {
    "index.html": b"<h1>Hello, CDN</h1>\n",
    "css/main.css": b"h1 { color: teal }\n",
    "img/logo.png": os.urandom(48_213),
    "docs/guide.txt": b"push, ls, pull, doctor\n" * 400,
}


def run(*args: str, cwd: Path, env: dict[str, str]) -> None:
    print(f"$ cdn-manager {shlex.join(args)}", flush=True)
    done = subprocess.run([CLI, *args], cwd=cwd, env=env)
    if done.returncode != 0:
        raise SystemExit(f"demo FAILED: cdn-manager {args[0]} exited {done.returncode}")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="cdn-cli-demo-"))
    for name, data in FILES.items():
        (work / "site" / name).parent.mkdir(parents=True, exist_ok=True)
        (work / "site" / name).write_bytes(data)
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}
    server = subprocess.Popen(
        [CLI, "local-server", "--json"], cwd=work, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline())
        print(f"\n$ cdn-manager local-server   # in the background: {ready['endpoint']}")
        run("push", "site", f"{ready['bucket']}/site", cwd=work, env=env)
        run("push", "site", f"{ready['bucket']}/site", cwd=work, env=env)
        run("ls", ready["bucket"], cwd=work, env=env)
        run("pull", f"{ready['bucket']}/site", "mirror", cwd=work, env=env)
        run("doctor", ready["bucket"], cwd=work, env=env)
        same = all((work / "mirror" / n).read_bytes() == d for n, d in FILES.items())
        print(f"pulled tree identical to the pushed one: {same}")
        if not same:
            raise SystemExit("demo FAILED: the pulled files differ")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
        shutil.rmtree(work)
    print("CLI demo OK")


if __name__ == "__main__":
    main()
