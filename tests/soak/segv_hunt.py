"""The Dask worker's SIGSEGV (issue 28), hunted apart from the soak.

A Dask worker samples the stack of every thread running a task, every
``distributed.worker.profile.interval`` (10 ms): ``sys._current_frames()``
on its event-loop thread, then ``frame.f_back`` up each stack
(``distributed/profile.py``). Thread-sampling profilers doing the same on
CPython 3.11 are known to crash it (sentry-python #2386 and #6119, ddtrace
#13567, cpython #111363; distributed #8163 saw a frame whose ``f_code`` was
a builtin). This script runs, in processes of its own for a fixed time,
what a worker's task threads do during a push on the boto3 plane, with and
without that sampler, with and without cdn-manager's Rust core:

    python tests/soak/segv_hunt.py --mode sampled-boto3 --seconds 600
    python tests/soak/segv_hunt.py --mode sampled-cdn-boto3 --seconds 600
    python tests/soak/segv_hunt.py --mode cdn-boto3 --seconds 600   # no sampler

and reports how many processes died of which signal (faulthandler stacks
and a gdb backtrace of each core under --out).

Modes:
- ``sampled-boto3``: no cdn_manager import at all; 8 threads of plain boto3
  PUT/GET/HEAD against s3s-fs, one thread sampling them with Dask's own
  ``profile.process`` every ``--interval`` seconds.
- ``sampled-cdn-boto3``: the same threads through a ``CDNManager`` on the
  boto3 plane (its Rust core loaded and used), sampled likewise.
- ``cdn-boto3``: the cdn-manager threads without the sampler.
- ``dask``: the real thing: a LocalCluster (4 workers, profile interval
  ``--interval``) pushing a tree of small files as 4 shards on the boto3
  plane, again and again; deaths counted from the nannies' log.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import servers  # noqa: E402

MiB = 1024 * 1024


def sampler(threads: list[threading.Thread], interval: float, stop: threading.Event) -> None:
    """What a Dask worker's event loop does every profile interval."""
    from distributed import profile

    state = profile.create()
    while not stop.is_set():
        idents = {t.ident for t in threads if t.ident is not None}
        frames = sys._current_frames()
        for ident in idents:
            frame = frames.get(ident)
            if frame is not None:
                profile.process(frame, True, state, stop="threading.py")
        del frames
        time.sleep(interval)


def churn(mode: str, endpoint: str, keys: tuple[str, str], n: int, stop: threading.Event) -> None:
    """One task thread: small PUTs, GETs and HEADs, as a push's HEADs and
    uploads of small files are."""
    rng = random.Random(n)
    # Keys of this thread of this process only: two writers of one key
    # would read each other's objects.
    mine = f"hunt/{os.getpid()}-{n}"
    if mode.endswith("cdn-boto3"):
        from cdn_manager import CDNCredentials, CDNManager, TransferConfig

        manager = CDNManager(
            CDNCredentials(endpoint, *keys, *keys),
            TransferConfig(data_plane="boto3", proxies={}, max_in_flight=4, concurrency=2),
        )
        try:
            while not stop.is_set():
                key = f"{mine}/{rng.randrange(200)}"
                data = rng.randbytes(rng.randrange(1, 4096))
                manager.put_bytes(servers.BUCKET, key, data)
                if manager.download_bytes(servers.BUCKET, key) != data:
                    raise AssertionError(f"{key} came back different")
                manager.stat(servers.BUCKET, key)
                results = manager.upload_many(
                    servers.BUCKET, [(f"{key}-{i}", data) for i in range(4)]
                )
                assert all(r.ok for r in results), results
        finally:
            manager.close()
        return
    client = servers.admin_client(endpoint, *keys, "us-east-1")
    while not stop.is_set():
        key = f"{mine}/{rng.randrange(200)}"
        data = rng.randbytes(rng.randrange(1, 4096))
        client.put_object(Bucket=servers.BUCKET, Key=key, Body=data)
        if client.get_object(Bucket=servers.BUCKET, Key=key)["Body"].read() != data:
            raise AssertionError(f"{key} came back different")
        client.head_object(Bucket=servers.BUCKET, Key=key)


