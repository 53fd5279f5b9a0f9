"""A soak: many managers at once for MINUTES, with faults, cancels and kills,
and every invariant checked after every cycle.

    python tests/soak/soak.py --minutes 60           # make soak MINUTES=60

One long-lived *service* process runs threads of managers (both planes,
straight to each server and through fault proxies, sync and async faces,
random cancels) for the whole soak; each cycle also starts *batch* worker
processes (multiprocessing, spawn) that are interrupted (SIGINT, SIGTERM)
or killed (SIGKILL) part-way and then run again, and pushes and pulls a
tree as shards on a Dask ``LocalCluster`` whose worker may be killed
mid-push. Servers: moto, s3s-fs and a Garage node, on loopback.

After every cycle: every object under the cycle's prefix is exact (or
absent where no success claimed it), every local file is exact or is
resumable state, a temporary file only where its process was killed, no
multipart upload is left that no journal knows, no process died of a
signal it was not sent (gdb backtrace of its core and its faulthandler
stacks otherwise), and the service's memory and descriptors stay bounded.
It ends with a one-screen summary and exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path[:0] = [str(HERE), str(TESTS)]

import blobs  # noqa: E402
import servers  # noqa: E402
import workload  # noqa: E402
from workload import ABSENT, Job, Route, soak_config, wait_for  # noqa: E402

from cdn_manager import CDNManager  # noqa: E402

from helpers.faultproxy import Fault, FaultProxy, Rule  # noqa: E402

MiB = 1024 * 1024
SIGNALS = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGKILL: "SIGKILL"}
#: Safety nets (never expected to be reached): how long a worker, a phase or
#: a Dask step may take before the soak calls it hung.
HUNG = 600.0
#: How far the service may grow past its warm-up maximum before the soak
#: calls it a leak. Live Python objects and threads say it best. RSS is a
#: loose bound: glibc gives each thread that allocates an arena of its own
#: (up to 8 per core, each up to 64 MiB) and keeps what is freed in it, so
#: RSS climbs for a while without any leak (measured in smaps: the growth
#: sits in those 64 MiB mappings).
RSS_SLACK = 1024 * MiB
FD_SLACK = 64
THREAD_SLACK = 16
OBJECT_FACTOR = 2


@dataclass
class Sample:
    at: float
    rss: int
    fds: int
    #: The service only: live Python objects (gc), allocated blocks, threads.
    objects: int = 0
    blocks: int = 0
    threads: int = 0


@dataclass
class Totals:
    cycles: int = 0
    ops: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    signals: Counter[str] = field(default_factory=Counter)
    cancels: int = 0
    resumed_runs: int = 0
    resumed_bytes: int = 0
    bytes: int = 0
    leftovers: Counter[str] = field(default_factory=Counter)
    crashes: int = 0
    violations: list[str] = field(default_factory=list)
    samples: dict[str, list[Sample]] = field(default_factory=dict)


def say(text: str) -> None:
    print(text, flush=True)


class Soak:
    def __init__(self, args: argparse.Namespace, run_dir: Path) -> None:
        self.args = args
        self.run_dir = run_dir
        self.work = run_dir / "work"
        self.cache = run_dir / "cache"
        self.rng = random.Random(args.seed)
        self.totals = Totals()
        self.ctx = multiprocessing.get_context("spawn")
        self.servers: dict[str, servers.SoakServer] = {}
        self.chaos: dict[str, FaultProxy] = {}
        self.killing: dict[str, FaultProxy] = {}
        self.direct_managers: dict[str, CDNManager] = {}
        #: Processes the soak killed (SIGKILL): their temporary files may stay.
        self.killed: set[int] = set()
        self.nanny_deaths: list[str] = []
        self.reports_seen: set[str] = set()
        self.started = time.monotonic()
        self.cluster: Any = None
        self.client: Any = None

    # Setting up.

    def violation(self, text: str) -> None:
        self.totals.violations.append(f"cycle {self.totals.cycles}: {text}")
        say(f"  VIOLATION: {text}")

    def route(self, name: str, via: str) -> Route:
        server = self.servers[name]
        endpoint = {
            "direct": server.endpoint,
            "chaos": self.chaos[name].endpoint,
            "kill": self.killing[name].endpoint,
        }[via]
        return Route(
            name,
            endpoint,
            server.reader,
            server.writer,
            servers.BUCKET,
            server.region,
            faulty=via != "direct",
        )

    def start(self) -> None:
        for name in self.args.servers:
            say(f"starting {name}")
            self.servers[name] = servers.STARTERS[name](self.run_dir / "servers" / name)
            self.chaos[name] = FaultProxy(self.servers[name].endpoint)
            self.killing[name] = FaultProxy(self.servers[name].endpoint)
            self.direct_managers[name] = CDNManager(
                self.route(name, "direct").credentials(), soak_config("native", faulty=False)
            )
        routes = [self.route(n, via) for n in self.servers for via in ("direct", "chaos")]
        self.service_conn, child = self.ctx.Pipe()
        self.service = self.ctx.Process(
            target=workload.service_main,
            args=(child, routes, self.work, self.args.threads, self.args.seed),
            name="soak-service",
        )
        self.service.start()
        if "dask" in self.args.workloads:
            self.start_dask()

    def start_dask(self) -> None:
        import dask
        from dask.distributed import Client, LocalCluster

        class NannyDeaths(logging.Handler):
            def emit(inner, record: logging.LogRecord) -> None:
                text = record.getMessage()
                if "was killed by" in text or "exited with status" in text:
                    self.nanny_deaths.append(text)

        nanny = logging.getLogger("distributed.nanny")
        nanny.setLevel(logging.INFO)
        nanny.addHandler(NannyDeaths())
        dask.config.set({"distributed.scheduler.allowed-failures": 3})
        say("starting a Dask LocalCluster (2 worker processes)")
        self.cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            dashboard_address=None,
            silence_logs=False,
        )
        self.client = Client(self.cluster)

    def stop(self) -> None:
        """Stops whatever was started, each part on its own."""
        service = getattr(self, "service", None)
        if service is not None:
            with contextlib.suppress(OSError, EOFError):
                self.service_conn.send(("quit",))
                if self.service_conn.poll(120):
                    self.service_conn.recv()
            service.join(60)
            if service.is_alive():
                self.violation("the service did not stop")
                service.kill()
                service.join()
            elif service.exitcode != 0:
                self.died("service", service.pid, service.exitcode, self.work / "service")
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
                self.cluster.close()
        for manager in self.direct_managers.values():
            manager.close()
        for name in self.servers:
            for proxy in (self.chaos[name], self.killing[name]):
                proxy.close()
                for error in proxy.errors:
                    self.violation(f"fault proxy of {name} broke: {error}")
            self.servers[name].stop()

    # Faults.

    def rules(self, server: str, for_kills: bool) -> list[Rule]:
        """Random faults for one cycle, each with a small budget. Left out:
        request-body flips where the server checks no part CRC (moto,
        s3s-fs), lost CreateMultipartUpload answers where no listing can
        find the upload again (moto lists every upload as begun in 2010,
        s3s-fs lists none) or where the process that knew of it may be
        killed, and failed aborts there too."""
        rng = self.rng
        made = []
        for _ in range(rng.randint(2, 6)):
            kind = rng.choice(["reset", "cut", "stall", "flip", "500", "503"])
            method = rng.choice(["GET", "GET", "PUT", "HEAD", "POST", "DELETE"])
            if method == "DELETE" and for_kills:
                method = "GET"
            query = "uploadId=" if method == "POST" else None
            if method == "POST" and server == "garage" and not for_kills and rng.random() < 0.5:
                query = "uploads"
            budget = {"times": rng.randint(1, 3), "skip": rng.randint(0, 25)}
            where = {"method": method, "query": query}
            if kind in ("500", "503"):
                fault = Fault.INTERNAL_ERROR if kind == "500" else Fault.SLOW_DOWN
                made.append(Rule(fault, **where, **budget))
                continue
            fault = {
                "reset": Fault.RESET,
                "cut": Fault.CUT,
                "stall": Fault.STALL,
                "flip": Fault.FLIP,
            }[kind]
            if method == "PUT" and rng.random() < 0.5 and fault is not Fault.FLIP:
                made.append(
                    Rule(fault, at=rng.randint(0, 256 * 1024), in_request=True, **where, **budget)
                )
            elif method == "PUT" and fault is Fault.FLIP and server == "garage":
                made.append(
                    Rule(fault, at=rng.randint(0, 4096), in_request=True, **where, **budget)
                )
            elif fault is Fault.FLIP:
                made.append(Rule(fault, at=rng.randint(0, 64 * 1024), method="GET", **budget))
            elif method in ("HEAD", "DELETE", "POST") or rng.random() < 0.3:
                made.append(Rule(fault, at=None, stall_seconds=10, **where, **budget))
            else:
                made.append(
                    Rule(fault, at=rng.randint(0, 512 * 1024), stall_seconds=10, **where, **budget)
                )
        return made

    def arm(self) -> None:
        for name in self.servers:
            for proxy, for_kills in ((self.chaos[name], False), (self.killing[name], True)):
                proxy.clear()
                with proxy._lock:
                    proxy.exchanges.clear()  # a soak's worth would fill the memory
                for rule in self.rules(name, for_kills):
                    proxy.add(rule)

    def disarm(self) -> None:
        for name in self.servers:
            for proxy in (self.chaos[name], self.killing[name]):
                with proxy._lock:
                    for rule in proxy.rules:
                        if rule.applied:
                            self.totals.faults[rule.fault.name] += rule.applied
                proxy.clear()

    # One cycle.

    def cycle(self, n: int) -> None:
        prefix = f"c{n}"
        folder = self.work / prefix
        folder.mkdir(parents=True, exist_ok=True)
        focus = self.args.servers[n % len(self.args.servers)]
        plane = self.args.planes[(n // len(self.args.servers)) % len(self.args.planes)]
        say(f"cycle {n}: batches and Dask on {focus}, {plane} plane")
        self.arm()
        jobs = [self.batch_job(n, j, focus, folder) for j in range(self.args.batches)]
        if "service" in self.args.workloads:
            self.service_conn.send(("run", n, f"{prefix}/svc"))
        outcomes: dict[str, Any] = {}
        threads = [
            self.thread(f"batch {job.name}", outcomes, job.name, self.run_batch, job, sig)
            for job, sig in jobs
        ]
        dask_step = "dask" in self.args.workloads and n % self.args.dask_every == 0
        if dask_step:
            threads.append(
                self.thread("dask", outcomes, "dask", self.dask_push, n, focus, plane, folder)
            )
        phase = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(HUNG)
            if thread.is_alive():
                self.violation(f"{thread.name} still running after {HUNG:.0f} s")
        # The service runs at least this long each cycle, whatever the rest does.
        rest = self.args.service_seconds - (time.monotonic() - phase)
        if rest > 0 and "service" in self.args.workloads:
            time.sleep(rest)
        if "service" in self.args.workloads:
            self.service_conn.send(("stop",))
            if not self.service_conn.poll(HUNG):
                self.violation("the service did not finish its cycle")
                raise SystemExit(1)
            self.take_service_report(self.service_conn.recv())
        self.disarm()

        # Phase B: every interrupted or killed batch runs again, fault-free.
        resumes = []
        for job, _ in jobs:
            first = outcomes.get(job.name)
            if first is None:
                continue
            if first["signal"] or first["failed"] or first["outcome"] != "finished":
                resumes.append(
                    self.thread(f"resume {job.name}", {}, "", self.resume_batch, job, first)
                )
        for thread in resumes:
            thread.start()
        for thread in resumes:
            thread.join(HUNG)
        if dask_step and outcomes.get("dask") is not None:
            self.dask_finish(n, focus, plane, folder, outcomes["dask"])

        if self.args.plant and n == 0:
            self.plant(prefix, folder, focus)
        self.check(n, prefix, folder, [job for job, _ in jobs])
        self.clean(prefix, folder)
        self.sample()
        self.totals.cycles += 1
        t = self.totals
        service = t.samples.get("service") or [Sample(0, 0, 0)]
        say(
            f"  done: {sum(t.ops.values()):,} ops, {sum(t.faults.values())} faults, "
            f"{sum(t.signals.values())} signals so far; service {service[-1].rss / MiB:.0f} MiB, "
            f"{service[-1].fds} fds, {service[-1].objects:,} objects, {service[-1].threads} "
            f"threads; {len(t.violations)} violations"
        )
        (self.run_dir / "samples.json").write_text(
            json.dumps({k: [vars(x) for x in v] for k, v in t.samples.items()})
        )

    def thread(
        self, name: str, into: dict[str, Any], slot: str, target: Callable[..., Any], *args: Any
    ) -> threading.Thread:
        """A thread running ``target(*args)`` into ``into[slot]``; an exception
        in it is the soak's own bug, reported as a violation."""

        def run() -> None:
            try:
                into[slot] = target(*args)
            except Exception:
                self.violation(f"{name}: the soak itself broke:\n{traceback.format_exc()}")

        return threading.Thread(target=run, name=name)

    #: What ``--plant`` breaks on purpose, and a piece of the violation each must raise.
    PLANTED: ClassVar[dict[str, str]] = {
        "a corrupt object": "planted/corrupt.bin is corrupt",
        "a multipart upload no journal knows": "planted/orphan.bin is known to no journal",
        "a temporary file of a live process": ".cdnpart-1-0 of process 1",
        "a batch worker dying of SIGSEGV": "crash (pid",
        "a Dask worker dying of SIGSEGV": "was killed by signal 11",
    }

    def plant(self, prefix: str, folder: Path, server: str) -> None:
        """Breaks each thing the checks look for, once (``--plant``)."""
        say("planting: " + ", ".join(self.PLANTED))
        stored = self.servers[server]
        key = f"{prefix}/planted/corrupt.bin"
        data = bytearray(blobs.make(key, 5000))
        data[4000] ^= 1
        stored.admin.put_object(Bucket=servers.BUCKET, Key=key, Body=bytes(data))
        stored.admin.create_multipart_upload(
            Bucket=servers.BUCKET, Key=f"{prefix}/planted/orphan.bin"
        )
        (folder / "planted").mkdir(exist_ok=True)
        (folder / "planted" / ".cdnpart-1-0").write_bytes(b"half")
        job = Job("crash", "native", self.route(server, "direct"), (), folder, folder, "crash")
        self.run_batch(job, None)
        if self.client is not None:
            future = self.client.submit(workload.crash, pure=False)
            with contextlib.suppress(Exception):
                future.result(timeout=HUNG)
            wait_for(lambda: bool(self.nanny_deaths), 60, pause=0.1)

    def planted_caught(self) -> bool:
        caught = True
        for what, mark in self.PLANTED.items():
            seen = any(mark in text for text in self.totals.violations)
            say(f"planted {what}: {'caught' if seen else 'MISSED'}")
            caught &= seen
        return caught

    # Batch workers.

    def batch_job(self, n: int, j: int, server: str, folder: Path) -> tuple[Job, int | None]:
        rng = self.rng
        kind = rng.choice(["upload_many", "upload_file", "download_many", "download_file"])
        plane = rng.choice(["native", "boto3"])
        route = self.route(server, "kill" if rng.random() < 0.6 else "direct")
        name = f"job{j}"
        source, target = folder / f"{name}-src", folder / f"{name}-dst"
        items = []
        for i in range(rng.randint(1, 2)):
            items.append((f"c{n}/{name}/big-{i}.bin", rng.randint(7 * MiB, 20 * MiB)))
        for i in range(rng.randint(0, 12) if kind.endswith("many") else rng.randint(0, 2)):
            items.append((f"c{n}/{name}/small-{i}.bin", rng.randint(blobs.MIN_SIZE, 300 * 1024)))
        if kind.startswith("upload"):
            for key, size in items:
                blobs.write(source / key, key, size)
        else:
            # The objects to fetch, stored by the library (with the CRC that
            # makes a ranged download resumable), straight to the server.
            manager = self.direct_managers[server]
            results = manager.upload_many(
                servers.BUCKET, [(key, blobs.make(key, size)) for key, size in items]
            )
            failed = [(r.key, r.error) for r in results if not r.ok]
            if failed:
                self.violation(f"seeding {name} on {server} failed: {failed[:3]}")
        sig = rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGKILL, None])
        job = Job(kind, plane, route, tuple(items), source, target, name)
        return job, sig

    def spawn_batch(self, job: Job, attempt: str) -> tuple[Any, Any, Path]:
        moved = self.ctx.Value("q", 0)
        result = job.folder.parent / f"{job.name}-{attempt}.json"
        process = self.ctx.Process(
            target=workload.batch_main, args=(job, moved, result), name=f"soak-{job.name}"
        )
        process.start()
        return process, moved, result

    def run_batch(self, job: Job, sig: int | None) -> dict[str, Any] | None:
        """The first run of a batch, signalled part-way; what it reported."""
        process, moved, result = self.spawn_batch(job, "first")
        total = sum(size for _, size in job.items)
        sent = None
        if sig is not None:
            at = self.rng.uniform(0.05, 0.9) * total
            wait_for(lambda: moved.value >= at or not process.is_alive(), HUNG)
            if process.is_alive():
                os.kill(process.pid, sig)
                sent = sig
                self.totals.signals[SIGNALS[sig]] += 1
                if sig == signal.SIGKILL:
                    self.killed.add(process.pid)
        process.join(HUNG)
        if process.is_alive():
            self.violation(
                f"{job.name} ({job.kind}) still running {HUNG:.0f} s after it was started"
            )
            process.kill()
            process.join()
            return None
        code = process.exitcode
        expected = {
            None: {0},
            signal.SIGINT: {0, 130},
            signal.SIGTERM: {0, 130},
            signal.SIGKILL: {0, -9},
        }
        if code not in expected[sent]:
            self.died(job.name, process.pid, code, job.folder.parent / f"{job.name}-run")
            return None
        report = json.loads(result.read_text()) if result.exists() else {"outcome": "killed"}
        report["signal"] = SIGNALS.get(sent) if sent else None
        self.totals.ops[f"batch {job.kind}"] += len(job.items)
        if sent is None and report["failed"] and not job.route.faulty:
            self.violation(
                f"{job.name} ({job.kind}) straight to {job.route.server}: {report['failed'][:3]}"
            )
        for key, why in report.get("failed", []):
            self.totals.failures[why.split(":")[0]] += 1
            if why.split(":")[0] not in workload.FAULT_OUTCOMES:
                self.violation(f"{job.name} ({job.kind}) item {key}: {why}")
        if sent in (signal.SIGINT, signal.SIGTERM):
            # Interrupted: nothing half-written stays, and what it called
            # done is done.
            left = workload.temp_files(job.folder)
            if left:
                self.violation(
                    f"{job.name} ({job.kind}) interrupted by {SIGNALS[sent]} left {left}"
                )
            for key in report.get("completed") or []:
                self.check_done(job, key, f"reported completed at {SIGNALS[sent]}")
        for key in report.get("ok", []):
            self.check_done(job, key, "reported ok")
        return report

    def check_done(self, job: Job, key: str, why: str) -> None:
        if job.kind.startswith("upload"):
            data = self.servers[job.route.server].get(key)
            problem = "absent" if data is None else blobs.check(data, key).problem
        else:
            path = job.folder / key
            problem = "absent" if not path.exists() else blobs.check_file(path, key).problem
        if problem:
            self.violation(f"{job.name} ({job.kind}) {key} {why} but is {problem}")

    def resume_batch(self, job: Job, first: dict[str, Any]) -> None:
        """The run after an interrupted or killed one (or again after a clean
        one): fault-free, it must finish every item, exactly."""
        process, _, result = self.spawn_batch(job, "again")
        process.join(HUNG)
        if process.is_alive():
            self.violation(f"{job.name} ({job.kind}) run again still running after {HUNG:.0f} s")
            process.kill()
            process.join()
            return
        if process.exitcode != 0:
            self.died(
                f"{job.name}-again",
                process.pid,
                process.exitcode,
                job.folder.parent / f"{job.name}-run",
            )
            return
        report = json.loads(result.read_text())
        self.totals.ops[f"batch {job.kind}"] += len(job.items)
        if first.get("signal"):
            self.totals.resumed_runs += 1
            self.totals.resumed_bytes += report.get("resumed", 0)
        if report["failed"]:
            self.violation(
                f"{job.name} ({job.kind}) run again after {first.get('signal') or 'a clean run'}: "
                f"{report['failed'][:3]}"
            )
        for key in report["ok"]:
            self.check_done(job, key, "run again ok")
        if job.kind.startswith("download") and not report["failed"] and job.folder.exists():
            # Every download finished: what an interrupted one kept is used up.
            kept = sorted(
                str(p.relative_to(job.folder))
                for p in job.folder.rglob(".*")
                if p.name.endswith((".cdn-partial", ".cdn-journal"))
            )
            if kept:
                self.violation(f"{job.name} ({job.kind}) finished but left resumable state {kept}")

    def died(self, name: str, pid: int | None, code: int | None, folder: Path) -> None:
        """A process ended in a way nobody asked for: its stderr (faulthandler
        stacks) and the backtrace of its core."""
        what = (
            f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        )
        if code is not None and code < 0:
            self.totals.crashes += 1
        self.violation(f"{name} (pid {pid}) {what}")
        for stderr in sorted(folder.glob("*.stderr")):
            tail = stderr.read_text(errors="replace")[-6000:]
            say(f"---- {stderr} (last 6000 chars) ----\n{tail}")
        self.backtraces(folder)

    def backtraces(self, folder: Path) -> None:
        cores = folder.rglob("core*")
        for core in sorted(p for p in cores if p.is_file() and ".seen-" not in p.name):
            say(f"---- gdb backtrace of {core} ----")
            say(backtrace(core))
            core.rename(core.with_name(f"{core.name}.seen-{int(time.time())}"))

    # Dask.

    def dask_push(self, n: int, server: str, plane: str, folder: Path) -> dict[str, Any] | None:
        rng = self.rng
        prefix = f"c{n}/dask"
        source = folder / "dask-src"
        tree = {}
        for i in range(rng.randint(100, 300)):
            key = f"{prefix}/d{i % 7}/f{i:04}.bin"
            tree[key] = blobs.write(source / key, key, rng.randint(blobs.MIN_SIZE, 32 * 1024))
        for i in range(rng.randint(0, 2)):
            key = f"{prefix}/big/f{i}.bin"
            tree[key] = blobs.write(source / key, key, rng.randint(7 * MiB, 12 * MiB))
        route = self.route(server, "kill" if rng.random() < 0.5 else "direct")
        manager = CDNManager(route.credentials(), soak_config(plane, route.faulty))
        shards = 4
        try:
            # The manager travels in each task's arguments, not scattered
            # once: a worker killed mid-push would take a scattered copy
            # with it, and the tasks re-run elsewhere could not start.
            remote = manager
            futures = [
                self.client.submit(
                    workload.dask_push,
                    remote,
                    str(source / prefix),
                    servers.BUCKET,
                    prefix,
                    (k, shards),
                    pure=False,
                )
                for k in range(1, shards + 1)
            ]
            if rng.random() < 0.4:
                self.kill_dask_worker(server, prefix, len(tree), futures)
            from dask.distributed import wait

            wait(futures, timeout=HUNG)
            reports = []
            for future in futures:
                try:
                    reports.append(future.result(timeout=HUNG))
                except Exception as err:  # KilledWorker, or the task's own error
                    self.violation(f"Dask push on {plane}: {type(err).__name__}: {err}")
            for report in reports:
                self.totals.ops["dask push"] += report["uploaded"] + len(report["failed"])
                for key, why in report["failed"]:
                    name = why.split(":")[0]
                    self.totals.failures[name] += 1
                    if not route.faulty or name not in workload.FAULT_OUTCOMES | {"Conflict"}:
                        self.violation(f"Dask push item {key}: {why}")
        finally:
            manager.close()
        return {"tree": tree, "source": source}

    def kill_dask_worker(self, server: str, prefix: str, files: int, futures: list[Any]) -> None:
        """SIGKILL of a worker once part of the tree is stored."""
        pids = self.client.run(os.getpid)
        at = self.rng.randint(1, max(1, files // 2))
        stored = self.servers[server]

        def far_enough() -> bool:
            if all(f.done() for f in futures):
                return True
            return sum(1 for _ in stored.keys(prefix + "/")) >= at

        wait_for(far_enough, HUNG, pause=0.2)
        if all(f.done() for f in futures):
            return
        pid = self.rng.choice(sorted(pids.values()))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            self.killed.add(pid)
            self.totals.signals["SIGKILL (Dask worker)"] += 1

    def dask_finish(
        self, n: int, server: str, plane: str, folder: Path, pushed: dict[str, Any]
    ) -> None:
        """The push again (a rerun after faults and kills, straight to the
        server: it must complete), then the pull as shards; both exact."""
        from dask.distributed import wait

        prefix = f"c{n}/dask"
        tree: dict[str, int] = pushed["tree"]
        route = self.route(server, "direct")
        manager = CDNManager(route.credentials(), soak_config(plane, faulty=False))
        shards = 4
        try:
            remote = manager
            again = [
                self.client.submit(
                    workload.dask_push,
                    remote,
                    str(pushed["source"] / prefix),
                    servers.BUCKET,
                    prefix,
                    (k, shards),
                    pure=False,
                )
                for k in range(1, shards + 1)
            ]
            wait(again, timeout=HUNG)
            for future in again:
                report = future.result(timeout=HUNG)
                if not report["ok"]:
                    self.violation(f"Dask push run again: {report['failed'][:3]}")
            keys = sorted(tree)
            pull = folder / "dask-pull"
            pulls = [
                self.client.submit(
                    workload.dask_pull,
                    remote,
                    servers.BUCKET,
                    [k for k in keys if workload.shard_of(k, shards) == s],
                    str(pull),
                    pure=False,
                )
                for s in range(1, shards + 1)
            ]
            wait(pulls, timeout=HUNG)
            for future in pulls:
                report = future.result(timeout=HUNG)
                self.totals.ops["dask pull"] += len(report["ok"]) + len(report["failed"])
                if report["failed"]:
                    self.violation(f"Dask pull: {report['failed'][:3]}")
            for key in keys:
                path = pull / key
                problem = "absent" if not path.exists() else blobs.check_file(path, key).problem
                if problem:
                    self.violation(f"Dask pull of {key}: {problem}")
                data = self.servers[server].get(key)
                problem = "absent" if data is None else blobs.check(data, key).problem
                if problem:
                    self.violation(f"Dask push of {key}: the object is {problem}")
        finally:
            manager.close()

    # The service.

    def take_service_report(self, report: dict[str, Any]) -> None:
        self.totals.ops.update({f"service {k}": v for k, v in report["ops"].items()})
        self.totals.failures.update(report["failures"])
        self.totals.cancels += report["cancels"]
        self.totals.bytes += report["bytes"]
        for text in report["violations"]:
            self.violation(f"service: {text}")
        self.service_counts = (report["objects"], report["blocks"], report["threads"])
        self.ledger = {}
        for joined, possible in report["ledger"].items():
            server, key = joined.split("\0", 1)
            self.ledger[(server, key)] = set(possible)

    # Checks.

    def check(self, n: int, prefix: str, folder: Path, jobs: list[Job]) -> None:
        ledger = getattr(self, "ledger", {}) if "service" in self.args.workloads else {}
        for name, server in self.servers.items():
            if server.poll() is not None:
                self.violation(f"server {name} exited with status {server.poll()}")
                raise SystemExit(1)
            present = set(server.keys(prefix + "/"))
            for key in sorted(present):
                data = server.get(key)
                if data is None:
                    continue  # deleted between the listing and the GET: not here
                found = blobs.check(data, key)
                if found.problem:
                    self.violation(f"{name}: object {key} is corrupt: {found.problem}")
                possible = ledger.get((name, key))
                if possible is not None and found.version not in possible:
                    self.violation(
                        f"{name}: object {key} is version {found.version}, "
                        f"not one of {sorted(possible)}"
                    )
            for (where, key), possible in ledger.items():
                if where == name and key not in present and ABSENT not in possible:
                    self.violation(f"{name}: object {key} is lost (its upload succeeded)")
            for job in jobs:
                if job.route.server != name:
                    continue
                for key, _ in job.items:
                    if key not in present:
                        self.violation(f"{name}: {job.name}'s {key} is missing after the run again")
            known, intents = self.journaled_uploads()
            for key, upload_id in server.uploads(prefix + "/"):
                if upload_id in known:
                    continue
                # An intent knows "an upload of this key, begun then": one
                # its process, killed, could not name (the server says not
                # when it began, or no sweep has run since).
                ways = {server.endpoint, self.chaos[name].endpoint, self.killing[name].endpoint}
                if any(intents.get((way, key), set()) & self.killed for way in ways):
                    self.totals.leftovers[
                        "upload created as its process was killed, journaled as intent"
                    ] += 1
                    continue
                self.violation(
                    f"{name}: multipart upload {upload_id[:16]}… of {key} is known to no journal"
                )
        self.check_files(folder)
        self.backtraces(self.run_dir)
        self.sanitizer_reports()
        deaths, self.nanny_deaths = self.nanny_deaths, []
        for text in deaths:
            match = re.search(r"Worker process (\d+) was killed by signal (\d+)", text)
            if (
                match
                and int(match.group(2)) == signal.SIGKILL
                and int(match.group(1)) in self.killed
            ):
                continue
            self.totals.crashes += 1 if match else 0
            self.violation(f"Dask: {text} (see {self.run_dir / 'orchestrator.stderr'})")

    def sanitizer_reports(self) -> None:
        """Each new AddressSanitizer report (``--asan-reports``: where the
        runtime preloaded into every process writes them)."""
        folder = self.args.asan_reports
        if folder is None or not folder.exists():
            return
        for report in sorted(folder.iterdir()):
            if report.name in self.reports_seen:
                continue
            self.reports_seen.add(report.name)
            self.totals.crashes += 1
            self.violation(f"AddressSanitizer report {report}")
            say(report.read_text(errors="replace")[:8000])

    def journaled_uploads(self) -> tuple[set[str], dict[tuple[str, str], set[int]]]:
        """The upload ids the journals name, and the endpoints and keys of
        the journals of an intent (a creation whose id their process never
        wrote), with the processes that wrote them."""
        known: set[str] = set()
        intents: dict[tuple[str, str], set[int]] = {}
        for journal in (self.cache / "cdn-manager" / "uploads").glob("*.cdn-upload"):
            with contextlib.suppress(OSError, ValueError, IndexError, KeyError):
                header = json.loads(journal.read_text().splitlines()[0])
                if header["upload_id"]:
                    known.add(header["upload_id"])
                else:
                    where = (header["endpoint"], header["key"])
                    intents.setdefault(where, set()).add(header["pid"])
        return known, intents

    def check_files(self, folder: Path) -> None:
        """Every file below the cycle's folders: exact, or resumable state, or
        the temporary file of a process the soak killed."""
        for root in sorted(
            p for p in folder.iterdir() if p.is_dir() and not p.name.endswith("-run")
        ):
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                name = path.name
                if name.startswith(workload.TEMP_MARK):
                    pid = int(name.split("-")[1])
                    if pid in self.killed:
                        self.totals.leftovers["temporary file of a killed process"] += 1
                    else:
                        self.violation(
                            f"temporary file {path} of process {pid}, which was not killed"
                        )
                    continue
                if name.startswith(".") and name.endswith((".cdn-partial", ".cdn-journal")):
                    self.totals.leftovers["resumable state"] += 1
                    continue
                key = str(path.relative_to(root))
                found = blobs.check_file(path, key)
                if found.problem:
                    self.violation(f"local file {path} is not exact: {found.problem}")

    def clean(self, prefix: str, folder: Path) -> None:
        for server in self.servers.values():
            server.clean(prefix + "/")
        for journal in (self.cache / "cdn-manager" / "uploads").glob("*.cdn-upload"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if json.loads(journal.read_text().splitlines()[0])["key"].startswith(prefix + "/"):
                    journal.unlink()
        shutil.rmtree(folder, ignore_errors=True)
        # The service's files of this cycle: it is done with them once it has
        # reported, and they add up (about 250 MB a cycle, 9 GB in 30 minutes).
        shutil.rmtree(self.work / "service" / prefix, ignore_errors=True)

    # Memory and descriptors.

    def sample(self) -> None:
        gc.collect()
        now = time.monotonic() - self.started
        watched = {"orchestrator": os.getpid()}
        if self.service.is_alive():
            watched["service"] = self.service.pid
        for name, pid in watched.items():
            with contextlib.suppress(OSError):
                rss, fds = workload.rss_and_fds(pid)
                counts = getattr(self, "service_counts", (0, 0, 0)) if name == "service" else ()
                self.totals.samples.setdefault(name, []).append(Sample(now, rss, fds, *counts))
        service = self.totals.samples.get("service", [])
        if len(service) > self.warmup():
            base = service[: self.warmup()]
            rss_cap = max(s.rss for s in base) + RSS_SLACK
            fd_cap = max(s.fds for s in base) + FD_SLACK
            thread_cap = max(s.threads for s in base) + THREAD_SLACK
            object_cap = max(s.objects for s in base) * OBJECT_FACTOR
            last = service[-1]
            if last.rss > rss_cap:
                self.violation(
                    f"service RSS {last.rss / MiB:.0f} MiB, above its bound {rss_cap / MiB:.0f}"
                )
            if last.fds > fd_cap:
                self.violation(f"service has {last.fds} descriptors open, above its bound {fd_cap}")
            if last.threads > thread_cap:
                self.violation(f"service runs {last.threads} threads, above its bound {thread_cap}")
            if last.objects > object_cap:
                self.violation(
                    f"service holds {last.objects:,} Python objects, above its bound {object_cap:,}"
                )

    def warmup(self) -> int:
        return max(2, self.args.warmup_cycles)

    def growth(self, samples: list[Sample]) -> tuple[float, float]:
        """Least-squares slope of RSS (MiB) and descriptors per hour, after warm-up."""
        used = samples[self.warmup() :] if len(samples) > self.warmup() + 1 else samples
        if len(used) < 2:
            return 0.0, 0.0
        mean_t = sum(s.at for s in used) / len(used)
        var = sum((s.at - mean_t) ** 2 for s in used) or 1.0

        def slope(value: Callable[[Sample], float]) -> float:
            mean_v = sum(value(s) for s in used) / len(used)
            return sum((s.at - mean_t) * (value(s) - mean_v) for s in used) / var * 3600

        return slope(lambda s: s.rss / MiB), slope(lambda s: s.fds)

    def secrets_leaked(self) -> None:
        secrets = [s for server in self.servers.values() for s in server.secrets]
        for path in self.run_dir.rglob("*"):
            if path.is_file() and path.suffix in (".stderr", ".json", ".log"):
                text = path.read_text(errors="replace")
                if any(s in text for s in secrets):
                    self.violation(f"a secret is written in {path}")

    def summary(self) -> None:
        t = self.totals
        minutes = (time.monotonic() - self.started) / 60
        ops = sum(t.ops.values())
        say("")
        say("=" * 72)
        say(
            f"soak: {t.cycles} cycles in {minutes:.1f} min, seed {self.args.seed}, servers "
            f"{', '.join(self.servers)}, run folder {self.run_dir}"
        )
        say(
            f"operations: {ops:,} ({t.bytes / MiB:,.0f} MiB verified through the service), "
            f"{t.cancels} cancelled"
        )
        say("  " + ", ".join(f"{k} {v:,}" for k, v in sorted(t.ops.items())))
        say(
            f"faults injected: {sum(t.faults.values()):,} ("
            + ", ".join(f"{k} {v}" for k, v in sorted(t.faults.items()))
            + ")"
        )
        say(
            "failures they caused (allowed): "
            + (", ".join(f"{k} {v}" for k, v in sorted(t.failures.items())) or "none")
        )
        say(
            "signals sent: "
            + (", ".join(f"{k} {v}" for k, v in sorted(t.signals.items())) or "none")
            + f"; runs resumed after one: {t.resumed_runs} ({t.resumed_bytes / MiB:,.1f} MiB kept)"
        )
        say(
            "leftovers allowed: "
            + (", ".join(f"{k} {v}" for k, v in sorted(t.leftovers.items())) or "none")
        )
        for name, samples in sorted(t.samples.items()):
            if not samples:
                continue
            rss_h, fds_h = self.growth(samples)
            first, last = samples[0], samples[-1]
            say(
                f"{name}: RSS {first.rss / MiB:.0f} -> {last.rss / MiB:.0f} MiB "
                f"(max {max(s.rss for s in samples) / MiB:.0f}), {rss_h:+.1f} MiB/h; "
                f"fds {first.fds} -> {last.fds} (max {max(s.fds for s in samples)}), {fds_h:+.1f}/h"
            )
            if last.objects:
                say(
                    f"  Python objects {first.objects:,} -> {last.objects:,}, "
                    f"allocated blocks {first.blocks:,} -> {last.blocks:,}, "
                    f"threads {first.threads} -> {last.threads}"
                )
        say(f"crashes: {t.crashes}; violations: {len(t.violations)}")
        for text in t.violations[:15]:
            say(f"  - {text[:300]}")
        if len(t.violations) > 15:
            say(f"  … {len(t.violations) - 15} more above")
        say("=" * 72)


def backtrace(core: Path) -> str:
    """Every thread's backtrace from a core, by gdb."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return "(gdb is not installed: apt-get install gdb)"
    probe = subprocess.run(
        [gdb, "-batch", "-c", str(core)], capture_output=True, text=True, timeout=120
    )
    match = re.search(r"Core was generated by `([^ ']+)", probe.stdout + probe.stderr)
    program = match.group(1) if match else sys.executable
    if not Path(program).exists():
        program = shutil.which(program) or sys.executable
    done = subprocess.run(
        [gdb, "-batch", "-ex", "info threads", "-ex", "thread apply all bt 30", program, str(core)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.stdout[-20000:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--max-cycles", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--servers", default="moto,s3s-fs,garage")
    parser.add_argument("--workloads", default="service,batch,dask")
    parser.add_argument(
        "--planes", default="native,boto3", help="the planes of the batches and Dask, in turn"
    )
    parser.add_argument("--threads", type=int, default=6, help="service threads")
    parser.add_argument("--batches", type=int, default=2, help="batch workers per cycle")
    parser.add_argument("--dask-every", type=int, default=2, help="a Dask step every N cycles")
    parser.add_argument("--service-seconds", type=float, default=10.0)
    parser.add_argument("--warmup-cycles", type=int, default=3)
    parser.add_argument(
        "--asan-reports",
        type=Path,
        default=None,
        help="where the preloaded AddressSanitizer runtime writes its reports "
        "(ASAN_OPTIONS log_path): each one is a violation",
    )
    parser.add_argument(
        "--plant",
        action="store_true",
        help="self-test: break each checked thing once in the first cycle; "
        "exit 0 only if every one is caught",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="run folder (default: a new temporary one)"
    )
    args = parser.parse_args()
    args.servers = args.servers.split(",")
    args.planes = args.planes.split(",")
    args.workloads = set(args.workloads.split(","))
    if "batch" not in args.workloads:
        args.batches = 0

    run_dir = (args.out or Path(tempfile.mkdtemp(prefix="cdn-soak-"))).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if any(run_dir.iterdir()):
        parser.error(f"{run_dir} is not empty: the soak needs a folder of its own")
    # What every process the soak starts inherits: its own cache (upload
    # journals, deploy caches), faulthandler on, core dumps allowed, and
    # the soak's modules importable (Dask workers unpickle its tasks).
    os.environ["XDG_CACHE_HOME"] = str(run_dir / "cache")
    os.environ["PYTHONFAULTHANDLER"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    # This process's stderr (its Dask workers' too: faulthandler stacks) to a
    # file; the summary goes to stdout. Cores of Dask workers land here.
    here = run_dir / "orchestrator"
    here.mkdir(exist_ok=True)
    os.chdir(here)
    err = os.open(run_dir / "orchestrator.stderr", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(err, 2)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    soak = Soak(args, run_dir)
    say(f"soak for {args.minutes} min (seed {args.seed}) in {run_dir}")
    try:
        soak.start()
        deadline = soak.started + args.minutes * 60
        n = 0
        while n == 0 or (time.monotonic() < deadline and n < args.max_cycles):
            soak.cycle(n)
            n += 1
    except KeyboardInterrupt:
        soak.violation("stopped by a signal before its time")
    except SystemExit:
        pass
    except Exception:
        soak.violation(f"the soak itself broke:\n{traceback.format_exc()}")
    finally:
        with contextlib.suppress(Exception):
            soak.stop()
        soak.backtraces(run_dir)
        soak.sanitizer_reports()
        soak.secrets_leaked()
        soak.summary()
    if args.plant:
        return 0 if soak.planted_caught() else 1
    return 1 if soak.totals.violations else 0


if __name__ == "__main__":
    sys.exit(main())
