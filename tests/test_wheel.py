"""The way users get it: pip install of the release wheel into a fresh venv."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.packaging
def test_release_wheel_installs_into_a_fresh_venv_and_imports(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "maturin", "build", "--release", "--quiet", "--out", str(dist)],
        cwd=ROOT,
        check=True,
    )
    (wheel,) = dist.glob("cdn_manager-*.whl")
    assert "abi3" in wheel.name
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)], check=True, cwd=tmp_path
    )
    probe = (
        "import cdn_manager, cdn_manager._core as core;"
        "from cdn_manager import CDNCredentials, CDNManager;"
        "m = CDNManager(CDNCredentials('http://127.0.0.1:1', 'r', 'rs', 'w', 'ws'));"
        "print(core.checksum(b'123456789'), type(m.download_client).__name__)"
    )
    out = subprocess.run(
        [str(python), "-c", probe], check=True, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.stdout.split() == [str(0xCBF43926), "S3"]
