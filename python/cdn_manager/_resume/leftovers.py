"""What interrupted downloads leave in a folder, found and removed.

A resumable download keeps ``.NAME.cdn-partial`` and ``.NAME.cdn-journal``
beside its destination for the next run (``src/writer/journal.rs``); a
process killed during a download that is not resumable leaves its
``.cdnpart-PID-N`` temporary file. Neither is ever the destination itself.
State still in use is left alone: a journal another process holds locked
(its download is running), with its temporary file, and the temporary file
of a process still alive. ``clean`` removes what it finds on request; a
manager's first download into a folder removes the folder's own leftovers
older than ``TransferConfig.stale_after``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from pathlib import Path

from .._escape import shown
from ..errors import LocalIOError

PARTIAL, JOURNAL = ".cdn-partial", ".cdn-journal"
_TEMP = re.compile(r"^\.cdnpart-(\d+)-\d+$")


def _in_use(path: Path) -> bool:
    """Whether a running download holds this journal (or, for a partial
    file, its journal), or the process that made this temporary file lives."""
    temp = _TEMP.match(path.name)
    if temp is not None:
        try:
            os.kill(int(temp.group(1)), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    journal = path.with_name(path.name.removesuffix(PARTIAL).removesuffix(JOURNAL) + JOURNAL)
    try:
        fd = os.open(journal, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we took
    return False


def find(folder: Path, recursive: bool = True, older_than: float | None = None) -> list[Path]:
    """The leftovers below ``folder`` (or, not ``recursive``, directly in
    it) not in use, in path order (links are not followed); with
    ``older_than``, only those not written for that many seconds."""
    limit = None if older_than is None else time.time() - older_than
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            ours = name.startswith(".") and (name.endswith((PARTIAL, JOURNAL)) or _TEMP.match(name))
            path = Path(root) / name
            if ours and not (limit is not None and _newer(path, limit)) and not _in_use(path):
                found.append(path)
        if not recursive:
            break
    return sorted(found)


def _newer(path: Path, limit: float) -> bool:
    try:
        return path.lstat().st_mtime >= limit
    except FileNotFoundError:
        return True  # gone meanwhile: nothing to remove


def remove(paths: list[Path]) -> None:
    """Removes ``paths`` (one already gone is fine)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            try:
                path.unlink()
            except OSError as err:
                raise LocalIOError(f"cannot remove {shown(str(path))}: {err.strerror}") from None


def kept(destination: Path) -> int | None:
    """The bytes an interrupted download into ``destination`` keeps for the
    next run; None if it keeps none. The names are those of
    ``src/writer/journal.rs``: ``.NAME.cdn-journal``, or
    ``.<MD5 of NAME>.cdn-journal`` for a name too long for that."""
    name = destination.name
    if 1 + len(name.encode()) + len(JOURNAL) > 255:
        name = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
    return journaled_bytes(destination.parent / f".{name}{JOURNAL}")


def journaled_bytes(journal: Path) -> int | None:
    """The bytes of the ranges a download journal records as complete
    (``[start,end,crc]`` lines after its header); None if none, or if it
    cannot be read."""
    try:
        lines = journal.read_text().splitlines()[1:]
        total = sum(end - start for start, end, _ in map(json.loads, lines))
    except (OSError, ValueError, TypeError):
        return None
    return total or None
