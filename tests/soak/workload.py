"""What the soak's other processes run: the long-lived service (threads of
managers doing random operations, with random cancels), the batch workers
the orchestrator interrupts or kills, and the Dask tasks.

Everything here uses only the public names of ``cdn_manager``. Each process
keeps its stderr (Python's faulthandler stacks, log lines) in a file of its
own and works in a folder of its own, where a core dump would land.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import hashlib
import json
import logging
import os
import random
import resource
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import blobs

from cdn_manager import (
    AsyncCDNManager,
    CDNCredentials,
    CDNError,
    CDNManager,
    Interrupted,
    TransferConfig,
    TransferResult,
)

MiB = 1024 * 1024
#: Versions a key may be in; 0 is "absent".
ABSENT = 0
#: Failures a transfer through a faulty route may end with. Anything else
#: (a wrong object, a lost one, a refusal, an exception that is no CDNError)
#: is a violation.
FAULT_OUTCOMES = frozenset({"TransferError", "IntegrityError", "Cancelled"})
#: Temporary files of downloads in flight (``.cdnpart-PID-N``).
TEMP_MARK = ".cdnpart-"


@dataclass(frozen=True)
class Route:
    """One way to one server: straight to it, or through a fault proxy."""

    server: str
    endpoint: str
    reader: tuple[str, str]
    writer: tuple[str, str]
    bucket: str
    region: str | None = None
    #: Through a proxy that injects faults.
    faulty: bool = False

    @property
    def name(self) -> str:
        return f"{self.server}{'~faults' if self.faulty else ''}"

    def credentials(self) -> CDNCredentials:
        return CDNCredentials(self.endpoint, *self.reader, *self.writer, region=self.region)


def soak_config(plane: str, faulty: bool) -> TransferConfig:
    """Small parts, so multipart and ranged paths run on modest objects;
    short timeouts through a faulty route (a stalled answer is given up in
    seconds), the defaults straight to a server; no proxy from the
    environment."""
    timeouts = {"read_timeout": 4.0, "connect_timeout": 2.0} if faulty else {}
    return TransferConfig(
        multipart_threshold=6 * MiB,
        download_threshold=6 * MiB,
        part_size=5 * MiB,
        concurrency=4,
        max_in_flight=8,
        data_plane=plane,  # type: ignore[arg-type]
        proxies={},
        **timeouts,  # type: ignore[arg-type]
    )


def child_setup(workdir: Path, name: str) -> None:
    """A process of the soak: works in ``workdir`` (a core dump lands there),
    writes its stderr to ``workdir/name.stderr``, dumps every thread's
    Python stack on a fatal signal, may dump core."""
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    err = os.open(workdir / f"{name}.stderr", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(err, 2)
    os.close(err)
    faulthandler.enable(all_threads=True)
    with contextlib.suppress(ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format=f"%(asctime)s {name}[%(process)d] %(threadName)s %(levelname)s "
        "%(name)s: %(message)s",
    )


def rss_and_fds(pid: int) -> tuple[int, int]:
    """Resident memory (bytes) and open descriptors of a process."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def temp_files(folder: Path) -> list[str]:
    """Temporary download files (not resumable state) below ``folder``."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(f"{TEMP_MARK}*"))


# The long-lived service: threads of managers.


@dataclass
class KeyState:
    """What a key may hold: versions an upload of it may have stored, and
    ABSENT while it may be missing."""

    possible: set[int] = field(default_factory=lambda: {ABSENT})
    size: int = 0
    next_version: int = 1

    def stable(self) -> int | None:
        """The one version the key must hold, if there is exactly one."""
        if len(self.possible) == 1 and ABSENT not in self.possible:
            return next(iter(self.possible))
        return None


@dataclass
class Tally:
    ops: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    cancels: int = 0
    bytes: int = 0
    violations: list[str] = field(default_factory=list)


class Service:
    """Managers (both planes, straight and through fault proxies, sync and
    async faces) shared by ``threads`` threads doing random operations on
    keys of their own, each checked as it returns: a download is exact, a
    failure is one a fault explains, a cancelled or failed download leaves
    no temporary file."""

    def __init__(self, routes: list[Route], root: Path, threads: int, seed: int) -> None:
        self.routes = routes
        self.root = root
        self.threads = threads
        self.seed = seed
        self.lock = threading.Lock()
        #: Straight to a server: one manager per server and plane, kept for
        #: the whole soak (a long-lived service's managers).
        self.lasting: dict[tuple[str, str], CDNManager] = {}
        #: Through a fault proxy: made during a cycle, closed at its end.
        self.per_cycle: dict[tuple[str, str], CDNManager] = {}

    def manager(self, route: Route, plane: str) -> CDNManager:
        pool = self.per_cycle if route.faulty else self.lasting
        with self.lock:
            made = pool.get((route.name, plane))
            if made is None:
                made = CDNManager(route.credentials(), soak_config(plane, route.faulty))
                pool[(route.name, plane)] = made
            return made

    def run_cycle(self, cycle: int, prefix: str, stop: threading.Event) -> dict[str, Any]:
        tallies = [Tally() for _ in range(self.threads)]
        ledgers: list[dict[tuple[str, str], KeyState]] = [{} for _ in range(self.threads)]
        workers = [
            threading.Thread(
                target=self._thread,
                args=(n, cycle, f"{prefix}/t{n}", stop, tallies[n], ledgers[n]),
                name=f"soak-{n}",
            )
            for n in range(self.threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        closing = Tally()
        with self.lock:
            made, self.per_cycle = list(self.per_cycle.values()), {}
        for manager in made:
            try:
                manager.close()
            except Exception as err:
                closing.violations.append(f"close(): {type(err).__name__}: {err}")
        gc.collect()
        total = Tally()
        for tally in [*tallies, closing]:
            total.ops.update(tally.ops)
            total.failures.update(tally.failures)
            total.cancels += tally.cancels
            total.bytes += tally.bytes
            total.violations += tally.violations
        ledger = {
            f"{server}\0{key}": sorted(state.possible)
            for one in ledgers
            for (server, key), state in one.items()
        }
        return {
            "ops": dict(total.ops),
            "failures": dict(total.failures),
            "cancels": total.cancels,
            "bytes": total.bytes,
            "violations": total.violations,
            "ledger": ledger,
            # What a leak of Python objects or threads would show, beside RSS.
            "objects": len(gc.get_objects()),
            "blocks": sys.getallocatedblocks(),
            "threads": threading.active_count(),
        }

    def _thread(
        self,
        n: int,
        cycle: int,
        prefix: str,
        stop: threading.Event,
        tally: Tally,
        ledger: dict[tuple[str, str], KeyState],
    ) -> None:
        rng = random.Random(hashlib.sha256(f"{self.seed}/{cycle}/{n}".encode()).digest())
        ops = Ops(self, rng, prefix, self.root / f"c{cycle}" / f"t{n}", tally, ledger)
        while not stop.is_set():
            try:
                ops.one()
            except Exception:
                tally.violations.append(
                    f"thread {n}: the soak itself broke:\n{traceback.format_exc()}"
                )
                return


class Ops:
    """One service thread's operations."""

    def __init__(
        self,
        service: Service,
        rng: random.Random,
        prefix: str,
        folder: Path,
        tally: Tally,
        ledger: dict[tuple[str, str], KeyState],
    ) -> None:
        self.service = service
        self.rng = rng
        self.prefix = prefix
        self.folder = folder
        self.tally = tally
        self.ledger = ledger
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)

    # Choices.

    def size(self) -> int:
        roll = self.rng.random()
        if roll < 0.75:
            return self.rng.randint(blobs.MIN_SIZE, 64 * 1024)
        if roll < 0.93:
            return self.rng.randint(1 * MiB, 5 * MiB)
        return self.rng.randint(7 * MiB, 16 * MiB)

    def pick(self) -> tuple[Route, str]:
        return self.rng.choice(self.service.routes), self.rng.choice(["native", "boto3"])

    def new_key(self, what: str) -> str:
        self.count += 1
        return f"{self.prefix}/{self.count:05}-{what}"

    def stable_keys(self, server: str) -> list[tuple[str, KeyState, int]]:
        found = []
        for (where, key), state in self.ledger.items():
            version = state.stable()
            if where == server and version is not None:
                found.append((key, state, version))
        return found

    def violation(self, text: str) -> None:
        self.tally.violations.append(f"{self.prefix}: {text}")

    # Outcomes.

    def attempt(self, route: Route, what: str, call: Callable[[], Any]) -> tuple[str, Any]:
        """("ok", value), ("failed", error) or ("cancelled", None); a failure
        no fault explains is a violation."""
        self.tally.ops[what] += 1
        try:
            return "ok", call()
        except asyncio.CancelledError:
            self.tally.cancels += 1
            return "cancelled", None
        except CDNError as err:
            name = type(err).__name__
            self.tally.failures[name] += 1
            if not route.faulty or name not in FAULT_OUTCOMES:
                self.violation(f"{what} via {route.name}: {name}: {err}")
            return "failed", err
        except Exception as err:
            self.violation(f"{what} via {route.name}: unexpected {type(err).__name__}: {err}")
            return "failed", err

    def maybe_async(
        self, manager: CDNManager, call: Callable[[AsyncCDNManager], Coroutine[Any, Any, Any]]
    ) -> Callable[[], Any]:
        """The call through an ``AsyncCDNManager`` wrapping ``manager``, the
        task cancelled after a random delay (raising CancelledError if it
        was cancelled before it ended)."""
        patience = self.rng.choice([0.0, 0.05, 0.2, 0.5, 1.0, 30.0])

        async def run() -> Any:
            face = AsyncCDNManager(manager)
            try:
                task = asyncio.ensure_future(call(face))
                done, _ = await asyncio.wait({task}, timeout=patience)
                if not done:
                    task.cancel()
                return await task
            finally:
                await face.aclose()

        return lambda: asyncio.run(run())

    def via(self, manager: CDNManager, call: Callable[[Any], Any]) -> Callable[[], Any]:
        """The call on the sync face, or (one time in three) the async one
        with a random cancel."""
        if self.rng.random() < 1 / 3:

            async def on_async(face: AsyncCDNManager) -> Any:
                return await call(face)

            return self.maybe_async(manager, on_async)
        return lambda: call(manager)

    def no_temp_files(self, what: str, outcome: str) -> None:
        left = temp_files(self.folder)
        if left:
            self.violation(f"{what} {outcome}, temporary files left: {left}")

    def check_file(self, path: Path, key: str, version: int, what: str) -> None:
        found = blobs.check_file(path, key)
        if found.problem or found.version != version:
            self.violation(
                f"{what} of {key} wrote {path} that is not version {version}: "
                f"{found.problem or f'version {found.version}'}"
            )

    def check_bytes(self, data: bytes, key: str, version: int, what: str) -> None:
        found = blobs.check(data, key)
        if found.problem or found.version != version:
            self.violation(
                f"{what} of {key} returned bytes that are not version {version}: "
                f"{found.problem or f'version {found.version}'}"
            )

    # Operations.

    def one(self) -> None:
        route, plane = self.pick()
        manager = self.service.manager(route, plane)
        roll = self.rng.random()
        stable = self.stable_keys(route.server)
        if roll < 0.30 or not stable:
            self.put(route, manager)
        elif roll < 0.38:
            self.upload_file(route, manager)
        elif roll < 0.45:
            self.upload_many(route, manager)
        elif roll < 0.52:
            self.put(route, manager, overwrite=self.rng.choice(stable))
        elif roll < 0.64:
            self.download_bytes(route, manager, self.rng.choice(stable))
        elif roll < 0.80:
            self.download_file(route, manager, self.rng.choice(stable))
        elif roll < 0.87:
            self.download_many(route, manager, self.rng.sample(stable, min(len(stable), 6)))
        elif roll < 0.93:
            self.listing(route, manager)
        elif roll < 0.97:
            self.stat(route, manager, self.rng.choice(stable))
        else:
            self.delete(route, manager, self.rng.choice(stable))

    def _state(self, route: Route, key: str) -> KeyState:
        return self.ledger.setdefault((route.server, key), KeyState())

    def put(
        self,
        route: Route,
        manager: CDNManager,
        overwrite: tuple[str, KeyState, int] | None = None,
    ) -> None:
        key = overwrite[0] if overwrite else self.new_key("put")
        state = self._state(route, key)
        version = state.next_version
        state.next_version += 1
        data = blobs.make(key, self.size(), version)
        state.size = len(data)
        # bytes are sent in place; a bytearray or memoryview of one is copied
        # part by part (another thread could change it).
        payload: bytes | bytearray | memoryview = self.rng.choice(
            [data, bytearray(data), memoryview(data), memoryview(bytearray(data))]
        )
        state.possible.add(version)
        if self.rng.random() < 0.1:
            outcome, value = self.attempt(
                route, "upload (bool)", lambda: manager.upload(route.bucket, key, bytes(payload))
            )
            if outcome == "ok" and not value and not route.faulty:
                self.violation(f"upload (bool) of {key} straight to {route.server} said False")
            ok = outcome == "ok" and value is True
        else:
            outcome, _ = self.attempt(
                route,
                "put_bytes",
                self.via(manager, lambda m: m.put_bytes(route.bucket, key, payload)),
            )
            ok = outcome == "ok"
        if ok:
            state.possible = {version}
            self.tally.bytes += len(data)

    def upload_file(self, route: Route, manager: CDNManager) -> None:
        key = self.new_key("file")
        state = self._state(route, key)
        size = self.rng.choice([self.size(), self.rng.randint(7 * MiB, 16 * MiB)])
        source = self.folder.parent / f"src-{self.folder.name}" / key
        state.size = blobs.write(source, key, size)
        state.possible.add(1)
        state.next_version = 2
        outcome, _ = self.attempt(
            route,
            "upload_file",
            self.via(manager, lambda m: m.upload_file(route.bucket, key, source)),
        )
        if outcome == "ok":
            state.possible = {1}
            self.tally.bytes += state.size
        if blobs.check_file(source, key).problem:
            self.violation(f"upload_file of {key} changed its source file")

    def upload_many(self, route: Route, manager: CDNManager) -> None:
        items: list[tuple[str, bytes | Path]] = []
        for _ in range(self.rng.randint(2, 8)):
            key = self.new_key("many")
            state = self._state(route, key)
            data = blobs.make(key, self.rng.randint(blobs.MIN_SIZE, 200 * 1024))
            state.size, state.next_version = len(data), 2
            state.possible.add(1)
            if self.rng.random() < 0.5:
                items.append((key, data))
            else:
                path = self.folder.parent / f"src-{self.folder.name}" / key
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                items.append((key, path))
        outcome, results = self.attempt(
            route, "upload_many", self.via(manager, lambda m: m.upload_many(route.bucket, items))
        )
        if outcome != "ok":
            return
        for result in results:
            if result.ok:
                self.ledger[(route.server, result.key)].possible = {1}
                self.tally.bytes += self.ledger[(route.server, result.key)].size
            else:
                self.failed_item(route, "upload_many", result)

    def failed_item(self, route: Route, what: str, result: TransferResult) -> None:
        name = type(result.error).__name__
        self.tally.failures[name] += 1
        if not route.faulty or name not in FAULT_OUTCOMES:
            self.violation(f"{what} item {result.key} via {route.name}: {name}: {result.error}")

    def download_bytes(
        self, route: Route, manager: CDNManager, chosen: tuple[str, KeyState, int]
    ) -> None:
        key, _, version = chosen
        outcome, data = self.attempt(
            route,
            "download_bytes",
            self.via(manager, lambda m: m.download_bytes(route.bucket, key)),
        )
        if outcome == "ok":
            self.check_bytes(data, key, version, "download_bytes")
            self.tally.bytes += len(data)

    def download_file(
        self, route: Route, manager: CDNManager, chosen: tuple[str, KeyState, int]
    ) -> None:
        key, state, version = chosen
        use_get = self.rng.random() < 0.4
        if use_get:
            what = "get_file"
            call = self.via(manager, lambda m: m.get_file(route.bucket, key, self.folder))
        else:
            what = "download_file"
            path = self.folder / key
            call = self.via(manager, lambda m: m.download_file(route.bucket, key, path))
        outcome, path = self.attempt(route, what, call)
        if outcome == "ok":
            self.check_file(Path(path), key, version, what)
            self.tally.bytes += state.size
        else:
            self.no_temp_files(what, outcome)

    def download_many(
        self, route: Route, manager: CDNManager, chosen: list[tuple[str, KeyState, int]]
    ) -> None:
        keys = [key for key, _, _ in chosen]
        sizes = {key: state.size for key, state, _ in chosen} if self.rng.random() < 0.5 else None
        outcome, results = self.attempt(
            route,
            "download_many",
            self.via(
                manager, lambda m: m.download_many(route.bucket, keys, self.folder, sizes=sizes)
            ),
        )
        if outcome != "ok":
            self.no_temp_files("download_many", outcome)
            return
        for (key, state, version), result in zip(chosen, results, strict=True):
            if result.ok:
                self.check_file(self.folder / key, key, version, "download_many")
                self.tally.bytes += state.size
            else:
                self.failed_item(route, "download_many", result)
        self.no_temp_files("download_many", "returned")

    def listing(self, route: Route, manager: CDNManager) -> None:
        outcome, listed = self.attempt(
            route,
            "list",
            lambda: {i.key: i.size for i in manager.list(route.bucket, self.prefix + "/")},
        )
        if outcome != "ok":
            return
        for (server, key), state in self.ledger.items():
            if server != route.server:
                continue
            if ABSENT not in state.possible and key not in listed:
                self.violation(f"list of {self.prefix} on {server} misses {key}")
            if key in listed and state.possible == {ABSENT}:
                self.violation(f"list of {self.prefix} on {server} shows deleted {key}")
        mine = {key for (server, key) in self.ledger if server == route.server}
        strangers = sorted(set(listed) - mine)
        if strangers:
            self.violation(f"list of {self.prefix} on {route.server} shows unknown {strangers[:3]}")

    def stat(self, route: Route, manager: CDNManager, chosen: tuple[str, KeyState, int]) -> None:
        key, state, _ = chosen
        outcome, info = self.attempt(route, "stat", lambda: manager.stat(route.bucket, key))
        if outcome == "ok" and info.size != state.size:
            self.violation(f"stat of {key}: size {info.size}, stored {state.size}")

    def delete(self, route: Route, manager: CDNManager, chosen: tuple[str, KeyState, int]) -> None:
        key, state, _ = chosen
        state.possible.add(ABSENT)
        outcome, _ = self.attempt(route, "delete", lambda: manager.delete(route.bucket, key))
        if outcome == "ok":
            state.possible = {ABSENT}
            outcome, there = self.attempt(
                route, "exists", lambda: manager.exists(route.bucket, key)
            )
            if outcome == "ok" and there:
                self.violation(f"{key} still exists after delete")


