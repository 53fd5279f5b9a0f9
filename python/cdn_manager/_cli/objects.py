"""``ls``, ``rm`` and ``presign``: the commands on objects that move no
bytes and keep nothing, so they load neither the transfers' journals nor
anything else a command that moves bytes needs (start-up, issue 31). Each
runs on the library's raising API and reports through
:class:`~cdn_manager._cli.app.App`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from .._escape import shown
from ..errors import AccessDenied, CDNError, NotFound
from .app import EXIT_FAILURE, EXIT_OK, App, split_location


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
