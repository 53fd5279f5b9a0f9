"""The ``cdn-manager`` command (also ``python -m cdn_manager``).

Every command runs on the library's raising API and reports in one of two
ways: lines for people on stdout (errors on stderr), or with ``--json`` one
JSON document on stdout. Progress bars go to stderr, only when stderr is a
terminal, so piping or redirecting the output never captures them.
Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted (Ctrl-C, or
SIGTERM, which every command takes as Ctrl-C).

``parser`` holds the grammar, ``commands`` and ``server`` what each command
does, ``app`` what they share, ``output`` the progress bar."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence

from .._escape import printable, shown
from ..errors import CDNError, Interrupted
from .app import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    PROG,
    App,
    UsageError,
    error_document,
    log,
    result_document,
)
from .parser import build_parser


class _Printable(logging.Formatter):
    """Log lines with any control character escaped: the library escapes
    the names it logs, and this is the last line of defence."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def _setup_logging(app: App) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Printable(f"{PROG}: %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.DEBUG if app.debug else logging.ERROR if app.quiet else logging.WARNING)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (kill, a service manager, a CI timeout) stops a command as
    Ctrl-C does: transfers cancelled and cleaned up, exit 130. Only the main
    thread may set handlers (``main`` may run elsewhere, e.g. in tests)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(app: App, err: KeyboardInterrupt) -> int:
    """Reports an interrupt: what completed first (a batch's items, one line
    each), then one error line; the batch had stopped before this runs."""
    completed = err.completed if isinstance(err, Interrupted) else []
    for result in completed:
        where = "" if result.path is None else f" -> {shown(str(result.path))}"
        app.say(f"completed {shown(result.key)}{where}")
    app.error("interrupted")
    document = error_document(err, "interrupted")
    document["completed"] = [result_document(result) for result in completed]
    app.emit(document)
    return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    app = App(args)
    _setup_logging(app)
    try:
        with _sigterm_as_interrupt():
            return int(args.run(app, args))
    except UsageError as err:
        command: argparse.ArgumentParser = args.parser
        command.error(str(err))  # exits 2
    except KeyboardInterrupt as err:
        return _interrupted(app, err)
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as err:
        if app.debug:
            print(app.redact(traceback.format_exc()), file=sys.stderr, end="")
        if isinstance(err, CDNError):
            message = str(err)
        elif isinstance(err, OSError) and err.strerror:
            message = f"{err.filename}: {err.strerror}" if err.filename else err.strerror
        else:
            message = f"unexpected {type(err).__name__}: {err}"
        app.error(message)
        app.emit(error_document(err, app.redact(message)))
        return EXIT_FAILURE
    finally:
        app.close()
