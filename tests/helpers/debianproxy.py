"""Debian's forward proxies, tinyproxy and squid, on 127.0.0.1: each run
with its packaged configuration, changed only where a test must (the port
it listens on, and its log and pid files in a folder of the test's instead
of /var). Plain-HTTP requests reach them in absolute form, as botocore
sends them: squid answers a CONNECT to a port other than 443 with 403
(``http_access deny CONNECT !SSL_ports``); Debian 12's tinyproxy 1.11
leaves its ``ConnectPort 443``/``563`` lines commented out and tunnels to
any port, but a configuration with them refuses the same way.

    with DebianProxy("squid") as proxy:
        config = TransferConfig(proxies={"http": proxy.url})
        ...
        assert proxy.requests()  # the lines of its access log

Nothing is installed here: ``.ci/run`` installs both packages. Where one is
missing the test fails under CI (``CI=true``) and is skipped elsewhere.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from .missing import missing
from .ports import reserve_port

#: Each proxy's packaged configuration file.
PACKAGED = {
    "tinyproxy": Path("/etc/tinyproxy/tinyproxy.conf"),
    "squid": Path("/etc/squid/squid.conf"),
}


def binary_or_skip(name: str) -> str:
    """The proxy's program; without it, a failure under CI (which installs
    it) and a skip elsewhere."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found and PACKAGED[name].is_file():
        return found
    missing(f"{name} is not installed (apt-get install {name}; .ci/run installs it)")


def _configure(name: str, packaged: str, port: int, folder: Path) -> str:
    """The packaged configuration with only the port and file places changed."""
    if name == "tinyproxy":
        text, found = re.subn(r"(?m)^Port \d+$", f"Port {port}\nListen 127.0.0.1", packaged)
        text = re.sub(r"(?m)^LogFile .*$", f'LogFile "{folder / "access.log"}"', text)
        text = re.sub(r"(?m)^PidFile .*$", f'PidFile "{folder / "pid"}"', text)
    else:
        text, found = re.subn(r"(?m)^http_port \d+$", f"http_port 127.0.0.1:{port}", packaged)
        text += (
            f"\npid_filename {folder / 'pid'}\n"
            f"access_log stdio:{folder / 'access.log'}\n"
            f"cache_log {folder / 'cache.log'}\n"
            f"coredump_dir {folder}\n"
        )
    assert found == 1, f"the packaged {name} configuration has no port line to change"
    return text


class DebianProxy:
    """``name`` ("tinyproxy" or "squid") listening on a free loopback port;
    ``url`` is what a client configures."""

    def __init__(self, name: str) -> None:
        program = binary_or_skip(name)
        self.name = name
        self.port = reserve_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Both drop root for their own user, who must reach these files.
        self.folder = Path(tempfile.mkdtemp(prefix=f"cdn-{name}-"))
        self.folder.chmod(0o777)
        config = self.folder / f"{name}.conf"
        config.write_text(_configure(name, PACKAGED[name].read_text(), self.port, self.folder))
        foreground = ["-d", "-c"] if name == "tinyproxy" else ["-N", "-f"]
        self.process = subprocess.Popen(
            [program, *foreground, str(config)],
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "stderr").open("wb"),
        )
        self._wait_until_listening()

    def _wait_until_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def requests(self) -> list[str]:
        """``METHOD target`` of each request its log records."""
        path = self.folder / "access.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        if self.name == "tinyproxy":
            # "CONNECT   Dec 07 ... Request (file descriptor 7): PUT http://... HTTP/1.1"
            # (CONNECT is the level of the log line).
            found = (re.search(r"Request \(file descriptor \d+\): (\S+ \S+)", x) for x in lines)
            return [match.group(1) for match in found if match]
        # squid: time, elapsed, client, result/status, bytes, method, URL, ...
        return [" ".join(line.split()[5:7]) for line in lines if len(line.split()) > 6]

    def log(self) -> str:
        parts = []
        for name in ("stderr", "cache.log", "access.log"):
            path = self.folder / name
            if path.exists():
                parts.append(f"{name}:\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def close(self) -> None:
        # Killed: squid's clean shutdown waits 30 s for its clients.
        self.process.kill()
        self.process.wait(10)
        print(f"{self.name} log:\n{self.log()}")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> DebianProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
