"""Every Python and console block of the README and of every page under
``docs/`` runs as written.

Each document runs on its own: its Python blocks in document order in one
namespace, in a folder where ``cdn-manager local-server`` runs (its
``cdn.yaml``, bucket ``cdn-demo``); its console blocks in order in a second
such folder, each ``$ command`` in bash, its output compared with the lines
under it once what differs from run to run (ports, dates and times,
durations, access keys, signatures, ETags and other hex digests) is masked.
Sizes and counts are compared as shown. The folder holds a ``.venv`` link
to the suite's environment, so ``source .venv/bin/activate`` runs as a user
pastes it.

A block that cannot run says so with a comment on the line before it
(``docs:``, or ``readme:`` as pages written before the docs site say):

- ``<!-- docs: no-run (why) -->``: not run (a Python block is still
  compiled); keep these few, and always give the reason;
- ``<!-- docs: server -->``: its command starts the server the session
  blocks talk to (run in the background, its banner compared);
- ``<!-- docs: server-stop -->``: what the server prints on Ctrl-C;
- ``<!-- docs: file NAME -->`` (on a ``yaml`` or other data block): the
  block is the file NAME that the document's other blocks use, written into
  both working folders before anything runs.

Any other block must run: a new example that fails and is not marked fails
this test. (``sh`` blocks are the build itself, ``make demo`` and the like,
which ``test_make_demo_removes_what_it_creates`` runs the scripts of, and
``json``/``yaml``/``text`` blocks are not programs; they are not run.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.cli import clean_env
from helpers.docs import (
    DOCUMENTS,
    KINDS,
    MARKER,
    README,
    ROOT,
    RUN,
    blocks_of,
    documents_with,
    name_of,
    run_console_blocks,
    start_server,
    stop,
)

EXAMPLES = ROOT / "examples"


def test_readme_is_a_front_door() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 400


@pytest.mark.parametrize("document", DOCUMENTS, ids=name_of)
def test_every_marker_is_known_and_every_skip_says_why(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    for found in re.finditer(r"<!-- (?:docs|readme):[^>]*-->", text):
        marker = MARKER.fullmatch(found[0])
        assert marker and marker["kind"] in KINDS, found[0]
        assert marker["kind"] != "no-run" or marker["why"], f"{found[0]}: say why"
    blocks = blocks_of(document)
    marked = [b for b in blocks if b.kind and b.kind != "file"]
    assert all(b.language in RUN for b in marked), "markers belong to python/console blocks"
    assert all(b.name for b in blocks if b.kind == "file"), "a file block needs a name"
    skipped = [b for b in marked if b.kind == "no-run"]
    assert len(skipped) <= 3, "keep the blocks that cannot run few"


@pytest.mark.parametrize("document", documents_with("python"), ids=name_of)
def test_python_blocks_run(document: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_server(tmp_path, document, "--json")
    try:
        assert server.stdout is not None
        json.loads(server.stdout.readline())  # up, and cdn.yaml written
        monkeypatch.chdir(tmp_path)
        namespace: dict[str, object] = {"__name__": "docs"}
        for block in (b for b in blocks_of(document) if b.language == "python"):
            where = f"{name_of(document)}, block at line {block.line}"
            code = compile(block.text, where, "exec")
            if block.kind != "no-run":
                exec(code, namespace)
    finally:
        stop(server)


@pytest.mark.parametrize("document", documents_with("console"), ids=name_of)
def test_console_blocks_run_and_print_what_they_show(document: Path, tmp_path: Path) -> None:
    run_console_blocks(tmp_path, document)


@pytest.mark.parametrize("script", ["demo.py", "cli_demo.py"])
def test_make_demo_removes_what_it_creates(tmp_path: Path, script: str) -> None:
    scratch, home, cache, work = (tmp_path / name for name in ("tmp", "home", "cache", "work"))
    for folder in (scratch, home, cache, work):
        folder.mkdir()
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=work,
        env=clean_env(TMPDIR=str(scratch), HOME=str(home), XDG_CACHE_HOME=str(cache)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo OK" in done.stdout
    # Nothing left: not in the temporary folder, the working folder, nor the
    # user's cache (push remembers checksums there) or home.
    for folder in (scratch, home, cache, work):
        assert list(folder.iterdir()) == [], folder
    # The swapped keys are refused as keys, not as a missing bucket.
    assert "may not exist" not in done.stdout and "bucket name" not in done.stdout
