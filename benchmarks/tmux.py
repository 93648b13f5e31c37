"""Measurements through a real terminal: tmux runs the app in a pane, ``capture-pane`` reads it.

A private tmux server (``-L streamtui-bench``) is started once and kept alive by an idle
session, so each measured launch pays for creating a pane, not for starting tmux. Polling
``capture-pane`` every ``POLL`` seconds bounds the resolution (and costs a process spawn per
poll, on the same cores as the app).
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


def _tmux(*args: str, check: bool = True) -> str:
    done = subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def tmux_server() -> Iterator[None]:
    _tmux("kill-server", check=False)
    _tmux("-f", "/dev/null", "new-session", "-d", "-s", "keeper", "-x", "80", "-y", "24", "sleep 100000")
    try:
        yield
    finally:
        _tmux("kill-server", check=False)


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
