"""The ``cdn-manager`` command (also ``python -m cdn_manager``).

Every command runs on the library's raising API and reports in one of two
ways: lines for people on stdout (errors on stderr), or with ``--json`` one
JSON document on stdout. Progress bars go to stderr, only when stderr is a
terminal, so piping or redirecting the output never captures them.
Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted (Ctrl-C, or
SIGTERM, which every command takes as Ctrl-C).

``parser`` (and ``sync_parser``) hold the grammar, ``commands``, ``sync``,
``releases``, ``server`` and ``completion`` what each command does (each
imported only when its command runs), ``app`` what they share, ``output``
the progress bar."""

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
from importlib import import_module

from .._escape import printable, shown
from ..errors import CDNError, Interrupted
from .app import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    PROG,
    App,
    Handler,
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
    kept = app.kept() if app.kept is not None else None
    app.error("interrupted" if kept is None else f"interrupted: {kept[1]}")
    document = error_document(err, "interrupted")
    document["completed"] = [result_document(result) for result in completed]
    document["kept_bytes"] = 0 if kept is None else kept[0]
    app.emit(document)
    return EXIT_INTERRUPTED


#: What users of other tools type, and our command for it.
_OTHER_NAMES = {
    "cp": "upload or download",
    "put": "upload",
    "get": "download",
    "sync": "push or pull",
    "list": "ls",
    "delete": "rm",
    "remove": "rm",
    "check": "doctor",
}


def _command_word(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """The first word of ``argv`` that is not an option or an option's value."""
    valued = {
        flag for action in parser._actions if action.nargs != 0 for flag in action.option_strings
    }
    words = iter(argv)
    for word in words:
        if word == "--":
            return next(words, None)
        if word in valued:
            next(words, None)
        elif not word.startswith("-") or word == "-":
            return word
    return None


def _check_command(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """No command: the help, with the list of commands (exit 2). A word that
    is no command: the nearest one, if any (exit 2)."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    names = list(commands.choices)
    word = _command_word(parser, argv)
    if word is None:
        if {"-h", "--help", "--version"} & set(argv):
            return
        parser.print_help(sys.stderr)
        parser.exit(2, f"\n{PROG}: error: no command given\n")
    if word in names:
        return
    import difflib  # here: only a word that is no command needs it

    near = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    other = _OTHER_NAMES.get(word.lower())
    if near:
        hint = f"did you mean '{near[0]}'?"
    elif other:
        hint = f"{PROG} calls it {other}"
    else:
        hint = f"the commands are {', '.join(names)}"
    parser.error(f"unknown command '{shown(word)}' ({hint})")


def handler(reference: str) -> Handler:
    """The function a command's ``"module:function"`` names (a module of
    this package), imported now: only the command that runs loads its own."""
    module, _, name = reference.partition(":")
    run: Handler = getattr(import_module(f"{__name__}.{module}"), name)
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit status."""
    parser = build_parser()
    words = sys.argv[1:] if argv is None else list(argv)
    _check_command(parser, words)
    args = parser.parse_args(words)
    app = App(args)
    _setup_logging(app)
    try:
        with _sigterm_as_interrupt():
            return int(handler(args.run)(app, args))
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
