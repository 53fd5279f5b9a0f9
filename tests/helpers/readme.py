"""The README's code blocks, and running its console session (see
``tests/test_readme.py``, which says what the markers mean)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from helpers.cli import CLI, clean_env

README = Path(__file__).resolve().parent.parent.parent / "README.md"
MARKER = re.compile(
    r"<!-- readme: (?P<kind>[a-z-]+)(?: \((?P<why>[^)]+)\)| (?P<name>[\w.-]+))? -->"
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


def readme_blocks() -> list[Block]:
    lines = README.read_text(encoding="utf-8").splitlines()
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


def write_files(folder: Path) -> None:
    """The README's ``file`` blocks, as files in ``folder``."""
    for block in readme_blocks():
        if block.kind == "file" and block.name:
            (folder / block.name).write_text(block.text, encoding="utf-8")


def start_server(folder: Path, *flags: str, cli: Path = CLI) -> subprocess.Popen[str]:
    folder.mkdir(parents=True, exist_ok=True)
    write_files(folder)
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


def masked(text: str) -> list[str]:
    """The non-empty lines of ``text`` with what differs between runs
    masked: signatures and credentials in URLs, access keys, numbers
    (sizes, times, ports, dates); runs of spaces (column widths) as one."""
    lines = []
    for line in text.splitlines():
        line = re.sub(r"(X-Amz-[A-Za-z]+=)[^&\s]+", r"\1…", line)
        line = re.sub(r"AKIA[0-9A-Z]{16}", "AKIA…", line)
        line = re.sub(r"\d+(\.\d+)?", "#", line)
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
            assert steps, f"README.md line {block.line}: output before any command"
            steps[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in steps]


def run_console_blocks(tmp_path: Path, cli: Path = CLI) -> None:
    """Runs every console block in ``tmp_path`` with the ``cdn-manager`` at
    ``cli``, each command's output compared with the README's; fails with
    the block and command that differ."""
    # A fresh user's cache: what other tests' interrupted uploads left in
    # the suite's would show up in `doctor`.
    env = clean_env(
        PATH=f"{cli.parent}{os.pathsep}{os.environ['PATH']}",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    # The README shows what users get by default (messages differ by plane).
    env.pop("CDN_MANAGER_DATA_PLANE", None)
    server: subprocess.Popen[str] | None = None
    try:
        for block in (b for b in readme_blocks() if b.language == "console"):
            where = f"README.md, block at line {block.line}"
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
                    server = start_server(tmp_path, cli=cli)
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
