"""The token counter: a child of the streaming worker that builds the tiktoken encodings and
counts the runs' text.

    python -P -m tui.engine.counter        (started by CounterProcess; frames on stdin/stdout)

Why a process of its own: building an encoding holds the interpreter lock for about a fifth of
a second (tiktoken makes its CoreBPE from 200,000 ranks in one call). In the worker, a stream
running meanwhile had to wait for the build (the first send after launch waited up to 0.6 s)
or would have had its chunks stamped late. Here the builds and the counts run beside the
streams: no stream waits for them, and none is delayed by them.

Commands: ``("load", name)``; ``("add", id, encoding name, exact, answer texts, reasoning
texts, final)``, which starts run ``id``'s counters at its first text and forgets them after
its final one; ``("close", id)`` for a run that ended without one; ``("count", answer,
reasoning, model, override)``, a whole text's final count; ``("each", encoding name, texts)``,
each text's own count. Each gets one reply, ``("ok", value)`` or ``("failed", what went
wrong in one line)``. It ends when its stdin closes (the worker ended, however it ended).
"""

from __future__ import annotations

import os

#: How much lower than the worker's the counter's CPU priority is.
NICENESS = 10

if __name__ == "__main__":
    # Counts are figures; keys, frames and the stream's stamps come first: on a machine whose
    # cores the app and the worker keep busy (a flood), the counter takes what they leave
    # (measured: key echo max during a 200,000-chunk flood 89–146 ms niced, 110–240 ms not).
    # Lowered before its imports, which a send right after launch used to compete with. The
    # price: on a machine busy with other work, a run's end waits longer for its final count
    # (counting.FINAL_WITHIN at most).
    os.nice(NICENESS)

# isort: split
import asyncio
import itertools
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .counting import _Counts
from .heap import return_big_blocks
from .tokens import EncodingChoice, count_each, count_text, load_encoding
from .worker_protocol import read_frame, write_frame


class CountingFailed(RuntimeError):
    """The counter could not count (it says why), or it ended."""


class CounterProcess:
    """The worker's side. The counter is started on first use, and again after it died. Its
    calls block until it replies, so they run in a thread of their own, one at a time (never in
    the loop's default executor, which the SDK's name lookups need)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="streamtui-counter")
        self._numbers = itertools.count(1)
        self._stopped = False

    @property
    def started(self) -> bool:
        """A counter was started (it may have ended since)."""
        return self._process is not None

    async def request(self, *command: Any) -> Any:
        return await asyncio.wrap_future(self._thread.submit(self._call, command, True))

    def forget(self, number: int) -> None:
        """Have the counter drop run ``number`` (one that ended without its final count),
        without waiting; a counter that is not running has nothing to drop."""
        self._thread.submit(self._call_quietly, ("close", number))

    def counts(self, choice) -> RemoteCounts:  # noqa: ANN001 - a tokens.EncodingChoice
        return RemoteCounts(self, next(self._numbers), choice)

    def kill(self) -> None:
        """End the counter now (a call it does not answer fails; the next one starts another)."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def stop(self) -> None:
        """End the counter for good: terminated, not killed, so that an encoding it is building
        cleans up first (see tokens.load_encoding)."""
        self._stopped = True
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()

    def _call(self, command: tuple, start: bool) -> Any:
        process = self._process
        if process is None or process.poll() is not None:
            if self._stopped or not start:
                raise CountingFailed("the token counter is not running")
            # Its stderr is the worker's (the worker's private file, then the log).
            process = self._process = subprocess.Popen(
                [sys.executable, "-P", "-m", "tui.engine.counter"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
            )
        try:
            write_frame(process.stdin, command)  # type: ignore[arg-type]
            reply = read_frame(process.stdout)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - a torn pipe or frame: nothing after it can be trusted
            reply = None
        if reply is None:
            process.kill()
            process.wait()
            raise CountingFailed(f"the token counter ended unexpectedly (exit {process.returncode})")
        if reply[0] == "failed":
            raise CountingFailed(reply[1])
        return reply[1]

    def _call_quietly(self, command: tuple) -> None:
        try:
            self._call(command, False)
        except CountingFailed:
            pass


class RemoteCounts:
    """One run's counters in the counter process (see counting._Counts, which they run)."""

    def __init__(self, counter: CounterProcess, number: int, choice) -> None:  # noqa: ANN001
        self.counter = counter
        self.number = number
        self.choice = choice

    async def advance(self, answer: list[str], reasoning: list[str], final: bool):  # noqa: ANN201 - a TokenCount
        return await self.counter.request("add", self.number, self.choice.name, self.choice.exact, answer, reasoning, final)

    def forget(self) -> None:
        self.counter.forget(self.number)


def main() -> None:
    return_big_blocks()  # a huge text's frame, its joined copy and its token lists, given back
    out = os.fdopen(os.dup(1), "wb")  # the replies' own descriptor, as in the worker
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    runs: dict[int, _Counts] = {}
    try:
        while (command := read_frame(sys.stdin.buffer)) is not None:
            try:
                value = _run(command, runs)
            except Exception as exc:  # noqa: BLE001 - one count failed, not the counter
                write_frame(out, ("failed", f"{type(exc).__name__}: {exc}".splitlines()[0]))
            else:
                write_frame(out, ("ok", value))
    except OSError:  # the worker is gone (a reply it will never read): end quietly
        pass


def _run(command: tuple, runs: dict[int, _Counts]) -> Any:
    op = command[0]
    if op == "load":
        load_encoding(command[1])
        return None
    if op == "add":
        _, number, name, exact, answer, reasoning, final = command
        try:
            counts = runs.get(number)
            if counts is None:
                counts = runs[number] = _Counts(EncodingChoice(name, exact), load_encoding(name))
            return counts.advance(answer, reasoning, final)
        finally:
            if final:
                runs.pop(number, None)
    if op == "close":
        runs.pop(command[1], None)
        return None
    if op == "count":
        return count_text(*command[1:])
    if op == "each":
        return count_each(*command[1:])
    raise ValueError(f"unknown command {op!r}")


if __name__ == "__main__":
    main()
