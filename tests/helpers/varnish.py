"""A real purging cache for the tests: Debian's Varnish 7.1 in front of an
S3 server, serving one bucket prefix as a web site the way a CDN edge
does: every 200 cached for 10 minutes whatever the origin's Cache-Control
says (an edge TTL), a folder URL served by its ``index.html``, and
``PURGE <path>`` from loopback dropping the cached object (Varnish's own
convention, which nginx's cache-purge module and Fastly follow).

Why not nginx with ``libnginx-mod-http-cache-purge``: Debian bookworm's
module (2.3) crashes the worker (SIGSEGV in
``ngx_http_file_cache_create_key``, called from ``ngx_http_cache_purge_init``)
on every purge of a ``proxy_cache`` with nginx 1.22.1, in the same-location
and the separate-location syntax alike: it reads the proxy module's
configuration through a copy of a struct whose layout changed in nginx
1.11.6 (FRiCKLE/ngx_cache_purge#68). nginx without the module has no purge.

It runs in the foreground (``-F``), without privilege separation (``-j
none``), from a folder of its own, and stops with the fixture that started
it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import urllib3

from helpers.ports import reserve_port

VCL = """\
vcl 4.1;

backend origin {{
    .host = "127.0.0.1";
    .port = "{origin_port}";
}}

acl purgers {{
    "127.0.0.1";
}}

sub vcl_recv {{
    # A folder is served by its index.html (and cached, and purged, as it).
    if (req.url ~ "/$") {{
        set req.url = req.url + "index.html";
    }}
    if (req.method == "PURGE") {{
        if (client.ip !~ purgers) {{
            return (synth(405, "Not allowed"));
        }}
        return (purge);
    }}
    return (hash);
}}

sub vcl_backend_fetch {{
    set bereq.url = "{origin_path}" + bereq.url;
}}

sub vcl_backend_response {{
    # The edge's own TTL: a page stays until it expires or is purged.
    if (beresp.status == 200) {{
        set beresp.ttl = 10m;
        set beresp.grace = 0s;
    }} else {{
        set beresp.ttl = 0s;
        set beresp.uncacheable = true;
    }}
    return (deliver);
}}

sub vcl_deliver {{
    if (obj.hits > 0) {{
        set resp.http.X-Cache-Status = "HIT";
    }} else {{
        set resp.http.X-Cache-Status = "MISS";
    }}
}}
"""


def missing() -> list[str]:
    """What this machine lacks to run the cache (empty when nothing)."""
    found = []
    for tool in ("varnishd", "varnishstat"):
        if shutil.which(tool) is None:
            found.append(f"{tool} (apt-get install varnish)")
    return found


class VarnishCache:
    """Varnish serving ``origin_port``'s ``origin_path`` (``/BUCKET/PREFIX``)
    at ``self.url`` (with a trailing slash)."""

    def __init__(self, origin_port: int, origin_path: str, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = reserve_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        vcl = root / "site.vcl"
        vcl.write_text(VCL.format(origin_port=origin_port, origin_path=origin_path))
        self.state = root / "state"
        self._log = (root / "varnishd.log").open("wb")
        self.process = subprocess.Popen(
            [
                "varnishd",
                "-F",
                "-j",
                "none",
                "-n",
                str(self.state),
                "-a",
                f"127.0.0.1:{self.port}",
                "-T",
                "none",
                "-f",
                str(vcl),
                "-s",
                "malloc,32m",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_serving()

    def _wait_until_serving(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                log = (self.root / "varnishd.log").read_text(errors="replace")
                raise RuntimeError(f"varnishd exited: {log}")
            try:
                urllib3.request("HEAD", self.url + "health", timeout=1.0, retries=False)
                return
            except urllib3.exceptions.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def get(self, path: str) -> urllib3.BaseHTTPResponse:
        return urllib3.request("GET", self.url + path.lstrip("/"), retries=False)

    def counter(self, name: str) -> int:
        """One of varnishstat's counters (``MAIN.n_purges``, ...)."""
        done = subprocess.run(
            ["varnishstat", "-n", str(self.state), "-1", "-f", name],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return int(done.stdout.split()[1])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
