"""The real ``streamtui`` command in a pseudo-terminal of its own: what it draws, read as bytes,
and keys typed at it (POSIX)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time


class Terminal:
    """``python -m tui ARGS`` on a new pty of ``size`` (columns, rows), its standard input
    ``stdin`` (a descriptor) if given, else the terminal."""

    def __init__(self, args: list[str], environ: dict[str, str], *, stdin: int | None = None, size: tuple[int, int] = (80, 24), cwd: str | None = None) -> None:
        self.screen = b""
        self.pid, self._fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal
            try:
                if stdin is not None:
                    os.dup2(stdin, 0)
                if cwd is not None:
                    os.chdir(cwd)
                os.execve(sys.executable, [sys.executable, "-m", "tui", *args], environ)
            finally:
                os._exit(127)  # never back into the tests' own code
        fcntl.ioctl(self._fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.exit_code: int | None = None

    def read_until(self, predicate, timeout: float = 30.0) -> bool:  # noqa: ANN001
        """Read what it draws until ``predicate()`` holds or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            ready, _, _ = select.select([self._fd], [], [], 0.2)
            if ready:
                try:
                    self.screen += os.read(self._fd, 65536)
                except OSError:  # the child closed the terminal
                    break
        return predicate()

    def shows(self, text: bytes, timeout: float = 30.0) -> bool:
        return self.read_until(lambda: text in self.screen, timeout)

    def type(self, keys: bytes) -> None:
        os.write(self._fd, keys)

    def wait(self, timeout: float = 20.0) -> int | None:
        """Its exit code once it ended within ``timeout`` (reading its output meanwhile), else None."""
        deadline = time.monotonic() + timeout
        while self.exit_code is None and time.monotonic() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.exit_code = os.waitstatus_to_exitcode(status)
            else:
                self.read_until(lambda: False, timeout=0.2)
        return self.exit_code

    def close(self) -> None:
        if self.exit_code is None:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self._fd)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
