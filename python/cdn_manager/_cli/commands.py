"""The commands that move objects, and those that look after what
interrupted transfers keep (``doctor``, ``clean``): each runs on the
library's raising API and reports through :class:`~cdn_manager._cli.app.App`.
Those that move no bytes and keep nothing (``ls``, ``rm``, ``presign``)
are in :mod:`.objects`, which loads less."""

from __future__ import annotations

import argparse
import contextlib
import mmap
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from .._checksums import SIZE_ONLY
from .._escape import shown
from .._resume import leftovers, upload_journal
from ..errors import CDNError, ConfigError, NotFound, TransferError
from .app import EXIT_FAILURE, EXIT_OK, PROG, App, UsageError, warn_size_only
from .output import human_size, resumed_note


@contextlib.contextmanager
def stdin_bytes() -> Iterator[memoryview]:
    """Standard input, spooled to an unnamed temporary file (nothing to clean
    up however the process ends) and mapped, so it is not held in memory."""
    with tempfile.TemporaryFile(prefix="cdn-manager-stdin-") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, 1024 * 1024)
        spool.flush()
        size = spool.tell()
        if size == 0:
            yield memoryview(b"")
            return
        mapped = mmap.mmap(spool.fileno(), size, access=mmap.ACCESS_READ)
        try:
            yield memoryview(mapped)
        finally:
            # A failure's traceback may still hold a view of the map; it is
            # then unmapped when that is freed.
            with contextlib.suppress(BufferError):
                mapped.close()


def cmd_upload(app: App, args: argparse.Namespace) -> int:
    options: dict[str, Any] = {
        "content_type": args.content_type,
        "cache_control": args.cache_control,
    }
    if args.file == "-":
        if sys.stdin.isatty():
            app.warn("reading the object from the terminal; end it with Ctrl-D")
        with stdin_bytes() as data:
            size = len(data)
            with app.progress(size, args.key) as bar:
                app.manager.put_bytes(args.bucket, args.key, data, progress=bar, **options)
        resumed = 0  # standard input is not resumable
    elif Path(args.file).is_dir():
        raise UsageError(
            f"{shown(args.file)} is a folder: `{PROG} push {shown(args.file)} "
            f"{args.bucket}/{shown(args.key)}` uploads a folder (only what changed)"
        )
    else:
        size = Path(args.file).stat().st_size
        app.kept = partial(_upload_kept, app, args.bucket, args.key, Path(args.file))
        with app.progress(size, args.key) as bar:
            result = app.manager.upload_file(
                args.bucket, args.key, args.file, progress=bar, **options
            )
        resumed = result.resumed_bytes
    if resumed:
        app.say(resumed_note(resumed, size))
    source = "stdin" if args.file == "-" else args.file
    app.say(f"uploaded {shown(source)} -> {args.bucket}/{shown(args.key)} ({human_size(size)})")
    app.emit(
        {
            "ok": True,
            "bucket": args.bucket,
            "key": args.key,
            "source": source,
            "size": size,
            "resumed_bytes": resumed,
        }
    )
    return EXIT_OK


def _upload_kept(app: App, bucket: str, key: str, file: Path) -> tuple[int, str] | None:
    kept = upload_journal.kept(app.manager.creds.host, bucket, key, file)
    if kept is None:
        return None
    stored, size = kept
    return stored, (
        f"the server keeps {human_size(stored)} of {human_size(size)} of this upload: run the "
        f"same command again to resume it, or `{PROG} clean` to discard it"
    )


def _download_kept(target: Path) -> tuple[int, str] | None:
    kept = leftovers.kept(target)
    if kept is None:
        return None
    folder = shown(str(target.parent))
    return kept, (
        f"{human_size(kept)} of the download kept in {folder}: run the same command again to "
        f"resume it, or `{PROG} clean {folder}` to discard it"
    )


