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

Before every CreateMultipartUpload, an upload writes a journal of its own
that records the intent: endpoint, bucket, key, its process id, and when
the call began and the latest it could end (``began``, ``until``, by this
machine's clock), with no upload id. It stays until the upload's journal
names the id the server answered, so a process killed in between (SIGKILL:
nothing can be caught) leaves a journal that knows "an upload of this key,
begun in that window". (A journal of its own: rewritten in place, a journal
would be empty for an instant, and an empty journal is one whose upload
sent nothing yet.)
A sweep resolves it as ``_resume/unaborted.py`` resolves a creation whose
answer was lost: it lists the key's unfinished uploads begun in the window
without parts, and aborts them (:func:`settle_intent`). The intent's fields
are written only while there is no id: a journal that names its upload is
the format older versions read (a journal of an intent, which they cannot
parse, they remove as damaged).
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import json
import logging
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
from . import unaborted
from .cachedir import cache_folder

log = logging.getLogger("cdn_manager")

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
    ``upload_id``, ``path`` and an intent's fields describe the same upload."""

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
    #: An intent (no ``upload_id`` yet): this machine's wall-clock seconds
    #: when CreateMultipartUpload was about to be sent, and the latest it
    #: could still be answered (its retries and timeouts spent); and the
    #: process that sent it (shown by ``clean``). 0 in a journal that names
    #: its upload.
    began: float = 0.0
    until: float = 0.0
    pid: int = 0

    @property
    def intent(self) -> bool:
        """Whether the journal records a creation whose id it never learnt."""
        return not self.upload_id

    def creation(self, now: float | None = None) -> unaborted.Unanswered:
        """The creation an intent records, as the search for orphans takes
        it: it cannot have ended after ``now`` (its process is gone)."""
        latest = time.time() if now is None else now
        return unaborted.Unanswered(self.bucket, self.key, self.began, min(self.until, latest))

    def same_upload(self, other: Header) -> bool:
        ignored = {"upload_id": "", "path": "", "began": 0.0, "until": 0.0, "pid": 0}
        return {**asdict(self), **ignored} == {**asdict(other), **ignored}

    def line(self) -> str:
        recorded = asdict(self)
        # Left out at their defaults: a journal that names its upload stays
        # one that older versions read.
        for name in INTENT_FIELDS:
            if not recorded[name]:
                del recorded[name]
        return json.dumps({"journal": FORMAT, **recorded}, sort_keys=True)

    @classmethod
    def parse(cls, line: str) -> Header | None:
        try:
            recorded: dict[str, Any] = json.loads(line)
            if recorded.pop("journal") != FORMAT:
                return None
            recorded["identity"] = tuple(int(n) for n in recorded["identity"])
            header = cls(**recorded)
        except (ValueError, TypeError, KeyError):
            return None
        if len(header.identity) != 4 or not isinstance(header.resumable, bool):
            return None
        numbers = (header.began, header.until, header.pid)
        if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
            return None
        # Either the upload's id, or the window in which it was created.
        if header.intent and not 0 < header.began <= header.until:
            return None
        return header


#: The fields of an intent, left out of a journal that names its upload.
INTENT_FIELDS = ("began", "until", "pid")


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


#: Settles the upload a journal records (given the journal and its header):
#: True when the journal may go, False to keep it for a later sweep.
Settle = Callable[[Path, Header], bool]


def discard(path: Path, settle: Settle, endpoint: str, only_unresumable: bool = False) -> bool:
    """Settles the upload the journal at ``path`` records (through
    ``settle``, if it is of ``endpoint``: this key cannot abort others) and
    removes the journal if ``settle`` says it may go; a damaged one is only
    removed. With ``only_unresumable``, only a journal of an upload that
    cannot be resumed is. False if it was left: in use, gone, of another
    endpoint, (so asked) resumable, or kept by ``settle``."""
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
            if not settle(path, header):
                return False
        journal.remove()
        return True
    finally:
        journal.close()


