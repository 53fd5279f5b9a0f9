"""``cdn-manager local-server``: the embedded S3 server in the foreground,
with a ``cdn.yaml`` for it that disappears when it stops."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import tempfile
from pathlib import Path

from .._threads import threads_leave_signals
from ..errors import CDNError, ConfigError
from .app import DEFAULT_CONFIG, EXIT_OK, PROG, App, config_target


def write_config(path: Path, text: str, force: bool) -> None:
    """Writes ``path`` (mode 600: it holds secrets) in one step; never
    replaces an existing file unless ``force``."""
    fd, temp = tempfile.mkstemp(prefix=".cdn-yaml-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        if force:
            os.replace(temp, path)
        else:
            os.link(temp, path)  # fails if path exists, so nothing is overwritten
    except FileExistsError:
        raise ConfigError(
            f"{path} exists: pass --force to replace it, or --config to write another file"
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def port_must_be_free(port: int) -> None:
    """Raises unless ``127.0.0.1:port`` can be listened on (moto's server
    would wait forever for a port it cannot have)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            raise CDNError(
                f"cannot listen on 127.0.0.1:{port}: {err.strerror}", reason="PortInUse"
            ) from None


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_local_server(app: App, args: argparse.Namespace) -> int:
    config = config_target(app.config)
    if config.exists() and not args.force:
        raise ConfigError(
            f"{config} exists: pass --force to replace it, or --config to write another file"
        )
    if args.port is not None:
        port_must_be_free(args.port)
    try:
        from ..local_server import start_local_server

        # Its threads leave Ctrl-C to this one, which waits in signal.pause().
        with threads_leave_signals():
            server = start_local_server(bucket=args.bucket, port=args.port)
    except ModuleNotFoundError as err:
        raise CDNError(
            f"local-server needs {err.name}: pip install 'cdn-manager[server]'",
            reason="MissingDependency",
        ) from None
    text = server.credentials.to_yaml()
    # Ctrl-C and SIGTERM (kill, a service manager) both stop the server, even
    # when a shell started it with SIGINT ignored (a background job).
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in STOP_SIGNALS}
    try:
        write_config(config, text, args.force)
        try:
            creds = server.credentials
            flag = "" if str(config) == DEFAULT_CONFIG else f" --config {config}"
            app.say(
                f"local S3 server (moto, IAM enforced) at {server.endpoint}\n"
                f"  bucket     {server.bucket}\n"
                f"  read key   {creds.downloader_access_key} (may only read and list)\n"
                f"  write key  {creds.uploader_access_key} (may only write and delete)\n"
                f"  config     {config} (its keys end with the server)\n"
                f"try:  {PROG}{flag} push ./some-folder {server.bucket}/site\n"
                f"      {PROG}{flag} ls {server.bucket}\n"
                f"      {PROG}{flag} doctor {server.bucket}\n"
                "Ctrl-C stops the server."
            )
            app.emit(
                {
                    "ok": True,
                    "endpoint": server.endpoint,
                    "bucket": server.bucket,
                    "config": str(config.resolve()),
                }
            )
            while True:
                signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            with contextlib.suppress(OSError):
                if config.read_text(encoding="utf-8") == text:
                    config.unlink()
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    app.say(f"stopped the server and removed {config}")
    return EXIT_OK
