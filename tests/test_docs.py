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
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.cli import CLI, clean_env

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(
    r"<!-- (?:docs|readme): (?P<kind>[a-z-]+)(?: \((?P<why>[^)]+)\)| (?P<name>[\w.-]+))? -->"
)
KINDS = {"no-run", "server", "server-stop", "file"}
RUN = {"python", "console"}


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    #: Line of the opening fence, for messages.
    line: int
    kind: str | None
    #: The file name of a ``file`` block.
    name: str | None = None


def blocks_of(document: Path) -> list[Block]:
    lines = document.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = re.fullmatch(r"```(\w*)", lines[i])
        if opening is None:
            i += 1
            continue
        end = lines.index("```", i + 1)
        before = next((line for line in reversed(lines[:i]) if line.strip()), "")
        marker = MARKER.fullmatch(before.strip())
        kind = marker["kind"] if marker else None
        name = marker["name"] if marker else None
        text = "\n".join(lines[i + 1 : end]) + "\n"
        blocks.append(Block(opening[1], text, i + 1, kind, name))
        i = end + 1
    return blocks


def name_of(document: Path) -> str:
    return str(document.relative_to(ROOT))


def documents_with(language: str) -> list[Path]:
    return [d for d in DOCUMENTS if any(b.language == language for b in blocks_of(d))]


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


def prepare(folder: Path, document: Path) -> None:
    """``folder`` with the document's ``file`` blocks as files, and a
    ``.venv`` that is the suite's environment."""
    folder.mkdir(parents=True, exist_ok=True)
    for block in blocks_of(document):
        if block.kind == "file" and block.name:
            (folder / block.name).write_text(block.text, encoding="utf-8")
    venv = folder / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.prefix))


def start_server(folder: Path, document: Path, *flags: str) -> subprocess.Popen[str]:
    prepare(folder, document)
    return subprocess.Popen(
        [str(CLI), "local-server", *flags],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def stop(server: subprocess.Popen[str]) -> str:
    server.send_signal(signal.SIGINT)
    out, _ = server.communicate(timeout=30)
    return out


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


#: What differs from run to run, and what stands for it; everything else
#: (sizes, counts, names, messages) is compared as shown.
VOLATILE = [
    (re.compile(r"(X-Amz-[A-Za-z]+=)[^&\s]+"), r"\1…"),  # signatures, dates in URLs
    (re.compile(r"AKIA[0-9A-Z]{16}"), "AKIA…"),  # access keys
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\+00:00)?"), "DATE"),
    (re.compile(r"\bin \d+\.\d s\b"), "in # s"),  # how long a command took
    (re.compile(r"[0-9a-f]{16,}"), "HEX"),  # ETags, upload and invalidation ids
]


def masked(text: str) -> list[str]:
    """The non-empty lines of ``text`` with what differs between runs
    masked (:data:`VOLATILE`), runs of spaces (column widths) as one."""
    lines = []
    for line in text.splitlines():
        for pattern, stands_for in VOLATILE:
            line = pattern.sub(stands_for, line)
        line = " ".join(line.split())
        if line:
            lines.append(line)
    return lines


def commands(block: Block) -> list[tuple[str, str]]:
    """``(command, expected output)`` for each ``$ `` line of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"line {block.line}: output before any command"
            steps[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in steps]


@pytest.mark.parametrize("document", documents_with("console"), ids=name_of)
def test_console_blocks_run_and_print_what_they_show(document: Path, tmp_path: Path) -> None:
    # A fresh user's cache: what other tests' interrupted uploads left in
    # the suite's would show up in `doctor`.
    env = clean_env(
        PATH=f"{CLI.parent}{os.pathsep}{os.environ['PATH']}",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    # The docs show what users get by default (messages differ by plane).
    env.pop("CDN_MANAGER_DATA_PLANE", None)
    prepare(tmp_path, document)
    server: subprocess.Popen[str] | None = None
    try:
        for block in (b for b in blocks_of(document) if b.language == "console"):
            where = f"{name_of(document)}, block at line {block.line}"
            if block.kind == "no-run":
                continue
            if block.kind == "server-stop":
                assert server is not None, f"{where}: no server to stop"
                assert masked(stop(server)) == masked(block.text), where
                server = None
                continue
            for command, expected in commands(block):
                if block.kind == "server":
                    assert command == "cdn-manager local-server", where
                    server = start_server(tmp_path, document)
                    assert server.stdout is not None
                    banner = [server.stdout.readline() for _ in expected.splitlines()]
                    assert masked("".join(banner)) == masked(expected), where
                    continue
                done = subprocess.run(
                    ["bash", "-c", command],
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=120,
                )
                assert done.returncode == 0, f"{where}: $ {command}\n{done.stdout}"
                assert masked(done.stdout) == masked(expected), f"{where}: $ {command}"
    finally:
        if server is not None:
            stop(server)


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