def sweep(endpoint: str, older_than: float, settle: Settle, now: float | None = None) -> int:
    """:func:`discard` for every journal not written for ``older_than``
    seconds, and for every journal of an upload that cannot be resumed
    (intents included) whose process is gone (no lock held); returns how
    many were removed."""
    limit = (time.time() if now is None else now) - older_than
    removed = 0
    for path in find():
        try:
            stale = path.stat().st_mtime < limit
        except FileNotFoundError:
            continue
        removed += discard(path, settle, endpoint, only_unresumable=not stale)
    return removed


class Settled(enum.Enum):
    """How :func:`settle_intent` left an intent."""

    #: Every upload it may have made is aborted, or it made none.
    DONE = "done"
    #: The server cannot say what it made (see ``unaborted.Search.sure``).
    UNKNOWABLE = "unknowable"
    #: Not now: the server could not be asked, an abort failed, or a running
    #: upload of the same key may have made what the search found.
    LATER = "later"


def settle_intent(
    path: Path, header: Header, client: Any, reader: Any, now: float | None = None
) -> Settled:
    """Aborts the uploads that the creation the intent at ``path`` records
    may have made and no one knows: those of its key begun in its window,
    without parts (found by ``unaborted.orphans``, listed with ``client``,
    the write key's, or ``reader``'s where only a reader may list), and
    named by no other journal. The caller holds the intent's lock."""
    creation = header.creation(now)
    found = unaborted.orphans(client, reader, creation)
    if found is None:
        return Settled.LATER
    # Listed first, looked for second: an upload of the key that a running
    # upload created (after it wrote its intent, so before the listing) is
    # named by its journal, or by its intent, locked, now.
    known, running = _others(path, header)
    lost = [upload_id for upload_id in found.orphans if upload_id not in known]
    if lost and running:
        log.info(
            "an upload of %s/%s is running here: the uploads of that key begun while a "
            "process that died was creating one (%s) are left for a later sweep",
            shown(header.bucket),
            shown(header.key),
            shown(", ".join(lost)),
        )
        return Settled.LATER
    done = True
    for upload_id in lost:
        log.info(
            "aborting upload %s of %s/%s: created for process %d, which ended before its "
            "journal could name it",
            shown(upload_id),
            shown(header.bucket),
            shown(header.key),
            header.pid,
        )
        done &= unaborted.abort(client, header.bucket, header.key, upload_id, listed=True)
    if not done:
        return Settled.LATER
    return Settled.DONE if found.sure else Settled.UNKNOWABLE


def _others(path: Path, header: Header) -> tuple[set[str], bool]:
    """The upload ids that the journals other than ``path`` of the same
    bucket and key name, and whether one of them is the intent of a running
    upload (locked: its process lives), or is unreadable while locked (being
    written), which may be one. Of any endpoint: the same server may be
    reached by another name (a proxy), and a journal of another server's
    key of the same name only makes the sweep wait."""
    same = (header.bucket, header.key)
    others = [other for other in find() if other != path]
    # Intents first: a running upload names its new upload in a journal
    # before it removes its intent, so an intent gone by the time it is
    # looked for has its upload named in a journal read after.
    for other in others:
        written, theirs = _peek(other)
        if not written or (theirs is not None and not theirs.intent):
            continue
        if theirs is not None and (theirs.bucket, theirs.key) != same:
            continue
        probe = Journal.try_lock(other)
        if probe is not None:
            probe.close()
        elif other.exists():
            return set(), True
    known = set()
    for other in others:
        _, theirs = _peek(other)
        if theirs is None or theirs.intent:
            continue
        if (theirs.bucket, theirs.key) == same:
            known.add(theirs.upload_id)
    return known, False


def _peek(path: Path) -> tuple[bool, Header | None]:
    """Whether a journal, read without its lock, holds anything (one empty
    or gone was not written yet, and a creation is written about before it
    is sent), and its header, None if it does not parse (damaged, or being
    written)."""
    try:
        with path.open("rb") as file:
            first = file.readline()
    except OSError:
        return False, None
    return bool(first), Header.parse(first.decode(errors="replace")) if first else None


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
    if recorded is None or recorded.header is None or recorded.header.intent:
        return None
    size, part_size = recorded.header.identity[2], recorded.header.part_size
    stored = sum(
        max(0, min(part_size, size - (part.number - 1) * part_size))
        for part in recorded.parts or []
    )
    return stored, size
