"""Runs tests against the newest or the lowest versions of cdn-manager's
dependencies that pyproject.toml's ranges allow, not the pinned ones:

    python .ci/versions.py newest|lowest WHEEL FOLDER TEST...

A fresh virtualenv (``FOLDER/venv-MODE``) gets the dependencies and the
``server`` extra's, resolved by uv without constraints.txt: the highest
versions the ranges allow, or (``--resolution lowest-direct``) the lowest
version of each of them with the newest of what they in turn need. The
wheel goes in on top (``--no-deps``), with pytest and pytest-xdist; then
pytest runs the tests given, on moto and s3s-fs (Garage and the packaging
tests stay with the pinned run), without the AWS CLI (awscli pins one
botocore exactly, which would hold the resolution back). Prints the
versions it got and how long each step took.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What the tests need beyond the package, at the lowest versions they
#: are known to work with (so a "lowest" run stays meaningful).
TEST_TOOLS = ["pytest>=8", "pytest-xdist>=3"]
SHOWN = ("boto3", "botocore", "s3transfer", "moto", "pyyaml", "crc32c", "werkzeug", "urllib3")


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["server"]]
    return [str(requirement) for requirement in wanted]


def step(
    what: str, command: list[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    started = time.monotonic()
    print(f"== {what}", flush=True)
    subprocess.run([str(part) for part in command], check=True, cwd=cwd, env=env)
    print(f"== {what}: {time.monotonic() - started:.0f} s", flush=True)


def main(mode: str, wheel: str, folder: str, *tests: str) -> int:
    if mode not in ("newest", "lowest"):
        raise SystemExit("mode must be newest or lowest")
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv not found (make puts it in .venv)")
    env_dir = Path(folder) / f"venv-{mode}"
    shutil.rmtree(env_dir, ignore_errors=True)
    python = env_dir / "bin" / "python"
    resolution = "highest" if mode == "newest" else "lowest-direct"
    started = time.monotonic()
    step(f"{mode}: venv", [uv, "venv", "--quiet", "--python", sys.executable, env_dir])
    install: list[str | Path] = [uv, "pip", "install", "--quiet", "--python", python]
    step(
        f"{mode}: dependencies ({resolution})",
        [*install, "--resolution", resolution, *requirements(), *TEST_TOOLS],
    )
    step(f"{mode}: the wheel", [*install, "--no-deps", "--reinstall", wheel])
    listed = subprocess.run(
        [uv, "pip", "list", "--python", python, "--format", "freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    print(f"== {mode}: " + " ".join(p for p in listed if p.split("==")[0].lower() in SHOWN))
    env = {**os.environ, "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    step(
        f"{mode}: tests",
        [python, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider",
         "-m", "not garage and not packaging", "-k", "not aws", *tests],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    print(f"== {mode}: {time.monotonic() - started:.0f} s in all", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
