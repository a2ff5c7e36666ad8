"""Every failure of a stage is in its log (``JOB/logs/<stage>.log``), the traceback only there.

:func:`configure_logging` (a stage's main, through shared.stage.start) sets the stage's
handlers and calls :func:`install`:

- what the stage (or click, or a library) writes to stderr goes to the terminal as before
  and, line by line, into the log too: click's ``Error: Invalid value for FILE: ...``
  lines, which click prints itself, are in the log with the rest;
- a log record with ``extra={"log_only": True}`` (a traceback, say) goes to the log file
  and not to the terminal;
- an exception nobody caught is logged with its traceback to the log only; the terminal
  gets one line, ``<stage>: error: <type>: <message> (the traceback is in <log>)``, and
  the stage exits 1 (``-v`` shows the traceback on the terminal as well).
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import TextIO

log = logging.getLogger(__name__)


# Click's "Error: ..." by hand, shared.outcome's "<stage>: error: ..." under make
_ERROR_LINE = re.compile(r"([\w-]+: )?error\b", re.IGNORECASE)


class _NotLogOnly(logging.Filter):
    """Keeps ``log_only`` records off the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "log_only", False)


class _StderrToLog(io.TextIOBase):
    """sys.stderr that also appends each complete line to the stage's log file."""

    def __init__(self, terminal: TextIO, file_handler: logging.Handler, stage: str):
        self.terminal, self.file_handler, self.stage = terminal, file_handler, stage
        self._partial = ""
        self._busy = False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.terminal, "encoding", "utf-8")

    def isatty(self) -> bool:
        return self.terminal.isatty()

    def fileno(self) -> int:
        return self.terminal.fileno()

    def write(self, text: str) -> int:
        self.terminal.write(text)
        if self._busy:  # the file handler itself reporting a problem: terminal only
            return len(text)
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            if line.strip():
                self._to_file(line.rstrip("\r"))
        return len(text)

    def flush(self) -> None:
        self.terminal.flush()

    def _to_file(self, line: str) -> None:
        self._busy = True
        try:
            level = logging.ERROR if _ERROR_LINE.match(line.lstrip()) else logging.INFO
            record = logging.LogRecord(self.stage, level, __file__, 0, "%s", (line,), None)
            record.stderr_line = True
            self.file_handler.handle(record)
        finally:
            self._busy = False


def install(stage: str, log_path: Path, file_handler: logging.Handler, verbose: bool = False) -> None:
    """(A stage's main, through configure_logging.) Route stderr, log-only records and uncaught errors as above."""
    root = logging.getLogger()
    for handler in root.handlers:
        if handler is not file_handler:
            handler.addFilter(_NotLogOnly())
    terminal = sys.stderr.terminal if isinstance(sys.stderr, _StderrToLog) else sys.stderr
    sys.stderr = _StderrToLog(terminal, file_handler, stage)

    def excepthook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, tb)
            return
        text = "".join(traceback.format_exception(kind, error, tb))
        record = logging.LogRecord(stage, logging.ERROR, __file__, 0, "unexpected error:\n%s", (text.rstrip(),), None)
        file_handler.handle(record)
        detail = " ".join(str(error).split())[:300]
        terminal.write(f"{stage}: error: {kind.__name__}{': ' + detail if detail else ''} (the traceback is in {log_path})\n")
        if verbose:
            terminal.write(text)
        terminal.flush()

    sys.excepthook = excepthook


class _JobLogFile(logging.FileHandler):
    """The job's log file; on a full disk it stops writing instead of printing a traceback per line."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            if not getattr(self, "_failed", False):
                self._failed = True
                print(f"{record.name}: cannot write the log {self.baseFilename}: {error.strerror or error}", file=sys.stderr)
            return
        super().handleError(record)


def configure_logging(stage: str, directory: str | os.PathLike[str], verbose: bool = False) -> Path:
    """(A stage's main only.) Log to stderr and append to ``logs/<stage>.log``; the log path."""
    log_path = Path(directory) / "logs" / f"{stage}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(logging.Formatter(f"{stage}: %(message)s"))
    to_file = _JobLogFile(log_path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(f"%(asctime)s {stage} %(levelname)s %(message)s"))
    root.handlers[:] = [to_stderr, to_file]
    install(stage, log_path, to_file, verbose)  # stderr lines, log-only tracebacks and uncaught errors into the log too
    return log_path
