"""Measurements through a real terminal: tmux runs the app in a pane, ``capture-pane`` reads it.

A private tmux server (``-L streamtui-bench``) is started once and kept alive by an idle
session, so each measured launch pays for creating a pane, not for starting tmux. Polling
``capture-pane`` every ``POLL`` seconds bounds the resolution.

The polls and keys go through one control-mode client (``tmux -C``, attached to the idle
session so that it never sizes a measured pane), not a ``tmux`` process each: a process spawned
every 10 ms took about half a core of the two the app and its baseline run on, and it took it
from an app of two processes (the interface and its streaming worker) more than from a baseline
of one.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

SOCKET = "streamtui-bench"
POLL = 0.01
SIZE = (140, 45)
perf = time.perf_counter


def available() -> bool:
    return shutil.which("tmux") is not None


class _Control:
    """One ``tmux -C`` client: a command written on its stdin, its output read back between the
    ``%begin`` and the ``%end`` (or ``%error``) of the same number. Only replies flagged 1 (to a
    command from this client) count: the attach's own empty reply (flagged 0) comes whenever it
    comes, and notifications between replies are skipped."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            ["tmux", "-L", SOCKET, "-C", "attach-session", "-t", "keeper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )

    def run(self, *args: str) -> tuple[bool, str]:
        assert self._process.stdin is not None and self._process.stdout is not None
        if any("\n" in arg for arg in args):  # a newline would end the command there
            raise ValueError(f"tmux command with a newline: {args!r}")
        try:
            self._process.stdin.write(" ".join(shlex.quote(arg) for arg in args) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError as exc:
            raise RuntimeError(f"tmux control client ended before {' '.join(args)}") from exc
        number: str | None = None
        lines: list[str] = []
        while line := self._process.stdout.readline():
            fields = line.rstrip("\n").split(" ")
            if number is None:
                # %begin TIME NUMBER FLAGS: flags 1 for a command this client wrote.
                if fields[0] == "%begin" and len(fields) == 4 and fields[3] == "1":
                    number, lines = fields[2], []
                continue
            # A screen line could read "%end …" too: the end is the one with this number.
            if fields[0] in ("%end", "%error") and len(fields) == 4 and fields[2] == number:
                return fields[0] == "%end", "".join(lines)
            lines.append(line)
        raise RuntimeError(f"tmux control client ended while running {' '.join(args)}")

    def close(self) -> None:
        if self._process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._process.stdin.close()
        self._process.wait(timeout=5)


_control: _Control | None = None


def _tmux(*args: str, check: bool = True) -> str:
    if _control is not None:
        ok, out = _control.run(*args)
        if check and not ok:
            raise RuntimeError(f"tmux {' '.join(args)}: {out.strip()}")
        return out
    done = subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def tmux_server() -> Iterator[None]:
    _tmux("kill-server", check=False)
    global _control
    _tmux("-f", "/dev/null", "new-session", "-d", "-s", "keeper", "-x", "80", "-y", "24", "sleep 100000")
    _control = _Control()
    try:
        yield
    finally:
        control, _control = _control, None
        _tmux("kill-server", check=False)
        control.close()


def capture(target: str) -> str:
    return _tmux("capture-pane", "-p", "-J", "-t", target, check=False)  # -J: join lines the terminal wrapped


def wait_for_text(target: str, predicate: Callable[[str], bool], timeout: float) -> tuple[float, str]:
    """Poll the pane until ``predicate(screen_text)``; returns (time seen, the text)."""
    deadline = perf() + timeout
    text = ""
    while perf() < deadline:
        text = capture(target)
        if predicate(text):
            return perf(), text
        time.sleep(POLL)
    raise TimeoutError(f"tmux pane {target}: condition not met in {timeout} s; screen was:\n{text}")


@contextlib.contextmanager
def pane(command: list[str], name: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, float]]:
    """Run ``command`` in a new detached session of SIZE; yields (target, launch time)."""
    width, height = SIZE
    shell = " ".join(shlex.quote(part) for part in command)
    if env:
        shell = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " exec " + shell
    else:
        shell = "exec " + shell
    started = perf()
    _tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), shell)
    try:
        yield f"{name}:0.0", started
    finally:
        _tmux("kill-session", "-t", name, check=False)


def send_keys(target: str, *keys: str) -> None:
    _tmux("send-keys", "-t", target, *keys)