def pull_kept(folder: Path) -> tuple[int, str] | None:
    """What the downloads of an interrupted pull into ``folder`` keep."""
    journals = [p for p in leftovers.find(folder) if p.name.endswith(leftovers.JOURNAL)]
    kept = sum(leftovers.journaled_bytes(journal) or 0 for journal in journals)
    if not kept:
        return None
    shown_folder = shown(str(folder))
    downloads = "1 download keeps" if len(journals) == 1 else f"{len(journals)} downloads keep"
    return kept, (
        f"{downloads} {human_size(kept)} in {shown_folder}: run the same command again to "
        f"resume, or `{PROG} clean {shown_folder}` to discard what was kept"
    )


def download_target(key: str, dest: str | None) -> Path:
    """``DEST`` as given, or the key's last component in ``DEST`` (a folder,
    or one ending in ``/``) or in the working directory."""
    if dest is not None and not dest.endswith("/") and not Path(dest).is_dir():
        return Path(dest)
    name = key.rpartition("/")[2]
    if not name:
        raise UsageError(f"key '{shown(key)}' ends with '/': give DEST, the file to write")
    return Path(dest or ".") / name


def cmd_download(app: App, args: argparse.Namespace) -> int:
    to_stdout = args.dest == "-"
    if to_stdout and app.json:
        raise UsageError("--json cannot be used with DEST '-': stdout carries the object")
    manager = app.manager
    total = manager.stat(args.bucket, args.key).size if app.shows_progress else 0
    if to_stdout:
        with app.progress(total, args.key) as bar:
            data = manager.download_bytes(args.bucket, args.key, progress=bar)
        # Only verified bytes reach stdout: the whole object was checked first.
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return EXIT_OK
    target = download_target(args.key, args.dest)
    app.kept = partial(_download_kept, target)
    with app.progress(total, args.key) as bar:
        (result,) = manager.download_many(
            args.bucket, [(args.key, target.name)], target.parent, progress=bar
        )
    if result.error is not None:
        raise result.error
    path = result.path or target
    size = path.stat().st_size
    if result.resumed_bytes:
        app.say(resumed_note(result.resumed_bytes, size))
    if result.verified == SIZE_ONLY:
        warn_size_only(app, [args.key])
    app.say(
        f"downloaded {args.bucket}/{shown(args.key)} -> {shown(str(path))} ({human_size(size)})"
    )
    app.emit(
        {
            "ok": True,
            "bucket": args.bucket,
            "key": args.key,
            "path": str(path),
            "size": size,
            "resumed_bytes": result.resumed_bytes,
            "verified": result.verified,
        }
    )
    return EXIT_OK


def cmd_doctor(app: App, args: argparse.Namespace) -> int:
    report = app.manager.check(args.bucket)
    if not app.quiet or not report.ok:
        app.show(app.redact(str(report)))
    # Informational, never a failure: what interrupted transfers kept (in
    # this folder only: a walk of a whole tree could take long).
    files = leftovers.find(Path("."), recursive=False)
    uploads = upload_journal.interrupted()
    if files or uploads:
        app.say(
            f"leftovers: {len(files)} files of interrupted downloads in this folder, "
            f"{len(uploads)} interrupted uploads in {shown(str(upload_journal.folder()))} "
            f"(see `{PROG} clean`)"
        )
    app.emit(
        {
            "ok": report.ok,
            "host": report.host,
            "bucket": report.bucket,
            "region": report.region,
            "hint": report.hint,
            "findings": [asdict(finding) for finding in report.findings],
            "leftovers": {"download_files": len(files), "interrupted_uploads": len(uploads)},
        }
    )
    return EXIT_OK if report.ok else EXIT_FAILURE