def one_process(
    mode: str, endpoint: str, keys: tuple[str, str], seconds: float, interval: float, folder: str
) -> None:
    os.chdir(folder)
    err = os.open("stderr", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(err, 2)
    faulthandler.enable(all_threads=True)
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    stop = threading.Event()
    broke: list[str] = []
    # A churn thread that raises is the hunt's own failure: exit 4, not 0.
    threading.excepthook = lambda hook: broke.append(f"{hook.exc_type.__name__}: {hook.exc_value}")
    workers = [
        threading.Thread(target=churn, args=(mode, endpoint, keys, n, stop), daemon=True)
        for n in range(8)
    ]
    for worker in workers:
        worker.start()
    if mode.startswith("sampled"):
        threading.Thread(target=sampler, args=(workers, interval, stop), daemon=True).start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and all(w.is_alive() for w in workers):
        time.sleep(0.5)
    stop.set()
    for worker in workers:
        worker.join(60)
    sys.stderr.write("".join(f"thread failed: {b}\n" for b in broke))
    sys.stderr.flush()
    os._exit(4 if broke else 0 if all(not w.is_alive() for w in workers) else 3)


def dask_rounds(
    endpoint: str, keys: tuple[str, str], seconds: float, interval: float, out: Path
) -> tuple[int, list[str]]:
    import dask
    import workload
    from dask.distributed import Client, LocalCluster

    from cdn_manager import CDNCredentials, CDNManager, TransferConfig

    deaths: list[str] = []

    class Deaths(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "was killed by" in record.getMessage():
                deaths.append(record.getMessage())

    nanny = logging.getLogger("distributed.nanny")
    nanny.setLevel(logging.INFO)
    nanny.addHandler(Deaths())
    tree = out / "tree"
    rng = random.Random(1)
    for i in range(2000):
        path = tree / f"d{i % 23}" / f"{i % 7}" / f"f{i:05}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randrange(1, 4096)))
    manager = CDNManager(
        CDNCredentials(endpoint, *keys, *keys), TransferConfig(data_plane="boto3", proxies={})
    )
    rounds = 0
    dask.config.set(
        {
            "distributed.scheduler.allowed-failures": 100,
            "distributed.worker.profile.interval": f"{interval * 1000:g}ms",
        }
    )
    with (
        LocalCluster(
            n_workers=4, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        deadline = time.monotonic() + seconds
        [remote] = client.scatter([manager], broadcast=True)
        while time.monotonic() < deadline:
            prefix = f"round{rounds}"
            futures = [
                client.submit(
                    workload.dask_push,
                    remote,
                    str(tree),
                    servers.BUCKET,
                    prefix,
                    (k, 4),
                    pure=False,
                )
                for k in range(1, 5)
            ]
            for future in futures:
                report = future.result()
                assert report["ok"], report["failed"][:3]
            rounds += 1
            print(f"round {rounds}: pushed 2000 files, {len(deaths)} deaths so far", flush=True)
    manager.close()
    return rounds, deaths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mode", required=True, choices=["sampled-boto3", "sampled-cdn-boto3", "cdn-boto3", "dask"]
    )
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--interval", type=float, default=0.001, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = (args.out or Path(tempfile.mkdtemp(prefix="segv-hunt-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    os.environ["PYTHONFAULTHANDLER"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), str(HERE.parent)])
    server = servers.start_s3s(out / "s3s-fs")
    started = time.monotonic()
    runs = 0
    deaths: list[str] = []
    try:
        if args.mode == "dask":
            os.chdir(out)
            runs, deaths = dask_rounds(
                server.endpoint, server.writer, args.seconds, args.interval, out
            )
        else:
            ctx = multiprocessing.get_context("spawn")
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                batch = []
                for n in range(args.processes):
                    folder = out / f"run{runs}-{n}"
                    folder.mkdir()
                    process = ctx.Process(
                        target=one_process,
                        args=(
                            args.mode,
                            server.endpoint,
                            server.writer,
                            min(120.0, deadline - time.monotonic()),
                            args.interval,
                            str(folder),
                        ),
                    )
                    process.start()
                    batch.append((process, folder))
                for process, folder in batch:
                    process.join()
                    if process.exitcode != 0:
                        deaths.append(f"{folder}: exit {process.exitcode}")
                        print(f"{folder}: exit {process.exitcode}", flush=True)
                        print((folder / "stderr").read_text(errors="replace")[-4000:], flush=True)
                        for core in folder.glob("core*"):
                            import soak

                            print(soak.backtrace(core), flush=True)
                runs += 1
    finally:
        server.stop()
    minutes = (time.monotonic() - started) / 60
    unit = "rounds" if args.mode == "dask" else f"batches of {args.processes} processes"
    print(f"{args.mode}: {runs} {unit} in {minutes:.1f} min, {len(deaths)} deaths: {deaths[:5]}")
    return 1 if deaths else 0


if __name__ == "__main__":
    sys.exit(main())
