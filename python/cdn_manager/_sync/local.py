"""The local side of a sync: the regular files below a folder, each with
the identity that tells whether its content may have changed."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import LocalIOError
from .memory import Identity, identity_of


@dataclass(frozen=True)
class LocalFile:
    """A regular file below the folder."""

    #: ``/``-separated path from the folder.
    relative: str
    path: Path
    identity: Identity

    @property
    def size(self) -> int:
        return self.identity[2]


@dataclass(frozen=True)
class LeftOut:
    """Something left out of a sync: a key or a local path, and why."""

    name: str
    why: str


def walk(folder: Path, skipped: list[LeftOut], refused: list[LeftOut]) -> list[LocalFile]:
    """Every regular file below ``folder``, in name order. Symbolic links
    (to files or folders) and special files are skipped, never followed;
    names that are not valid UTF-8 are refused (no key can name them).
    Raises :class:`LocalIOError` if a folder cannot be read."""

    def fail(err: OSError) -> None:
        raise LocalIOError(f"read folder {err.filename}: {err.strerror}", reason="ReadFolder")

    found = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=fail):
        here = Path(dirpath)
        for name in list(dirnames):
            if (here / name).is_symlink():
                dirnames.remove(name)
                skipped.append(LeftOut(str(here / name), "symbolic link"))
        dirnames.sort()
        for name in sorted(filenames):
            path = here / name
            try:
                status = path.lstat()
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(status.st_mode):
                why = "symbolic link" if stat.S_ISLNK(status.st_mode) else "not a regular file"
                skipped.append(LeftOut(str(path), why))
                continue
            relative = path.relative_to(folder).as_posix()
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                refused.append(LeftOut(str(path), "file name is not valid UTF-8"))
                continue
            found.append(LocalFile(relative, path, identity_of(status)))
    return found
