"""The ways users get it: the release wheel (manylinux2014, so pip takes it
on glibc 2.17 and newer) and the sdist (everything else, built with cargo),
each installed into a fresh virtualenv and run there."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from conftest import USER_CACHE_HOME
from helpers.docs import README, run_console_blocks, start_server, stop

ROOT = Path(__file__).resolve().parent.parent
SMOKE = Path(__file__).resolve().parent / "helpers" / "install_smoke.py"
#: manylinux2014 is glibc 2.17 (CentOS 7).
MANYLINUX2014 = (2, 17)

pytestmark = pytest.mark.packaging


def user_env() -> dict[str, str]:
    """The environment with the user's cache folder back, for builds and
    installs: pip's cache serves the fresh venvs, and zig's holds the linker
    wrapper whose path cargo fingerprints (a new path rebuilds every crate)."""
    env = dict(os.environ)
    env.pop("XDG_CACHE_HOME")
    if USER_CACHE_HOME is not None:
        env["XDG_CACHE_HOME"] = USER_CACHE_HOME
    return env


def shared_folder(factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this run shares (this process's own
    without xdist)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    folder = factory.getbasetemp().parent / f"shared-{run}" if run else factory.getbasetemp()
    folder.mkdir(exist_ok=True)
    return folder


@contextlib.contextmanager
def building(factory: pytest.TempPathFactory) -> Iterator[None]:
    """Builds into target/ one at a time across the xdist workers: cargo
    locks target/ but maturin's copy of the library out of it does not, and
    two at once failed with "failed to rename file" (a shuffled run put the
    wheel's build and the sdist's on both workers at the same moment)."""
    with open(shared_folder(factory) / "target.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def built(factory: pytest.TempPathFactory, target: str, pattern: str) -> Path:
    """What ``make TARGET`` (``build-prod``, ``sdist``: exactly what users get)
    writes, built once per run by whichever worker asks first."""
    dist = shared_folder(factory) / target
    with building(factory):
        if not dist.is_dir():
            partial = dist.with_name(f"{target}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            subprocess.run(
                ["make", "--no-print-directory", "-C", str(ROOT), target, f"DIST={partial}"],
                check=True,
                env=user_env(),
            )
            partial.rename(dist)
    (found,) = dist.glob(pattern)
    return found


@pytest.fixture(scope="module")
def release_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built(tmp_path_factory, "build-prod", "cdn_manager-*.whl")


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built(tmp_path_factory, "sdist", "cdn_manager-*.tar.gz")


def glibc_versions_needed(library: bytes) -> set[tuple[int, ...]]:
    """Every ``GLIBC_x.y`` version the ELF's undefined symbols are bound to
    (its version-needed section: what the dynamic loader checks)."""
    needed = set()
    for section in ELFFile(io.BytesIO(library)).iter_sections():
        if isinstance(section, GNUVerNeedSection):
            for _library, versions in section.iter_versions():
                for version in versions:
                    if version.name.startswith("GLIBC_"):
                        needed.add(tuple(int(n) for n in version.name[6:].split(".")))
    return needed


def install_and_smoke(
    target: Path,
    tmp_path: Path,
    constraints: bool = True,
    factory: pytest.TempPathFactory | None = None,
) -> dict[str, object]:
    """Installs ``target`` (wheel or sdist) with the ``server`` extra into a
    new virtualenv (pinned by constraints.txt, or, without ``constraints``,
    whatever pip resolves today), then runs ``cdn-manager --version`` and
    the round trips there; returns their report."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    env = user_env()
    compiles = target.name.endswith(".tar.gz")
    if compiles:
        # The sdist's own sources compile from scratch; the crates.io crates
        # they depend on are reused from `make build-dev`'s release build
        # (same profile and features): 4-15 min less on 2 cores.
        env["CARGO_TARGET_DIR"] = str(ROOT / "target")
    # The constraints pin what .venv was tested with, which pip's cache holds.
    pinned = ["-c", ROOT / "constraints.txt"] if constraints else []
    # An sdist compiles into target/: one build there at a time.
    with building(factory) if compiles and factory else contextlib.nullcontext():
        subprocess.run(
            [bin_dir / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             *pinned, f"{target}[server]"],
            check=True,
            cwd=tmp_path,
            env=env,
        )  # fmt: skip
    version = subprocess.run(
        [bin_dir / "cdn-manager", "--version"], check=True, capture_output=True, text=True
    )
    assert version.stdout.strip() == "cdn-manager 0.1.0"
    run = subprocess.run(
        [bin_dir / "python", SMOKE], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    report: dict[str, object] = json.loads(run.stdout)
    assert Path(str(report["package"])).is_relative_to(env_dir)
    return report


@pytest.mark.slow
def test_release_wheel_is_abi3_manylinux2014_x86_64(release_wheel: Path) -> None:
    assert release_wheel.name.endswith("-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl")
    shown = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", release_wheel],
        check=True,
        capture_output=True,
        text=True,
    )
    text = " ".join(shown.stdout.split())
    policy = re.search(r'consistent with the following platform tag: "manylinux_(\d+)_(\d+)_', text)
    assert policy, shown.stdout
    assert (int(policy[1]), int(policy[2])) <= MANYLINUX2014, shown.stdout


