"""The commands that move and inspect objects: each runs on the library's
raising API and reports through :class:`~cdn_manager.cli.app.App`."""

from __future__ import annotations

import argparse
import contextlib
import mmap
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .. import leftovers
from ..errors import AccessDenied, CDNError, NotFound
from ..escape import shown
from .app import EXIT_FAILURE, EXIT_OK, App, UsageError
from .output import human_size, resumed_note


def split_location(location: str) -> tuple[str, str]:
    """``BUCKET[/PREFIX]`` -> ``(bucket, prefix)``."""
    bucket, _, prefix = location.partition("/")
    if not bucket:
        raise UsageError(f"{location!r}: expected BUCKET or BUCKET/PREFIX")
    return bucket, prefix


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
    else:
        size = Path(args.file).stat().st_size
        with app.progress(size, args.key) as bar:
            app.manager.upload_file(args.bucket, args.key, args.file, progress=bar, **options)
    source = "stdin" if args.file == "-" else args.file
    app.say(f"uploaded {shown(source)} -> {args.bucket}/{shown(args.key)} ({human_size(size)})")
    app.emit({"ok": True, "bucket": args.bucket, "key": args.key, "source": source, "size": size})
    return EXIT_OK


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
        }
    )
    return EXIT_OK


def cmd_ls(app: App, args: argparse.Namespace) -> int:
    bucket, prefix = split_location(args.location)
    objects = []
    for info in app.manager.list(bucket, prefix):
        modified = info.last_modified.strftime("%Y-%m-%d %H:%M:%S") if info.last_modified else "-"
        # Escaped: a key holding a newline or ESC must not forge a row or
        # drive the terminal. --json keeps the exact key.
        app.show(f"{info.size:>12}  {modified}  {shown(info.key)}")
        objects.append(
            {
                "key": info.key,
                "size": info.size,
                "etag": info.etag,
                "last_modified": info.last_modified.isoformat() if info.last_modified else None,
            }
        )
    if not objects:
        where = f"{bucket}/{shown(prefix)}" if prefix else bucket
        app.warn(f"no objects under {where}")
    app.emit({"ok": True, "bucket": bucket, "prefix": prefix, "objects": objects})
    return EXIT_OK


def _gone(app: App, bucket: str, key: str) -> bool:
    """Whether ``bucket/key`` is known to be missing (a HEAD with the read
    key: S3 deletes answer the same for a missing key). A read key refused
    the HEAD cannot tell: the delete then goes ahead."""
    try:
        return not app.manager.exists(bucket, key)
    except AccessDenied:
        return False


def cmd_rm(app: App, args: argparse.Namespace) -> int:
    deleted, failed = [], []
    for key in args.keys:
        try:
            if not args.force and _gone(app, args.bucket, key):
                raise NotFound(f"rm {args.bucket}/{shown(key)}: not found", reason="NoSuchKey")
            app.manager.delete(args.bucket, key)
        except CDNError as err:
            app.error(str(err))
            failed.append({"key": key, "reason": err.reason, "message": app.redact(str(err))})
            continue
        deleted.append(key)
        app.say(f"deleted {args.bucket}/{shown(key)}")
    app.emit({"ok": not failed, "bucket": args.bucket, "deleted": deleted, "failed": failed})
    return EXIT_FAILURE if failed else EXIT_OK


def cmd_presign(app: App, args: argparse.Namespace) -> int:
    url = app.manager.presign_download_url(args.bucket, args.key, args.expires)
    app.show(url)
    expires_at = datetime.now(UTC) + timedelta(seconds=args.expires)
    app.emit(
        {
            "ok": True,
            "bucket": args.bucket,
            "key": args.key,
            "url": url,
            "expires_in": args.expires,
            "expires_at": expires_at.isoformat(timespec="seconds"),
        }
    )
    return EXIT_OK


def cmd_doctor(app: App, args: argparse.Namespace) -> int:
    report = app.manager.check(args.bucket)
    if not app.quiet or not report.ok:
        app.show(app.redact(str(report)))
    app.emit(
        {
            "ok": report.ok,
            "host": report.host,
            "bucket": report.bucket,
            "region": report.region,
            "findings": [asdict(finding) for finding in report.findings],
        }
    )
    return EXIT_OK if report.ok else EXIT_FAILURE


def cmd_clean(app: App, args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    found = leftovers.find(folder)
    for path in found:
        app.show(shown(str(path)))
    if not found:
        app.say(f"nothing left over in {shown(str(folder))}")
    elif args.yes:
        leftovers.remove(found)
        app.say(f"removed {len(found)} files")
    else:
        app.say(f"{len(found)} files left over; run again with --yes to remove them")
    app.emit(
        {
            "ok": True,
            "folder": str(folder),
            "leftovers": [str(p) for p in found],
            "removed": bool(found) and args.yes,
        }
    )
    return EXIT_OK
