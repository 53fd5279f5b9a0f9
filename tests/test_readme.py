"""Every Python and console block of the README runs as written.

Python blocks run in document order in one namespace, in a folder where
``cdn-manager local-server`` runs (its ``cdn.yaml``, bucket ``cdn-demo``).
Console blocks run in order in a second such folder: each ``$ command`` in
bash, its output compared with the lines under it once the parts that differ
from run to run (numbers, ports, times, access keys, signatures) are masked.

A block that cannot run says so with a comment on the line before it:

- ``<!-- readme: no-run (why) -->``: not run (a Python block is still
  compiled); keep these few, and always give the reason;
- ``<!-- readme: server -->``: its command starts the server the session
  blocks talk to (run in the background, its banner compared);
- ``<!-- readme: server-stop -->``: what the server prints on Ctrl-C;
- ``<!-- readme: file NAME -->`` (on a ``yaml`` or other data block): the
  block is the file NAME that other blocks use, written into both working
  folders before anything runs.

Any other block must run: a new example that fails and is not marked fails
this test. (``sh`` blocks are the build itself and ``json``/``yaml``/``text``
blocks are not programs; they are not run.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.cli import clean_env
from helpers.readme import (
    KINDS,
    MARKER,
    README,
    RUN,
    readme_blocks,
    run_console_blocks,
    start_server,
    stop,
)

EXAMPLES = README.parent / "examples"


def test_every_marker_is_known_and_every_skip_says_why() -> None:
    text = README.read_text(encoding="utf-8")
    for found in re.finditer(r"<!-- readme:[^>]*-->", text):
        marker = MARKER.fullmatch(found[0])
        assert marker and marker["kind"] in KINDS, found[0]
        assert marker["kind"] != "no-run" or marker["why"], f"{found[0]}: say why"
    marked = [b for b in readme_blocks() if b.kind and b.kind != "file"]
    assert all(b.language in RUN for b in marked), "markers belong to python/console blocks"
    assert all(b.name for b in readme_blocks() if b.kind == "file"), "a file block needs a name"
    skipped = [b for b in marked if b.kind == "no-run"]
    assert len(skipped) <= 3, "keep the blocks that cannot run few"


def test_python_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_server(tmp_path, "--json")
    try:
        assert server.stdout is not None
        json.loads(server.stdout.readline())  # up, and cdn.yaml written
        monkeypatch.chdir(tmp_path)
        namespace: dict[str, object] = {"__name__": "readme"}
        for block in (b for b in readme_blocks() if b.language == "python"):
            code = compile(block.text, f"README.md, block at line {block.line}", "exec")
            if block.kind != "no-run":
                exec(code, namespace)
    finally:
        stop(server)


def test_console_blocks_run_and_print_what_they_show(tmp_path: Path) -> None:
    run_console_blocks(tmp_path)


@pytest.mark.parametrize("script", ["demo.py", "cli_demo.py"])
def test_make_demo_removes_what_it_creates(tmp_path: Path, script: str) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=tmp_path,
        env=clean_env(TMPDIR=str(scratch)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo OK" in done.stdout
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
