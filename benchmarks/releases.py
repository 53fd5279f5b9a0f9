"""Rollback speed: a 10,000-file site whose releases differ only in their
entry points (10 pages; 9,990 content-hashed assets), rolled back and forth.

    make bench-releases            # results/releases.json and results/releases.md
    .venv/bin/python benchmarks/releases.py --rounds 5 --server moto

Each round rolls the site back to the release before the latest (release 1,
then 2, then 1 again, ...: every rollback is a release of its own), timing
``plan_rollback`` + ``deploy`` (what ``cdn-manager rollback`` runs), twice:
from the machine that deployed (its deploy cache warm) and from "another
machine" (an empty cache folder: every proof comes from the latest
release's manifest). The requests are counted by the server: moto runs in a
process of its own and its access log gives one line per request. moto's
own listing is slow (it sorts the bucket for every page); Garage (one
node, ``--server garage``, as the tests start it) lists 10,000 keys with
their ETags as a production store does, so its figure is the one to quote.
On s3s-fs, whose listings carry no ETags, every object needs a HEAD (from
the plan's counters: requests are counted on moto only).

Beside each time, the CPU-seconds it took: the client's (this process,
its Rust threads included) and the server's (its process, from /proc), so
that a slow figure on a busy machine can be told from a slow rollback.

It runs in the tests' virtualenv (moto is there; nothing here needs the
benchmark clients of bench.py), and prints the machine's load before and
after: on a shared machine that is most of the spread. The results are
written after each server, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import urllib3

from cdn_manager import CDNCredentials, CDNManager

RESULTS = Path(__file__).resolve().parent / "results"
BUCKET = "releases-bench"
PREFIX = "site"
FILES = 10_000
PAGES = 10
_REQUEST = re.compile(r'"(GET|PUT|HEAD|POST|DELETE) (\S+) HTTP/1\.[01]" (\d{3})')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib3.request("GET", url, timeout=1.0, retries=False)
            return
        except urllib3.exceptions.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class Server:
    """An S3 server in a process of its own: its endpoint, the credentials
    the manager uses and, for moto, the requests it logged."""

    def __init__(self, kind: str, work: Path) -> None:
        self.kind = kind
        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.log = work / f"{kind}.log"
        self._log = self.log.open("wb")
        key, secret = "bench-key", f"bench-secret-{random.randrange(1 << 60):x}"
        self.cluster: Any = None
        if kind == "garage":
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
            from helpers.garage import REGION, GarageCluster

            binary = os.environ.get("CDN_MANAGER_GARAGE") or str(
                Path.home() / ".cache/cdn-manager/garage/bin/garage"
            )
            self.cluster = GarageCluster(binary, work / "garage", size=1, region=REGION)
            self.endpoint = self.cluster.nodes[0].endpoint
            key, secret = self.cluster.create_key("bench")
            self.cluster.create_bucket(BUCKET)
            self.cluster.allow(BUCKET, key, "read", "write", "owner")
            pair = (key, secret, key, secret)
            self.credentials = CDNCredentials(self.endpoint, *pair, region=REGION)
            return
        if kind == "moto":
            command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        else:
            binary = Path.home() / ".cache/cdn-manager/s3s-fs/bin/s3s-fs"
            data = Path(tempfile.mkdtemp(prefix="releases-bench-", dir="/dev/shm"))
            self.data = data
            command = [str(binary), "--host", "127.0.0.1", "--port", str(port)]
            command += ["--access-key", key, "--secret-key", secret, str(data)]
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        wait_for(self.endpoint)
        admin = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )
        admin.create_bucket(Bucket=BUCKET)
        self.credentials = CDNCredentials(self.endpoint, key, secret, key, secret)

    @property
    def pid(self) -> int:
        if self.cluster is not None:
            process = self.cluster.nodes[0].process
            assert process is not None
            return int(process.pid)
        return int(self.process.pid)

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far (user + system)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def mark(self) -> int:
        """Where the request log is now."""
        self._log.flush()
        return self.log.stat().st_size

    def requests_since(self, mark: int) -> dict[str, int] | None:
        """Requests by kind since ``mark`` (moto only)."""
        if self.kind != "moto":
            return None
        with self.log.open("rb") as log:
            log.seek(mark)
            text = log.read().decode(errors="replace")
        counts: collections.Counter[str] = collections.Counter()
        for method, target, _ in _REQUEST.findall(text):
            path, _, query = target.partition("?")
            key = path.split("/", 2)[2] if path.count("/") >= 2 else ""
            if method == "GET" and not key:
                counts["list"] += 1
            elif method == "POST" and "delete" in query:
                counts["batch delete"] += 1
            else:
                where = "history" if key.startswith(".cdn-manager/") else "site"
                counts[f"{method} {where}"] += 1
        return dict(sorted(counts.items()))

    def close(self) -> None:
        self._log.close()
        if self.cluster is not None:
            self.cluster.close()
            return
        self.process.terminate()
        self.process.wait(30)
        if self.kind == "s3s-fs":
            shutil.rmtree(self.data, ignore_errors=True)


def build(site: Path, release: int) -> None:
    """The 9,990 assets (written once: the same in every release) and the
    10 pages of ``release``."""
    rng = random.Random(7)
    if not (site / "assets").exists():
        for n in range(FILES - PAGES):
            name = f"assets/{n % 50:02}/chunk-{n:05}.{rng.randrange(1 << 40):010x}.js"
            path = site / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(rng.randrange(1024, 4096)))
    for n in range(PAGES):
        page = site / ("index.html" if n == 0 else f"page-{n}/index.html")
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f"<h1>page {n} of release {release}</h1>\n" * 40)


@contextmanager
def cache_folder(path: Path) -> Iterator[None]:
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(path)
    try:
        yield
    finally:
        if before is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = before


def rollback(manager: CDNManager, server: Server) -> dict[str, Any]:
    mark = server.mark()
    server_cpu = server.cpu_seconds()
    client_cpu = time.process_time()
    started = time.monotonic()
    plan = manager.plan_rollback(BUCKET, PREFIX)
    planned = time.monotonic()
    report = manager.deploy(plan)
    done = time.monotonic()
    client_cpu = time.process_time() - client_cpu
    server_cpu = server.cpu_seconds() - server_cpu
    assert report.ok, (report.failed, report.held_back)
    assert report.release is not None
    return {
        "seconds": round(done - started, 3),
        "plan_seconds": round(planned - started, 3),
        "client_cpu_seconds": round(client_cpu, 2),
        "server_cpu_seconds": round(server_cpu, 2),
        "release": report.release.release,
        "to": report.release.rollback_of,
        "restored": len(report.uploaded),
        "unchanged": len(plan.unchanged),
        "heads": plan.stats.heads,
        "proven_without_head": plan.stats.remembered,
        "requests": server.requests_since(mark),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", choices=("moto", "garage", "s3s-fs"), action="append")
    parser.add_argument("--out", type=Path, default=RESULTS / "releases")
    args = parser.parse_args()
    servers = args.server or ["moto", "garage", "s3s-fs"]
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="releases-bench-") as scratch:
        work = Path(scratch)
        for kind in servers:
            server = Server(kind, work)
            try:
                site = work / f"site-{kind}"
                with cache_folder(work / f"cache-{kind}"):
                    manager = CDNManager(server.credentials)
                    for release in (1, 2):
                        build(site, release)
                        started = time.monotonic()
                        report = manager.deploy(manager.plan_deploy(site, BUCKET, PREFIX))
                        assert report.ok, report.failed
                        print(
                            f"{kind}: release {release} deployed in "
                            f"{time.monotonic() - started:.1f} s",
                            flush=True,
                        )
                    same = [rollback(manager, server) for _ in range(args.rounds)]
                    manager.close()
                other = []
                for n in range(args.rounds):
                    with cache_folder(work / f"another-machine-{kind}-{n}"):
                        fresh = CDNManager(server.credentials)
                        other.append(rollback(fresh, server))
                        fresh.close()
                results[kind] = {"same machine": same, "another machine": other}
            finally:
                server.close()
            _write(args.out, results, load_before)


def _write(out: Path, results: dict[str, Any], load_before: tuple[float, ...]) -> None:
    load_after = os.getloadavg()
    document = {
        "what": "rollback of a 10,000-file site whose releases differ in their 10 pages",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "processor": _processor(),
            "cores": os.cpu_count(),
            "load average before": [round(x, 2) for x in load_before],
            "load average after": [round(x, 2) for x in load_after],
            "python": platform.python_version(),
        },
        "commit": _commit(),
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(document, indent=1) + "\n")
    table = _table(document)
    out.with_suffix(".md").write_text(table)
    print(table, flush=True)


def _table(document: dict[str, Any]) -> str:
    machine = document["machine"]
    lines = [
        f"# Rollback of a {FILES:,}-file site ({PAGES} pages differ between releases)",
        "",
        f"{document['date']}, commit {document['commit']}, {machine['processor']}, "
        f"{machine['cores']} cores, load average {machine['load average before'][0]} before, "
        f"{machine['load average after'][0]} after (1-minute).",
        "",
        "| server | from | rollback s (median, min-max) | plan s | client CPU s | server CPU s "
        "| restored | HEADs | requests |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for kind, runs in document["results"].items():
        for where, rounds in runs.items():
            seconds = [r["seconds"] for r in rounds]
            plans = [r["plan_seconds"] for r in rounds]
            client = statistics.median(r["client_cpu_seconds"] for r in rounds)
            served = statistics.median(r["server_cpu_seconds"] for r in rounds)
            requests = rounds[-1]["requests"]
            shown = (
                ", ".join(f"{k} {v}" for k, v in requests.items())
                + f" (total {sum(requests.values())})"
                if requests
                else "not counted"
            )
            lines.append(
                f"| {kind} | {where} | {statistics.median(seconds):.2f} "
                f"({min(seconds):.2f}-{max(seconds):.2f}) | {statistics.median(plans):.2f} | "
                f"{client:.2f} | {served:.2f} | "
                f"{rounds[-1]['restored']} | {rounds[-1]['heads']} | {shown} |"
            )
    return "\n".join(lines) + "\n"


def _processor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    main()
