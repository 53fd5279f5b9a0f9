"""Start-up time of the ``cdn-manager`` command (issue 31: "start quickly").

    make bench-startup                       # --version and ls, 20 runs each
    .venv/bin/python benchmarks/startup.py --runs 20 --warmup 2 --out startup.json

Starts the embedded server (``cdn-manager local-server``, as a user trying
the tool would) in a temporary folder, stores one small object under
``cdn-demo/a/``, then runs each command as users run it: the console script
beside this Python (``--cli`` names another), a new process every time,
its output thrown away, in the folder whose ``cdn.yaml`` the server wrote.
The commands are interleaved run by run (a change in the machine's load
touches them all alike); the first ``--warmup`` rounds are not counted.

For each command it prints the median, min and max of the wall time (from
starting the process to reaping it) and the median CPU time of that process
(user + sys, from ``os.wait4``): on a shared machine the CPU time is the
figure the load disturbs least. ``python -c pass`` (the same Python
starting and doing nothing) is timed beside them: the floor no change to
the package can go below. The load average is printed before and after.
A run that exits non-zero stops the benchmark: a fast failure is not a
fast start. It runs in the tests' virtualenv (the server needs moto).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: The commands timed, by name: the two that must start quickly.
COMMANDS = {
    "--version": ["--version"],
    "ls": ["ls", "cdn-demo/a"],
}
#: The floor: the same Python starting and doing nothing (its site, .pth
#: files and all), timed beside the commands.
FLOOR = "python -c pass"
#: Variables that would make the command read another configuration than
#: the server's, or (PYTHONDONTWRITEBYTECODE) compile every module from
#: source on every run: an installed package has its bytecode (pip compiles
#: it), and here the warm-up runs write it.
LEFT_OUT = ("CDN_MANAGER_CONFIG", "PYTHONDONTWRITEBYTECODE")


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in LEFT_OUT}


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Runs ``command`` once: (wall seconds, CPU seconds of the process)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def _summary(times: list[tuple[float, float]]) -> dict[str, float]:
    walls = [wall * 1000 for wall, _ in times]
    cpus = [cpu * 1000 for _, cpu in times]
    return {
        "wall_ms_median": round(statistics.median(walls), 1),
        "wall_ms_min": round(min(walls), 1),
        "wall_ms_max": round(max(walls), 1),
        "cpu_ms_median": round(statistics.median(cpus), 1),
    }


def _start_server(cli: str, folder: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [cli, "local-server", "--json"],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line:
        server.wait()
        raise SystemExit(f"{cli} local-server exited {server.returncode} before it was ready")
    json.loads(line)  # the ready document: cdn.yaml is written
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="counted runs per command")
    parser.add_argument("--warmup", type=int, default=2, help="runs per command not counted")
    parser.add_argument(
        "--cli",
        default=str(Path(sys.executable).with_name("cdn-manager")),
        help="the command to time (default: the console script beside this Python)",
    )
    parser.add_argument("--out", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()

    env = _environment()
    with tempfile.TemporaryDirectory(prefix="cdn-startup-") as temp:
        folder = Path(temp)
        server = _start_server(args.cli, folder, env)
        try:
            (folder / "b.txt").write_bytes(b"a small object\n")
            _run([args.cli, "upload", "cdn-demo", "a/b.txt", "b.txt"], folder, env)
            load_before = os.getloadavg()
            commands = {name: [args.cli, *words] for name, words in COMMANDS.items()}
            commands[FLOOR] = [sys.executable, "-c", "pass"]
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
            for round_ in range(args.warmup + args.runs):
                for name, command in commands.items():
                    measured = _run(command, folder, env)
                    if round_ >= args.warmup:
                        times[name].append(measured)
            load_after = os.getloadavg()
        finally:
            server.send_signal(signal.SIGINT)
            server.communicate(timeout=30)

    results: dict[str, Any] = {
        "cli": args.cli,
        "runs": args.runs,
        "warmup": args.warmup,
        "machine": {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load average before": [round(x, 2) for x in load_before],
            "load average after": [round(x, 2) for x in load_after],
        },
        "commands": {name: _summary(measured) for name, measured in times.items()},
    }
    print(f"{args.runs} runs per command after {args.warmup} warm-up runs, {args.cli}")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(f"{'command':<16}{'wall ms (median)':>18}{'min':>8}{'max':>8}{'CPU ms (median)':>18}")
    for name, row in results["commands"].items():
        print(
            f"{name:<16}{row['wall_ms_median']:>18.1f}{row['wall_ms_min']:>8.1f}"
            f"{row['wall_ms_max']:>8.1f}{row['cpu_ms_median']:>18.1f}"
        )
    print(f"load average after  {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
