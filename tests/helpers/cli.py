"""Running the ``cdn-manager`` command in tests as users run it: a
subprocess (or one on a pseudo-terminal) with a clean environment, and the
small helpers the command-line tests share."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdn_manager import CDNCredentials

from conftest import Server, files_under

CLI = Path(sys.executable).with_name("cdn-manager")
#: What the log says when a manager moves to the boto3 plane.
FALLBACK_NOTICE = "now go through boto3"
#: Variables the command would read configuration from; tests set them explicitly.
CONFIG_VARS = (
    "CDN_MANAGER_CONFIG",
    "CDN_HOST",
    "CDN_DOWNLOADER_ACCESS_KEY",
    "CDN_DOWNLOADER_ACCESS_SECRET",
    "CDN_UPLOADER_ACCESS_KEY",
    "CDN_UPLOADER_ACCESS_SECRET",
    "CDN_REGION",
)


@dataclass
class Run:
    code: int
    stdout: bytes
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout.decode()

    def json(self) -> Any:
        return json.loads(self.stdout)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    return {**env, **extra}


def cdn(
    *args: str | Path,
    config: Path | None = None,
    cwd: Path | None = None,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
) -> Run:
    """Runs the console script to completion."""
    command = [str(CLI), *(["--config", str(config)] if config else []), *map(str, args)]
    done = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=clean_env() if env is None else env,
        timeout=120,
    )
    run = Run(done.returncode, done.stdout, done.stderr.decode())
    # The command line's face of the suite-wide no-fallback guard.
    assert FALLBACK_NOTICE not in run.stderr, run.stderr
    return run


def start(
    *args: str | Path,
    config: Path | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Starts the console script in the background."""
    command = [str(CLI), *(["--config", str(config)] if config else []), *map(str, args)]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env=clean_env() if env is None else env,
    )


def write_config(folder: Path, credentials: CDNCredentials, name: str = "cdn.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(credentials.to_yaml())
    path.chmod(0o600)  # it holds secrets: anything wider is warned about
    return path


def config_for(server: Server, folder: Path, **fields: str | None) -> Path:
    """A cdn.yaml for ``server``; ``fields`` override credential fields."""
    return write_config(folder, CDNCredentials(**{**server.credentials.__dict__, **fields}))


def one_error_line(run: Run) -> str:
    """The command's stderr, which must be exactly one error line."""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("cdn-manager: error: ")
    return lines[0]


def make_tree(root: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in files_under(root)}


def bucket_keys(server: Server, bucket: str) -> list[str]:
    pages = server.admin.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]


def site_keys(server: Server, bucket: str) -> list[str]:
    """The bucket's keys but those of the release history (``.cdn-manager/``)."""
    return [key for key in bucket_keys(server, bucket) if not key.startswith(".cdn-manager/")]


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def run_in_terminal(args: Sequence[str | Path], timeout: float = 60) -> tuple[int, str]:
    """Runs the command with stdout and stderr on a new pseudo-terminal;
    returns its exit status and everything it drew."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(CLI), *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=clean_env(),
    )
    os.close(terminal)
    drawn = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    return process.wait(10), drawn.decode(errors="replace")