def service_main(
    conn: Connection, routes: list[Route], root: Path, threads: int, seed: int
) -> None:
    """The long-lived service: runs a cycle each time it is told to, until
    told to stop; answers each with its report (and ends with its own)."""
    child_setup(root / "service", "service")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator's Ctrl-C is its own
    service = Service(routes, root / "service", threads, seed)
    while True:
        message = conn.recv()
        if message[0] == "quit":
            break
        _, cycle, prefix = message
        stop = threading.Event()
        reports: list[dict[str, Any]] = []

        def run(
            cycle: int = cycle,
            prefix: str = prefix,
            stop: threading.Event = stop,
            reports: list[dict[str, Any]] = reports,
        ) -> None:
            reports.append(service.run_cycle(cycle, prefix, stop))

        runner = threading.Thread(target=run, name="soak-cycle")
        runner.start()
        conn.recv()  # ("stop",)
        stop.set()
        runner.join()
        conn.send(reports[0])
    for manager in service.lasting.values():
        manager.close()
    conn.send({"closed": True})


# Batch workers: interrupted (SIGINT, SIGTERM) or killed (SIGKILL), then run again.


@dataclass(frozen=True)
class Job:
    """A batch a worker process runs, and runs again after it was stopped."""

    kind: str  # upload_many, upload_file, download_many, download_file
    plane: str
    route: Route
    #: (key, size): the files to upload (under ``source``) or the objects
    #: to download (into ``folder``).
    items: tuple[tuple[str, int], ...]
    source: Path
    folder: Path
    name: str


