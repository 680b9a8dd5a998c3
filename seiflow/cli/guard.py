"""The boundary of every `seiflow` command: whatever goes wrong, one line on stderr and an exit
code, never a Python traceback on the terminal.

- exit 0: done; 1: a failed calculation reported by the command, or an internal error (a bug:
  ``error: internal error: ...``, its traceback in the error log);
- exit 2: bad input (a config or option seiflow refuses, a missing or unreadable file, a
  config that is not UTF-8, a label store that cannot be opened or reached);
- exit 130: interrupted (Ctrl-C); commands that resume say so.

Errors that seiflow raises on purpose (:class:`SeiflowError`) are the whole message; every
other exception also has its full traceback written to the error log
(:func:`error_log_path`), whose path ends the line.
"""

from __future__ import annotations

import datetime
import os
import sqlite3
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text
from typer import Abort

try:  # typer >= 0.22 vendors click
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import ClickException, UsageError

from seiflow.core.errors import SeiflowError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
LOG_NAME = "seiflow-error.log"
LOG_ENV = "SEIFLOW_LOG_DIR"
LOG_MAX_BYTES = 1_000_000  # the log is appended to, and started afresh above this size
MAX_MESSAGE = 600  # characters of an exception's message shown on the line
# commands whose rerun continues where an interrupted run stopped
RESUMABLE = frozenset({"build", "label", "train", "learn", "resume", "md", "md-batched",
                       "validate", "import"})
BAD_INPUT: tuple[type[BaseException], ...] = (
    SeiflowError, ValidationError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
    PermissionError, UnicodeDecodeError, sqlite3.DatabaseError,
    # reading YAML only: an error writing YAML (RepresenterError...) is seiflow's own bug
    yaml.MarkedYAMLError, yaml.reader.ReaderError)


def _console() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def say_error(message: str) -> None:
    """``error: message`` as one line on stderr (no markup is interpreted in ``message``)."""
    _console().print(Text.assemble(("error:", "bold red"), " ", one_line(message)))


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` with its lines joined by '; ' and cut to ``limit`` characters."""
    parts = [p.strip() for p in str(text).splitlines() if p.strip()]
    line = "; ".join(parts)
    return line if len(line) <= limit else line[:limit - 1] + "…"


def error_log_path() -> Path:
    """Where tracebacks go: ``$SEIFLOW_LOG_DIR/seiflow-error.log`` if that variable is set,
    else ``seiflow-error.log`` in the working directory, or in the temporary directory when
    the working directory is not writable."""
    folder = os.environ.get(LOG_ENV)
    if folder:
        return Path(folder) / LOG_NAME
    if os.access(os.getcwd(), os.W_OK):
        return Path(os.getcwd()) / LOG_NAME
    return Path(tempfile.gettempdir()) / f"seiflow-error-{os.getuid()}.log"


def write_error_log(exc: BaseException, argv: Sequence[str]) -> Path | None:
    """Append the traceback of ``exc`` (with the command and time) to the error log; returns
    its path, or None when no log could be written."""
    from seiflow import __version__

    path = error_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        big = path.is_file() and path.stat().st_size > LOG_MAX_BYTES
        with path.open("w" if big else "a", encoding="utf-8") as fh:
            stamp = datetime.datetime.now().isoformat(timespec="seconds")
            fh.write(f"=== {stamp} seiflow {__version__} (pid {os.getpid()}, cwd "
                     f"{os.getcwd()})\n$ seiflow {' '.join(argv)}\n")
            fh.write("".join(traceback.format_exception(exc)) + "\n")
    except OSError:
        return None
    return path


def _where(log: Path | None) -> str:
    return f" (traceback in {log})" if log else " (no error log could be written)"


def _database_error(exc: BaseException) -> str | None:
    """One line for a label store that cannot be opened or reached (SQLite, PostgreSQL)."""
    if isinstance(exc, sqlite3.DatabaseError):
        return f"label store: {exc} (is it a seiflow .db file?)"
    if type(exc).__module__.startswith("psycopg2") and type(exc).__name__ == "OperationalError":
        return f"cannot connect to the PostgreSQL label store: {one_line(str(exc), 300)}"
    return None


def _bad_input(exc: BaseException) -> bool:
    return isinstance(exc, BAD_INPUT) or _database_error(exc) is not None


def _message(exc: BaseException) -> str:
    """The line shown for a bad-input exception that seiflow did not raise itself."""
    db = _database_error(exc)
    if db:
        return db
    if isinstance(exc, ValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                    for e in exc.errors()]
        return f"invalid {exc.title}: " + "; ".join(problems)
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not UTF-8 text: {exc}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    return f"{type(exc).__name__}: {exc}"


def report_exception(exc: BaseException, argv: Sequence[str]) -> int:
    """One line for ``exc`` on stderr (traceback into the error log unless seiflow raised it
    on purpose); returns the exit code."""
    if isinstance(exc, SeiflowError):
        say_error(str(exc))
        return EXIT_BAD_INPUT
    log = write_error_log(exc, argv)
    if _bad_input(exc):
        say_error(one_line(_message(exc)) + _where(log))
        return EXIT_BAD_INPUT
    say_error(f"internal error: {type(exc).__name__}: {one_line(str(exc), 300)}{_where(log)}; "
              "please report it with that log")
    return EXIT_FAILED


def report_usage(exc: ClickException) -> int:
    """One line for a bad command line (unknown option, wrong type...); help when there were
    no arguments."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        return exc.exit_code  # the help is printed
    hint = ""
    if isinstance(exc, UsageError) and exc.ctx is not None:
        hint = f" (see '{exc.ctx.command_path} --help')"
    say_error(exc.format_message() + hint)
    return exc.exit_code


def report_interrupt(argv: Sequence[str]) -> int:
    """The line for Ctrl-C: whether rerunning the same command resumes."""
    words = [a for a in argv if not a.startswith("-")]
    command = words[1] if words[:1] == ["data"] and len(words) > 1 else (words or [""])[0]
    tail = "; rerun the same command to resume" if command in RESUMABLE else ""
    _console().print(f"interrupted{tail}", markup=False)
    return EXIT_INTERRUPTED


def run_guarded(app: Callable, argv: Sequence[str]) -> int:
    """Run the Typer ``app`` on ``argv``; every outcome becomes an exit code and at most one
    line on stderr."""
    argv = list(argv)
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="seiflow")
    except KeyboardInterrupt:
        return report_interrupt(argv)
    except Abort:
        return report_interrupt(argv)
    except ClickException as exc:
        return report_usage(exc)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            say_error(exc.code)
        return exc.code if isinstance(exc.code, int) else EXIT_OK if exc.code is None \
            else EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - the boundary: anything becomes one line
        return report_exception(exc, argv)
    if rv == EXIT_INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130), silently
        return report_interrupt(argv)
    return rv if isinstance(rv, int) else EXIT_OK

