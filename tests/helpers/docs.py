"""The code blocks of the README and of the pages under ``docs/``, and
running a document's console session (``tests/test_docs.py`` says what the
markers mean). The packaging tests run the README's session with the
``cdn-manager`` of a freshly installed wheel."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from helpers.cli import CLI, clean_env

ROOT = Path(__file__).resolve().parent.parent.parent
README = ROOT / "README.md"
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


def prepare(folder: Path, document: Path, cli: Path = CLI) -> None:
    """``folder`` with the document's ``file`` blocks as files, and a
    ``.venv`` that is the environment ``cli`` belongs to."""
    folder.mkdir(parents=True, exist_ok=True)
    for block in blocks_of(document):
        if block.kind == "file" and block.name:
            (folder / block.name).write_text(block.text, encoding="utf-8")
    venv = folder / ".venv"
    if not venv.exists():
        venv.symlink_to(cli.parent.parent)


def start_server(
    folder: Path, document: Path, *flags: str, cli: Path = CLI
) -> subprocess.Popen[str]:
    prepare(folder, document, cli)
    return subprocess.Popen(
        [str(cli), "local-server", *flags],
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


#: What differs from run to run, and what stands for it; everything else
#: (sizes, counts, names, messages) is compared as shown.
VOLATILE = [
    (re.compile(r"(X-Amz-[A-Za-z]+=)[^&\s]+"), r"\1…"),  # signatures, dates in URLs
    (re.compile(r"AKIA[0-9A-Z]{16}"), "AKIA…"),  # access keys
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\+00:00)?"), "DATE"),
    (re.compile(r"\bin \d+\.\d s\b"), "in # s"),  # how long a command took
    (re.compile(r"^(\s*\d+) +\d+ (s|min|h|d)\b"), r"\1 AGE"),  # a release's age in `releases`
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


def run_console_blocks(tmp_path: Path, document: Path, cli: Path = CLI) -> None:
    """Runs the document's console blocks in ``tmp_path`` with the
    ``cdn-manager`` at ``cli``, each command's output compared with the
    document's; fails with the block and command that differ."""
    # A fresh user's cache: what other tests' interrupted uploads left in
    # the suite's would show up in `doctor`.
    env = clean_env(
        PATH=f"{cli.parent}{os.pathsep}{os.environ['PATH']}",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    # The docs show what users get by default (messages differ by plane).
    env.pop("CDN_MANAGER_DATA_PLANE", None)
    prepare(tmp_path, document, cli)
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
                    server = start_server(tmp_path, document, cli=cli)
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
