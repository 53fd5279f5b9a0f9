"""One measurement in its own process: ``python runner.py < spec.json``.

The spec names a client (or limit probe), a workload and the server. The
client is built and its input loaded first; then the baseline RSS is taken
and only the workload itself is timed, with the CPU time of this process
and of any process it starts (s5cmd, curl). Downloads are checked (size and
CRC-32 of every byte) after the clock stops; the tree workloads (W5-W8) by
the bench, which sees the server's files. Prints one JSON object.
"""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import time
import traceback
import zlib
from pathlib import Path
from typing import Any

from clients import (
    CLIENTS,
    Client,
    Job,
    Unavailable,
    boto3_native_crt_probe,
    status_mib,
)
from limits import PROBES
from syncers import TREE_CLIENTS, TREE_WORKLOADS

MiB = 1024 * 1024
READ_CHUNK = 8 * MiB


def crc_of_files(paths: list[Path], size: int) -> tuple[int, str | None]:
    """CRC-32 over the files' bytes in order, or a reason they are wrong."""
    crc = 0
    buffer = bytearray(READ_CHUNK)
    view = memoryview(buffer)
    for path in paths:
        if not path.is_file():
            return 0, f"{path.name} is missing"
        if path.stat().st_size != size:
            return 0, f"{path.name} has {path.stat().st_size} bytes, not {size}"
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buffer):
                crc = zlib.crc32(view[:n], crc)
    return crc, None


def verify(job: Job, method: str, expect: dict[str, Any]) -> str | None:
    """None if the downloaded files hold exactly the expected bytes."""
    if method == "w1":
        paths, size, crc = [job.dest(job.big_key)], job.big_size, expect["big_crc"]
    elif method == "w3":
        paths, size, crc = (
            [job.dest(k) for k in job.small_keys],
            job.small_size,
            expect["small_crc"],
        )
    else:
        return None
    got, problem = crc_of_files(paths, size)
    if problem is None and got != crc:
        problem = f"CRC-32 {got:08x} differs from the stored bytes' {crc:08x}"
    return problem


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def reset_peak_rss() -> None:
    """Sets this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0).

    ru_maxrss cannot serve: a process started from a large one inherits the
    starter's size across exec, and it never goes down after setup."""
    Path("/proc/self/clear_refs").write_text("5")


def load_payload(job: Job, cls: type[Client], method: str) -> bytes:
    if method not in ("w2", "w4") and not getattr(cls, "needs_payload", False):
        return b""
    with open(job.payload_path, "rb") as f:
        return f.read(job.big_size)


def measure(job: Job, expect: dict[str, Any]) -> dict[str, Any]:
    tree = job.workload in TREE_WORKLOADS
    cls = TREE_CLIENTS[job.client] if tree else {**CLIENTS, **PROBES}[job.client]
    method = Client.method_name(job.workload)
    client = cls(job)
    payload = load_payload(job, cls, method)
    prepare = getattr(client, f"prepare_{method}", None)
    if prepare is not None:
        prepare(payload)
    gc.collect()
    baseline = status_mib("VmRSS")
    reset_peak_rss()
    self0, children0 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    getattr(client, method)(payload)
    seconds = time.perf_counter() - start
    cpu_self = cpu(resource.RUSAGE_SELF) - self0
    cpu_children = cpu(resource.RUSAGE_CHILDREN) - children0
    peak = status_mib("VmHWM")
    child_peak = getattr(client, "child_peak_mib", 0.0)
    if child_peak:
        # A tool in its own process (s5cmd): its peak comes on top of this
        # interpreter's, which only hands it the work.
        peak = max(peak, baseline + child_peak)
    result: dict[str, Any] = {
        "seconds": seconds,
        "cpu_s": cpu_self + cpu_children,
        "cpu_children_s": cpu_children,
        "baseline_rss_mib": baseline,
        "peak_rss_mib": peak,
        "rss_over_baseline_mib": peak - baseline,
    }
    evidence = getattr(client, "evidence", None)
    if evidence is not None:
        result["evidence"] = evidence()
    problem = verify(job, method, expect) if job.client in CLIENTS and not tree else None
    if problem is not None:
        result["error"] = f"wrong bytes: {problem}"
    return result


def describe(err: BaseException) -> str:
    """An error in one line, without command lines (they carry presigned URLs)."""
    if isinstance(err, subprocess.CalledProcessError):
        return f"{Path(str(err.cmd[0])).name} exited with {err.returncode}"
    return f"{type(err).__name__}: {err}"[:600]


def main() -> None:
    spec = json.load(sys.stdin)
    job = Job(**spec["job"])
    if spec.get("probe") == "boto3-native-crt":
        print(json.dumps(boto3_native_crt_probe(job)))
        return
    try:
        result = measure(job, spec["expect"])
    except Unavailable as err:
        result = {"unavailable": str(err)}
    except Exception as err:
        traceback.print_exc(file=sys.stderr)
        result = {"error": describe(err)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