def cmd_clean(app: App, args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    found = leftovers.find(folder)
    uploads = upload_journal.interrupted()
    for path in found:
        app.show(shown(str(path)))
    for journal, header in uploads:
        app.show(_upload_line(journal, header))
    if not found and not uploads:
        app.say(f"nothing left over in {shown(str(folder))}, no interrupted upload")
    remove = bool(found or uploads) and (args.yes or _confirmed(app, len(found), len(uploads)))
    aborted = 0
    if remove:
        leftovers.remove(found)
        if found:
            app.say(f"removed {len(found)} files")
        aborted = _abort_uploads(app, uploads)
    elif found or uploads:
        app.say(
            f"{len(found)} files left over, {len(uploads)} interrupted uploads; "
            "run again with --yes to remove them"
        )
    app.emit(
        {
            "ok": True,
            "folder": str(folder),
            "leftovers": [str(p) for p in found],
            "uploads": [_upload_document(journal, header) for journal, header in uploads],
            "removed": remove,
            "aborted": aborted,
        }
    )
    return EXIT_OK


def _upload_line(journal: Path, header: upload_journal.Header | None) -> str:
    if header is None:
        return f"{shown(str(journal))}: a damaged upload journal"
    if header.intent:
        began = datetime.fromtimestamp(header.began, UTC).isoformat(timespec="seconds")
        which = f"id unknown: process {header.pid} was creating it at {began}"
    else:
        which = f"id {shown(header.upload_id)}"
    return (
        f"{shown(str(journal))}: upload of {shown(header.path)} to {shown(header.endpoint)} "
        f"{shown(header.bucket)}/{shown(header.key)} ({which})"
    )


def _upload_document(journal: Path, header: upload_journal.Header | None) -> dict[str, Any]:
    if header is None:
        return {"journal": str(journal), "damaged": True}
    document: dict[str, Any] = {
        "journal": str(journal),
        "endpoint": header.endpoint,
        "bucket": header.bucket,
        "key": header.key,
        "file": header.path,
        "upload_id": header.upload_id or None,
    }
    if header.intent:
        document["began"] = datetime.fromtimestamp(header.began, UTC).isoformat()
        document["pid"] = header.pid
    return document


def _settle_intent(app: App, path: Path, header: upload_journal.Header) -> bool:
    """Aborts what a process that died creating an upload may have made;
    raises (keeping the journal) when that cannot be told now."""
    manager = app.manager
    settled = upload_journal.settle_intent(
        path, header, manager.upload_client, manager.download_client
    )
    if settled is upload_journal.Settled.LATER:
        raise TransferError(
            f"the upload of {shown(header.bucket)}/{shown(header.key)} that process "
            f"{header.pid} was creating cannot be settled now (the server did not answer, or "
            f"an upload of that key is running); run `{PROG} clean` again later",
            operation="clean",
            bucket=header.bucket,
            key=header.key,
        )
    if settled is upload_journal.Settled.UNKNOWABLE:
        # Asked to clean, the journal goes: kept, it would be listed again
        # at every `clean`, and the server will not say more.
        app.warn(
            f"the server cannot say whether process {header.pid} created an upload of "
            f"{shown(header.bucket)}/{shown(header.key)}; one without parts may remain"
        )
    return True


def _confirmed(app: App, files: int, uploads: int) -> bool:
    """Asks on a terminal (without --json); anything but yes is no."""
    if app.json or not sys.stdin.isatty():
        return False
    answer = input(f"remove {files} files and abort {uploads} interrupted uploads? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _abort_uploads(app: App, uploads: list[tuple[Path, upload_journal.Header | None]]) -> int:
    """Aborts the uploads (write key) the journals record on the configured
    endpoint and removes their journals; returns how many journals went."""
    if not uploads:
        return 0
    endpoint = ""  # damaged journals alone need no key to be removed
    if any(header is not None for _, header in uploads):
        try:
            endpoint = app.manager.creds.host
        except ConfigError as err:
            app.warn(f"interrupted uploads left: no write key to abort them with ({err})")
            return 0

    def abort(path: Path, header: upload_journal.Header) -> bool:
        if header.intent:
            return _settle_intent(app, path, header)
        # NotFound: already gone (aborted, completed, or expired by the server).
        with contextlib.suppress(NotFound):
            app.manager.abort_upload(header.bucket, header.key, header.upload_id)
        return True

    done = elsewhere = 0
    for journal, _ in uploads:
        try:
            if upload_journal.discard(journal, abort, endpoint):
                done += 1
            else:
                elsewhere += 1
        except CDNError as err:
            app.warn(f"{shown(str(journal))} left: {err}")
    app.say(f"aborted {done} interrupted uploads (and removed their journals)")
    if elsewhere:
        app.warn(f"{elsewhere} interrupted uploads left: of another endpoint than {endpoint}")
    return done