@pytest.mark.slow
def test_release_wheel_core_needs_glibc_2_17_at_most(release_wheel: Path) -> None:
    with zipfile.ZipFile(release_wheel) as wheel:
        (core,) = (
            n for n in wheel.namelist() if n.startswith("cdn_manager/_core.") and n.endswith(".so")
        )
        needed = glibc_versions_needed(wheel.read(core))
    assert needed, "no GLIBC_* version found: is this a glibc ELF?"
    assert max(needed) <= MANYLINUX2014, sorted(needed)


@pytest.mark.slow
def test_release_wheel_installs_into_a_fresh_venv_and_round_trips(
    release_wheel: Path, tmp_path: Path
) -> None:
    report = install_and_smoke(release_wheel, tmp_path)
    assert report["plane"] == "native"
    assert report["round_trip"] is True


@pytest.mark.slow
def test_the_wheel_installed_as_a_new_user_would_runs_the_readme_walkthrough(
    release_wheel: Path, tmp_path: Path
) -> None:
    """``pip install WHEEL[server]`` with nothing pinned (today's boto3 and
    moto, moto 5.2.6 having changed its IAM action names), then the
    README's command-line session against its embedded server, a 64 MiB
    file up and back down with the command line (a multipart upload, a
    ranged download), and a CRC32C multipart round trip."""
    report = install_and_smoke(release_wheel, tmp_path, constraints=False)
    assert report["round_trips"] == {"crc32": True, "crc32c": True}, report
    cli = tmp_path / "venv" / "bin" / "cdn-manager"
    run_console_blocks(tmp_path / "readme", README, cli=cli)

    folder = tmp_path / "big"
    server = start_server(folder, README, "--json", cli=cli)
    try:
        assert server.stdout is not None
        json.loads(server.stdout.readline())  # up, and cdn.yaml written
        data = os.urandom(64 * 1024 * 1024)
        (folder / "big.bin").write_bytes(data)
        for command in (
            ["upload", "cdn-demo", "big/big.bin", "big.bin"],
            ["download", "cdn-demo", "big/big.bin", "back.bin"],
        ):
            done = subprocess.run(
                [cli, *command], cwd=folder, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, done.stderr
        assert (folder / "back.bin").read_bytes() == data
    finally:
        stop(server)


def test_sdist_holds_every_source_file_and_nothing_built(sdist: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "Cargo.toml", "Cargo.lock", "pyproject.toml", "README.md",
         "src", "python"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    with tarfile.open(sdist) as archive:
        shipped = {name.partition("/")[2] for name in archive.getnames()}
    assert "src/lib.rs" in tracked
    assert set(tracked) <= shipped, sorted(set(tracked) - shipped)
    assert not [name for name in shipped if name.endswith(".so")]


@pytest.mark.slow
def test_sdist_builds_in_a_fresh_venv_and_round_trips(
    sdist: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    report = install_and_smoke(sdist, tmp_path, factory=tmp_path_factory)
    assert report["plane"] == "native"
    assert report["round_trip"] is True
