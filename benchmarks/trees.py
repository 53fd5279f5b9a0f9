"""The tree the whole-tree workloads (W5-W8) sync: how it is made, the "CI
rebuild" edit W7 pushes, and the exactness check every tool's result gets
after the clock stops.

The tree is nested three levels deep (``a00/b00/c00/file-00000.bin``), with
random (incompressible) bytes; file sizes and which files W7 edits come from
a fixed seed, so every tool and every round syncs the same tree.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB
SEED = 15
#: Files per folder at the third level.
FANOUT = 10


@dataclass(frozen=True)
class TreeShape:
    small: int  # files of 4-64 KiB
    medium: int  # files of 1 MiB
    large: int  # files of ``large_size``
    large_size: int

    @property
    def files(self) -> int:
        return self.small + self.medium + self.large

    def sizes(self) -> list[int]:
        rng = random.Random(SEED)
        sizes = [rng.randint(4 * KiB, 64 * KiB) for _ in range(self.small)]
        sizes += [MiB] * self.medium + [self.large_size] * self.large
        rng.shuffle(sizes)  # large files in every part of the tree, not all at its end
        return sizes

    def describe(self) -> str:
        return (
            f"{self.files:,} files ({self.small:,} of 4-64 KiB, {self.medium:,} of 1 MiB, "
            f"{self.large:,} of {self.large_size // MiB} MiB), nested 3 levels"
        )


def relative_path(i: int) -> str:
    leaf = i // FANOUT
    return f"a{leaf // 100:02d}/b{leaf // 10 % 10:02d}/c{leaf % 10:02d}/file-{i:05d}.bin"


def make_tree(root: Path, shape: TreeShape) -> int:
    """Writes the tree; returns its size in bytes."""
    total = 0
    for i, size in enumerate(shape.sizes()):
        path = root / relative_path(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        total += size
    return total


def ci_rebuild(root: Path, shape: TreeShape) -> tuple[int, int]:
    """W7's edit: 1 % of the files get new content (half of them at the same
    length, which only a content comparison can see), then every file's mtime
    is set to now, as a build that rewrites its output does. Returns the
    number of files changed and their new size in bytes."""
    rng = random.Random(SEED + 7)
    changed = rng.sample(range(shape.files), max(2, shape.files // 100))
    changed_bytes = 0
    for n, i in enumerate(changed):
        path = root / relative_path(i)
        size = path.stat().st_size
        new_size = size if n % 2 == 0 else size + rng.randint(1, 4 * KiB)
        path.write_bytes(os.urandom(new_size))
        changed_bytes += new_size
    # A second later than any write so far: the touch is visible to tools
    # that compare mtimes at one-second resolution.
    now = time.time() + 1
    for path in files_under(root):
        os.utime(path, (now, now))
    return len(changed), changed_bytes


def files_under(root: Path) -> Iterator[Path]:
    for folder, _, names in os.walk(root):
        for name in names:
            yield Path(folder) / name


def tree_files(root: Path) -> dict[str, Path]:
    """The files under root by their relative names."""
    return {str(p.relative_to(root)): p for p in files_under(root)}


def differences(want: dict[str, Path], got: dict[str, Path]) -> list[str]:
    """How the files in ``got`` differ from those in ``want`` (both relative
    name -> path), byte for byte: missing, extra and different files."""
    problems = [f"missing {name}" for name in sorted(want.keys() - got.keys())]
    problems += [f"extra {name}" for name in sorted(got.keys() - want.keys())]
    for name in sorted(want.keys() & got.keys()):
        if want[name].read_bytes() != got[name].read_bytes():
            problems.append(f"different {name}")
    return problems


def summary(problems: list[str]) -> str:
    kinds = {kind: sum(p.startswith(kind) for p in problems) for kind in ("missing", "extra")}
    kinds["different"] = len(problems) - sum(kinds.values())
    shown = ", ".join(f"{n} {kind}" for kind, n in kinds.items() if n)
    return f"{shown} file(s), first: {problems[0]}"
