"""The journal of a multipart upload: which parts of a multipart upload of a
local file the server has, so that a later run sends only the rest; and,
for an upload that cannot be resumed (from memory, a deploy's, or with
``resume`` off), only its id, so that a later run can abort it if the
process that began it died (SIGKILL, power loss) before it could.

Journals live in the user's cache folder (``$XDG_CACHE_HOME/cdn-manager/
uploads``, else ``~/.cache/…``), one per endpoint, bucket, key and file
(device and inode), named by a SHA-256 of those: a hostile key never
becomes a file name. Each is JSON Lines: the header (what the parts are of:
endpoint, bucket, key, the file's identity, part size, checksum algorithm,
full-object CRC, a digest of the object's headers, and the upload id), then
one ``[number, etag, crc]`` line per part the server stored, appended and
fsynced as parts complete. An upload holds its journal under an exclusive
``flock``, so a second process uploading the same file to the same key
fails at once (:class:`UploadBusy`) instead of resuming the same upload.
A journal that does not parse means starting over. A journal whose upload
cannot be resumed (``resumable`` false) has a name of its own, is removed
when its upload ends either way, and one that outlived its process is
aborted by the next sweep however recent it is: nothing can ever resume it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .._escape import shown
from ..errors import LocalIOError, UploadBusy
from .cachedir import cache_folder

SUFFIX = ".cdn-upload"
#: Seconds an upload waits for a journal another process has locked before
#: it is refused as busy: a listing or a sweep holds one while it reads it
#: (a sweep that aborts a stale upload, across that request); an upload,
#: for as long as it runs.
BUSY_WAIT = 2.0
FORMAT = 1
#: ``(device, inode, size, mtime_ns)`` of a file: any write changes mtime.
Identity = tuple[int, int, int, int]


def folder() -> Path:
    return cache_folder("uploads")


def path_for(endpoint: str, bucket: str, key: str, identity: Identity) -> Path:
    """The journal of an upload of the file ``identity`` names to ``bucket/key``
    (by device and inode only: the same file changed since finds the old
    journal, and with it the stale upload to abort)."""
    device, inode, _, _ = identity
    text = "\0".join([endpoint, bucket, key, str(device), str(inode)])
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    return folder() / f"{digest[:32]}{SUFFIX}"


def path_for_one(endpoint: str, bucket: str, key: str) -> Path:
    """A journal name of its own for one upload that cannot be resumed (no
    later run looks for it by name: a sweep finds it by its header)."""
    text = "\0".join([endpoint, bucket, key, uuid.uuid4().hex])
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    return folder() / f"{digest[:32]}{SUFFIX}"


@dataclass(frozen=True)
class Header:
    """What a journal's parts are of. Two headers equal but for
    ``upload_id`` and ``path`` describe the same upload."""

    endpoint: str
    bucket: str
    key: str
    identity: Identity
    part_size: int
    algorithm: str
    full_crc: int
    #: SHA-256 of the headers and metadata the upload was created with.
    options: str
    upload_id: str = ""
    #: The file's path when the upload began (shown by ``clean``, not compared).
    path: str = ""
    #: False for an upload no later run can resume (memory, a deploy, resume
    #: off): recorded only so that it can be aborted if its process died.
    resumable: bool = True

    def same_upload(self, other: Header) -> bool:
        mine = {**asdict(self), "upload_id": "", "path": ""}
        return mine == {**asdict(other), "upload_id": "", "path": ""}

    def line(self) -> str:
        return json.dumps({"journal": FORMAT, **asdict(self)}, sort_keys=True)

    @classmethod
    def parse(cls, line: str) -> Header | None:
        try:
            fields: dict[str, Any] = json.loads(line)
            if fields.pop("journal") != FORMAT:
                return None
            fields["identity"] = tuple(int(n) for n in fields["identity"])
            header = cls(**fields)
        except (ValueError, TypeError, KeyError):
            return None
        if len(header.identity) != 4 or not header.upload_id:
            return None
        if not isinstance(header.resumable, bool):
            return None
        return header


@dataclass(frozen=True)
class Part:
    """A part the server confirmed: its number, ETag and CRC."""

    number: int
    etag: str
    crc: int


@dataclass(frozen=True)
class Recorded:
    """What a journal holds: ``header`` None if it has none that parses,
    ``parts`` None if a part line is damaged."""

    header: Header | None
    parts: list[Part] | None


def _parts(lines: list[str]) -> list[Part] | None:
    parts = []
    for line in lines:
        try:
            number, etag, crc = json.loads(line)
        except ValueError:
            return None
        if not (isinstance(number, int) and isinstance(etag, str) and isinstance(crc, int)):
            return None
        parts.append(Part(number, etag, crc))
    return parts


class Journal:
    """An open journal, locked until :meth:`close` (or :meth:`remove`)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd
        self._lock = threading.Lock()

    @classmethod
    def lock(cls, path: Path) -> Journal:
        """Opens (creating) and locks the journal at ``path``; raises
        :class:`UploadBusy` if another upload holds it, :class:`LocalIOError`
        if it cannot be opened."""
        # Others lock a journal for a moment too: a sweep, or a listing of
        # interrupted uploads, in another process, reads it under the lock.
        # The lock has no timed wait, so it is asked again for a while
        # before the upload is called busy (the soak found a run refused
        # because another process's sweep was reading its journal).
        deadline = time.monotonic() + BUSY_WAIT
        pause = 0.001
        while (journal := cls.try_lock(path, create=True)) is None:
            if time.monotonic() >= deadline:
                raise UploadBusy(
                    "another upload of this file to this key is running (it holds "
                    f"{shown(str(path))}); run again once it ended"
                )
            time.sleep(pause)
            pause = min(2 * pause, 0.05)
        return journal

    @classmethod
    def try_lock(cls, path: Path, create: bool = False) -> Journal | None:
        """The journal at ``path`` locked, or None if another upload holds it
        (or, without ``create``, it is gone)."""
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        while True:
            try:
                if create:
                    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(path, flags, 0o600)
            except FileNotFoundError:
                if create:
                    raise
                return None
            except OSError as err:
                raise LocalIOError(
                    f"cannot open the upload journal {shown(str(path))}: {err.strerror}"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            # The holder we raced may have finished and removed it: a journal
            # no longer linked is nobody's; open the name again.
            if os.fstat(fd).st_nlink > 0:
                return cls(path, fd)
            os.close(fd)
            if not create:
                return None

    def read(self) -> Recorded | None:
        """What the journal holds; None if it is empty (new)."""
        with self._lock:
            size = os.fstat(self._fd).st_size
            data = os.pread(self._fd, size, 0)
        if not data:
            return None
        try:
            lines = data.decode().split("\n")
        except UnicodeDecodeError:
            return Recorded(None, None)
        # Every line ends with a newline; a last line without one was cut.
        if lines[-1] != "":
            return Recorded(Header.parse(lines[0]), None)
        return Recorded(Header.parse(lines[0]), _parts(lines[1:-1]))

    def start(self, header: Header) -> None:
        """Empties the journal and records ``header``."""
        with self._lock:
            os.ftruncate(self._fd, 0)
            self._write(header.line(), 0)

    def append(self, part: Part) -> None:
        """Records ``part`` as stored by the server."""
        with self._lock:
            self._write(json.dumps([part.number, part.etag, part.crc]), os.fstat(self._fd).st_size)

    def _write(self, line: str, offset: int) -> None:
        data = (line + "\n").encode()
        try:
            written = os.pwrite(self._fd, data, offset)
            if written != len(data):
                raise OSError(0, "short write")
            os.fdatasync(self._fd)
        except OSError as err:
            raise LocalIOError(
                f"cannot write the upload journal {shown(str(self.path))}: {err.strerror}"
            ) from None

    def remove(self) -> None:
        """Removes the journal, then lets go of it."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.close()

    def close(self) -> None:
        """Lets go of the journal (its lock with it); one that records
        nothing (its upload was never begun) is removed. Idempotent."""
        with self._lock:
            if self._fd < 0:
                return
            if os.fstat(self._fd).st_size == 0:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
            os.close(self._fd)
            self._fd = -1


def find() -> list[Path]:
    """Every upload journal in the cache folder, in name order."""
    try:
        return sorted(p for p in folder().iterdir() if p.name.endswith(SUFFIX))
    except FileNotFoundError:
        return []


def interrupted() -> list[tuple[Path, Header | None]]:
    """The journals no running upload holds, with their headers (None: the
    journal is damaged)."""
    found = []
    for path in find():
        journal = Journal.try_lock(path)
        if journal is None:
            continue
        try:
            recorded = journal.read()
        finally:
            journal.close()
        found.append((path, recorded.header if recorded is not None else None))
    return found


def discard(
    path: Path, abort: Callable[[Header], None], endpoint: str, only_unresumable: bool = False
) -> bool:
    """Aborts the upload the journal at ``path`` records (through ``abort``,
    if it is of ``endpoint``: this key cannot abort others) and removes the
    journal; a damaged one is only removed. With ``only_unresumable``, only
    a journal of an upload that cannot be resumed is. False if it was left:
    in use, gone, of another endpoint, or (so asked) resumable."""
    journal = Journal.try_lock(path)
    if journal is None:
        return False
    try:
        recorded = journal.read()
        header = recorded.header if recorded is not None else None
        if only_unresumable and (header is None or header.resumable):
            return False
        if header is not None:
            if header.endpoint != endpoint:
                return False
            abort(header)
        journal.remove()
        return True
    finally:
        journal.close()


def sweep(
    endpoint: str, older_than: float, abort: Callable[[Header], None], now: float | None = None
) -> int:
    """:func:`discard` for every journal not written for ``older_than``
    seconds, and for every journal of an upload that cannot be resumed whose
    process is gone (no lock held); returns how many were removed."""
    limit = (time.time() if now is None else now) - older_than
    removed = 0
    for path in find():
        try:
            stale = path.stat().st_mtime < limit
        except FileNotFoundError:
            continue
        removed += discard(path, abort, endpoint, only_unresumable=not stale)
    return removed


def kept(endpoint: str, bucket: str, key: str, file: Path) -> tuple[int, int] | None:
    """What an interrupted upload of ``file`` to ``bucket/key`` left on the
    server for the next run (a multipart upload, perhaps still without a
    part): ``(bytes in the parts its journal records, the file's size)``;
    None if no journal records such an upload (or another upload holds it)."""
    try:
        st = file.stat()
    except OSError:
        return None
    path = path_for(endpoint, bucket, key, (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    journal = Journal.try_lock(path)
    if journal is None:
        return None
    try:
        recorded = journal.read()
    finally:
        journal.close()
    if recorded is None or recorded.header is None:
        return None
    size, part_size = recorded.header.identity[2], recorded.header.part_size
    stored = sum(
        max(0, min(part_size, size - (part.number - 1) * part_size))
        for part in recorded.parts or []
    )
    return stored, size
