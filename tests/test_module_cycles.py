"""`make lint-rust` fails on a circle of Rust modules (issue 26): the
checker `tools/module_cycles.py` on the crate itself and on small crates
written here, run as `make lint-rust` runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT / "tools" / "module_cycles.py"


def check(src: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECKER), str(src)], capture_output=True, text=True, timeout=60
    )


def crate(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "src"


def test_the_crate_has_no_module_circle() -> None:
    done = check(ROOT / "src")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_circle_of_sibling_modules_fails_naming_it_and_its_lines(tmp_path: Path) -> None:
    src = crate(
        tmp_path,
        {
            "lib.rs": "mod http;\nmod error;\n",
            "error.rs": "use crate::http::get::header_map; // a comment: crate::nothing\n",
            "http/mod.rs": "mod get;\nmod request;\npub use get::Response;\n",
            "http/get.rs": 'use super::request::send;\nconst S: &str = "crate::error::X";\n',
            "http/request.rs": "pub fn send() {\n    super::get::header_map(&'a' as _);\n}\n",
        },
    )
    done = check(src)
    assert done.returncode == 1
    assert "module circle: crate::http::get -> crate::http::request -> crate::http::get" in (
        done.stdout
    )
    assert f"{src / 'http/request.rs'}:2: crate::http::request uses super::get::header_map" in (
        done.stdout
    )
    # A use by a parent of its child (or the reverse) and text in strings
    # and comments make no circle: error -> http alone is fine.
    assert "crate::error" not in done.stdout


@pytest.mark.parametrize(
    "planted",
    [
        "use crate::a::{self, b::Thing};",
        "fn f() { crate::a::b::f(); }",
        "pub(crate) use super::a::*;",
    ],
)
def test_every_way_of_naming_a_module_is_seen(tmp_path: Path, planted: str) -> None:
    src = crate(
        tmp_path,
        {
            "lib.rs": "mod a;\nmod c;\n",
            "a/mod.rs": "pub mod b;\n",
            "a/b.rs": "use crate::c::Other;\n",
            "c.rs": f"{planted}\n",
        },
    )
    done = check(src)
    assert done.returncode == 1, done.stdout
    assert "crate::a -> crate::c -> crate::a" in done.stdout


def test_test_only_code_and_path_attributes(tmp_path: Path) -> None:
    src = crate(
        tmp_path,
        {
            "lib.rs": "mod a;\nmod c;\n",
            "a.rs": "use crate::c::X;\n",
            # A test of `c` may drive `a`; a module found through #[path]
            # is read like any other.
            "c.rs": (
                '#[cfg(test)]\nmod tests { use crate::a::Y; }\n#[path = "c_more.rs"]\nmod more;\n'
            ),
            "c_more.rs": "fn f() {}\n",
        },
    )
    assert check(src).returncode == 0
    (src / "c_more.rs").write_text("use crate::a::Y;\n")
    done = check(src)
    assert done.returncode == 1
    assert "crate::a -> crate::c -> crate::a" in done.stdout
