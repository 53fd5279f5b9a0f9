"""What a failed download may and may not do to the local disk."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_MARKER = ".cdnpart-"


def snapshot(root: Path) -> dict[str, str]:
    """Every entry below ``root`` (symlinks not followed): a folder, a link
    and its target, or a file's mode and content hash."""
    entries: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            relative = str(path.relative_to(root))
            if path.is_symlink():
                entries[relative] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                entries[relative] = "folder"
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                entries[relative] = f"file {path.stat().st_mode:o} {digest}"
    return entries


def _state(path: Path) -> tuple[int, int, str] | None:
    """Inode, size and content hash of a file outside the sandbox, or None."""
    try:
        st = path.stat()
        return st.st_ino, st.st_size, hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def precious_bytes(path: Path) -> bytes:
    return f"precious bytes that were at {path} before\n".encode()


@contextmanager
def nothing_lost(
    root: Path,
    plant: Iterable[Path] = (),
    watch: Iterable[Path] = (),
    new_folders_in: Path | None = None,
) -> Iterator[None]:
    """Puts known bytes at each ``plant`` path (where a failing download
    would land), then checks after the block that every file, folder and link
    below ``root`` is exactly as before: nothing written, replaced, removed or
    left behind (temporary ``.cdnpart-*`` files included). ``watch`` paths
    outside ``root`` (e.g. ``/etc/passwd``) must keep their inode and bytes
    (or stay absent). Only new, empty folders inside ``new_folders_in`` are
    tolerated: a download creates the folders a key implies before it fails.
    """
    for path in plant:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(precious_bytes(path))
    watched = {path: _state(path) for path in watch}
    before = snapshot(root)
    yield
    after = snapshot(root)
    temp_files = [p for p in after if TEMP_MARKER in p]
    assert not temp_files, f"temporary files left behind: {temp_files}"
    changed = {p: (before[p], after.get(p)) for p in before if before[p] != after.get(p)}
    assert not changed, f"changed or removed: {changed}"
    allowed = set()
    if new_folders_in is not None:
        base = str(new_folders_in.relative_to(root))
        allowed = {
            p
            for p in after.keys() - before.keys()
            if after[p] == "folder" and (p == base or p.startswith(base + os.sep))
        }
    added = {p: after[p] for p in after.keys() - before.keys() - allowed}
    assert not added, f"written: {added}"
    for path in plant:
        assert path.read_bytes() == precious_bytes(path)
    for path, state in watched.items():
        assert _state(path) == state, f"{path} was touched"
