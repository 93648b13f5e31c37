"""The log file: every failure a person is shown in one line is written here with its traceback.

Where: ``platformdirs.user_log_dir("streamtui")/streamtui.log`` (on Linux
``~/.local/state/streamtui/log/streamtui.log``), or the file ``STREAMTUI_LOG`` names. The file
is private (0600; its folder as :func:`~.private_files.private_folder` prepares it: 0700 when
streamtui creates it or it is streamtui's own, any other existing folder left as it is),
rotated at 1 MB with two old copies kept, and opened only when the first line is written, so
starting the app costs nothing. Known secrets are redacted from every line before it is written.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from .private_files import FILE_MODE, private_folder
from .secrets import redact_all

ENV_VAR = "STREAMTUI_LOG"


def tail_of(file, most: int, since: int = 0) -> bytes:  # noqa: ANN001 - a binary file
    """The last ``most`` bytes of a child's output file, from byte ``since`` on ("" if it cannot
    be read). Read where they are, not from the file's offset, which the child writing to it
    shares (read, moved, the child's next line would land there)."""
    try:
        size = os.fstat(file.fileno()).st_size
        start = max(since, size - most)
        if hasattr(os, "pread"):
            return os.pread(file.fileno(), size - start, start)
        file.seek(start)  # no pread (Windows)
        return file.read()
    except (OSError, ValueError):  # closed, or not a file
        return b""
_FILE_NAME = "streamtui.log"

logger = logging.getLogger("streamtui")
logger.propagate = False  # never onto the terminal the TUI draws on

_setup_lock = threading.Lock()


def log_path(environ: Mapping[str, str] = os.environ) -> Path:
    chosen = environ.get(ENV_VAR, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    import platformdirs

    return Path(platformdirs.user_log_dir("streamtui")) / _FILE_NAME


class _PrivateRotatingFile(logging.handlers.RotatingFileHandler):
    """A rotating file whose every generation is created 0600."""

    def _open(self):  # type: ignore[override]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8")

    def handleError(self, record: logging.LogRecord) -> None:
        """Say nothing: logging's default prints to stderr, which is the TUI's terminal."""


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact_all(super().format(record))


_handler_path: Path | None = None


def _handler() -> None:
    """Make the file handler on first use (again if STREAMTUI_LOG changed); a log that
    cannot be opened is off, never an error."""
    global _handler_path
    path = log_path()
    with _setup_lock:
        if logger.handlers and path == _handler_path:
            return
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        try:
            private_folder(path.parent)
            handler: logging.Handler = _PrivateRotatingFile(path, maxBytes=1_000_000, backupCount=2, encoding="utf-8", delay=True)
        except OSError:
            handler = logging.NullHandler()
        handler.setFormatter(_Redacting("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        _handler_path = path


def log_failure(message: str, error: BaseException | None = None) -> None:
    """Write one failure, with its traceback when there is an exception."""
    _handler()
    try:
        logger.error(message, exc_info=(type(error), error, error.__traceback__) if error is not None else None)
    except Exception:  # noqa: BLE001 - a log that cannot be written must not break the app
        pass


def log_info(message: str) -> None:
    _handler()
    logger.info(message)
