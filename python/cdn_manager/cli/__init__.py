"""The ``cdn-manager`` command (also ``python -m cdn_manager``).

Every command runs on the library's raising API and reports in one of two
ways: lines for people on stdout (errors on stderr), or with ``--json`` one
JSON document on stdout. Progress bars go to stderr, only when stderr is a
terminal, so piping or redirecting the output never captures them.
Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted (Ctrl-C).

``parser`` holds the grammar, ``commands`` and ``server`` what each command
does, ``app`` what they share, ``output`` the progress bar."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from ..errors import CDNError
from .app import EXIT_FAILURE, EXIT_INTERRUPTED, PROG, App, UsageError, error_document, log
from .parser import build_parser


def _setup_logging(app: App) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.DEBUG if app.debug else logging.ERROR if app.quiet else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    app = App(args)
    _setup_logging(app)
    try:
        return int(args.run(app, args))
    except UsageError as err:
        command: argparse.ArgumentParser = args.parser
        command.error(str(err))  # exits 2
    except KeyboardInterrupt as err:
        app.error("interrupted")
        app.emit(error_document(err, "interrupted"))
        return EXIT_INTERRUPTED
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