def batch_main(job: Job, moved: Any, result: Path) -> None:
    """Runs ``job`` once and writes what it did to ``result`` as JSON:
    ``outcome`` (finished, interrupted), the keys ``ok`` and ``failed``, the
    ``completed`` keys an interrupt reported, and ``resumed`` bytes. Exit 0
    when it ran to its end, 130 when interrupted (SIGINT, or SIGTERM taken
    as Ctrl-C as the command line takes it)."""
    child_setup(job.folder.parent / f"{job.name}-run", job.name)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if job.kind == "crash":
        crash()

    def progress(n: int) -> None:
        with moved.get_lock():
            moved.value += n

    bucket = job.route.bucket
    report: dict[str, Any] = {"outcome": "finished", "ok": [], "failed": [], "completed": None}
    results: list[TransferResult] = []
    code = 0
    try:
        manager = CDNManager(job.route.credentials(), soak_config(job.plane, job.route.faulty))
        try:
            if job.kind == "upload_many":
                items = [(key, job.source / key) for key, _ in job.items]
                results = manager.upload_many(bucket, items, progress=progress)
            elif job.kind == "download_many":
                keys = [key for key, _ in job.items]
                results = manager.download_many(
                    bucket, keys, job.folder, sizes=dict(job.items), progress=progress
                )
            else:
                for key, _ in job.items:
                    try:
                        if job.kind == "upload_file":
                            done = manager.upload_file(
                                bucket, key, job.source / key, progress=progress
                            )
                            results.append(done)
                        else:
                            manager.download_file(bucket, key, job.folder / key, progress=progress)
                            results.append(TransferResult(key))
                    except CDNError as err:
                        results.append(TransferResult(key, err))
        finally:
            manager.close()
        # A signal landing from here on finds the batch over: it is ignored.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    except Interrupted as err:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        report.update(outcome="interrupted", completed=[r.key for r in err.completed])
        code = 130
    except KeyboardInterrupt:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        report.update(outcome="interrupted", completed=[r.key for r in results if r.ok])
        code = 130
    report["ok"] = [r.key for r in results if r.ok]
    report["failed"] = [
        (r.key, f"{type(r.error).__name__}: {r.error}") for r in results if not r.ok
    ]
    report["resumed"] = sum(getattr(r, "resumed_bytes", 0) or 0 for r in results)
    result.write_text(json.dumps(report))
    sys.stderr.flush()
    os._exit(code)


