"""The token counter: a child of the streaming worker that builds the tiktoken encodings and
counts the runs' text.

    python -P -m tui.engine.counter        (started by CounterProcess; frames on stdin/stdout)

Why a process of its own: building an encoding holds the interpreter lock for about a fifth of
a second (tiktoken makes its CoreBPE from 200,000 ranks in one call). In the worker, a stream
running meanwhile had to wait for the build (the first send after launch waited up to 0.6 s)
or would have had its chunks stamped late. Here the builds and the counts run beside the
streams: no stream waits for them, and none is delayed by them.

Commands: ``("load", name)``, ``("open", id, name, exact)``, ``("add", id, answer texts,
reasoning texts, final)``, ``("close", id)``, ``("count", answer, reasoning, model, override)``.
Each gets one reply, ``("ok", value)`` or ``("failed", what went wrong in one line)``. It ends
when its stdin closes (the worker ended, however it ended).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from typing import Any

from .worker_protocol import CorruptFrame, read_frame, write_frame


class CountingFailed(RuntimeError):
    """The counter could not count (it says why), or it ended."""


class CounterProcess:
    """The worker's side: the counter is started on first use, and again after it died. Each
    call blocks until the counter replies (the worker makes them in threads), one at a time."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)

    def call(self, *command: Any) -> Any:
        with self._lock:
            process = self._process
            if process is None or process.poll() is not None:
                # Its stderr is the worker's (the worker's private file, then the log).
                process = self._process = subprocess.Popen(
                    [sys.executable, "-P", "-m", "tui.engine.counter"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
                )
            try:
                write_frame(process.stdin, command)  # type: ignore[arg-type]
                reply = read_frame(process.stdout)  # type: ignore[arg-type]
            except (OSError, CorruptFrame):
                reply = None
            if reply is None:
                process.kill()
                process.wait()
                raise CountingFailed(f"the token counter ended unexpectedly (exit {process.returncode})")
        if reply[0] == "failed":
            raise CountingFailed(reply[1])
        return reply[1]

    def open(self, choice) -> RemoteCounts:  # noqa: ANN001 - a tokens.EncodingChoice
        """A run's counters, in the counter (the encoding is built there first if need be)."""
        number = next(self._numbers)
        self.call("open", number, choice.name, choice.exact)
        return RemoteCounts(self, number)

    def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


class RemoteCounts:
    """One run's counters in the counter process (see counting._Counts, which they run)."""

    def __init__(self, counter: CounterProcess, number: int) -> None:
        self.counter = counter
        self.number = number

    def advance(self, answer: list[str], reasoning: list[str], final: bool):  # noqa: ANN201 - a TokenCount
        return self.counter.call("add", self.number, answer, reasoning, final)

    def close(self) -> None:
        self.counter.call("close", self.number)


def main() -> None:
    from .counting import _Counts
    from .tokens import EncodingChoice, count_text, load_encoding

    out = os.fdopen(os.dup(1), "wb")  # the replies' own descriptor, as in the worker
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    runs: dict[int, _Counts] = {}
    while (command := read_frame(sys.stdin.buffer)) is not None:
        try:
            op = command[0]
            if op == "load":
                load_encoding(command[1])
                value = None
            elif op == "open":
                _, number, name, exact = command
                runs[number] = _Counts(EncodingChoice(name, exact), load_encoding(name))
                value = None
            elif op == "add":
                _, number, answer, reasoning, final = command
                value = runs[number].advance(answer, reasoning, final)
                if final:
                    del runs[number]
            elif op == "close":
                runs.pop(command[1], None)
                value = None
            elif op == "count":
                value = count_text(*command[1:])
            else:
                raise ValueError(f"unknown command {op!r}")
        except Exception as exc:  # noqa: BLE001 - one count failed, not the counter
            write_frame(out, ("failed", f"{type(exc).__name__}: {exc}".splitlines()[0]))
        else:
            write_frame(out, ("ok", value))


if __name__ == "__main__":
    main()