# Dask tasks.


def shard_of(key: str, shards: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % shards + 1


def dask_push(
    manager: CDNManager, folder: str, bucket: str, prefix: str, shard: tuple[int, int]
) -> dict[str, Any]:
    """A Dask task: deploys shard ``(K, N)`` of ``folder`` to ``bucket/prefix``."""
    plan = manager.plan_deploy(folder, bucket, prefix, shard=shard)
    report = manager.deploy(plan)
    return {
        "pid": os.getpid(),
        "uploaded": len(report.uploaded),
        "failed": [(key, f"{type(err).__name__}: {err}") for key, err in report.failed],
        "ok": report.ok,
    }


def dask_pull(manager: CDNManager, bucket: str, keys: list[str], folder: str) -> dict[str, Any]:
    """A Dask task: downloads ``keys`` into ``folder``."""
    results = manager.download_many(bucket, keys, folder)
    return {
        "pid": os.getpid(),
        "ok": [r.key for r in results if r.ok],
        "failed": [(r.key, f"{type(r.error).__name__}: {r.error}") for r in results if not r.ok],
    }


def dask_worker_setup(dask_worker: Any = None) -> int:
    """Run on each Dask worker: core dumps allowed, faulthandler on every
    thread; its pid."""
    faulthandler.enable(all_threads=True)
    with contextlib.suppress(ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    return os.getpid()


def crash() -> None:
    """Dies of SIGSEGV in native code (``--plant``: the soak must notice)."""
    import ctypes

    manager = CDNManager(CDNCredentials("http://127.0.0.1:1", "k", "s", "k", "s"))
    try:
        ctypes.string_at(0)
    finally:
        manager.close()


def wait_for(condition: Callable[[], bool], timeout: float, pause: float = 0.02) -> bool:
    """Polls ``condition`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)
    return True


@contextlib.contextmanager
def elapsed() -> Iterator[Callable[[], float]]:
    start = time.monotonic()
    yield lambda: time.monotonic() - start
