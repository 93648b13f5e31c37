"""The app's side of the streaming worker (see ``worker.py``): a ``Streamer`` that runs each
request in the worker process and hands its events to the app's event loop.

Start it first thing (``start()``, then ``warm()``; or ``spawn()``), before Textual is imported: the worker then
imports the SDK while the interface starts. Nothing here imports the SDK. Commands go to the
worker's stdin; a reader thread takes its frames from stdout and wakes the loop once for
whatever arrived meanwhile, however many frames that is. If the worker dies (or sends a frame
that cannot be read), every request sent to it fails with one line, which says what it wrote
last, and the next request starts a new worker. Its stderr goes to a temporary file with no
name (0600, never left behind), not to the log itself, whose lines are all redacted: when the
worker ends, the file's tail goes to the log (redacted) and the file is closed.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import subprocess
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import BinaryIO

from .clock import Clock, clock_spec
from .endpoint import PLACEHOLDER_KEY
from .errors import Problem
from .events import Failed, RunEvent, TokenCount
from .logfile import log_failure, log_info, log_path, tail_of
from .request import RunRequest
from .sanitize import one_line
from .secrets import redact_all
from .target import Target
from .worker_process import ForkedWorker, spawn_worker
from .worker_protocol import read_frame, write_frame

#: A target for warming up before the real one is known (the embedded server's address). Its
#: key is the placeholder, which is never registered as a secret (so never redacted from text).
_SCRATCH = Target("http://127.0.0.1:9/v1", PLACEHOLDER_KEY)


#: The worker's process: forked at launch, or a new interpreter (see worker_process.py).
WorkerProcess = subprocess.Popen[bytes] | ForkedWorker


class CountFailed(RuntimeError):
    """The worker could not count a text (it says why)."""


class WorkerStreamer:
    def __init__(self, *, shared: bool = False) -> None:
        #: A worker shared by several sessions (tests) is not stopped when one session closes.
        self.shared = shared
        self._process: WorkerProcess | None = None
        self._numbers = itertools.count(1)
        self._inboxes: dict[int, _Inbox] = {}
        #: Guards the inboxes, and orders each request's send against the end of the worker it
        #: goes to (see _send and _read).
        self._lock = threading.Lock()
        #: Workers stopped on purpose: their end is no death.
        self._stopped: set[WorkerProcess] = set()
        #: The thread reading the current worker's frames (it closes its stderr file at the end).
        self._reader: threading.Thread | None = None
        self._warmed: set[tuple[Target, str]] = set()
        #: Set once the worker has imported the SDK and built a client: a request sent now
        #: waits for nothing but the network.
        self.ready = threading.Event()

    @classmethod
    def spawn(cls, warm: Target | None = None, *, api: str = "chat", encoding: str | None = "o200k_base", shared: bool = False) -> WorkerStreamer:
        """Start the worker now: it builds the client for ``warm`` (readying ``api``), and
        has its token counter build the tiktoken ``encoding`` the first run will count with."""
        streamer = cls(shared=shared)
        streamer.start()
        streamer.warm(warm or _SCRATCH, api, encoding)
        return streamer

    def start(self, spawned: tuple[WorkerProcess, BinaryIO] | None = None) -> None:
        """Start the worker process now, before its target is known (it imports the SDK at
        once), or adopt the one ``tui.launch`` started (``fork_worker()``); :meth:`warm` then
        builds the client."""
        with self._lock:
            self._ensure_process(spawned)

    # -- the process ----------------------------------------------------------------------
    def _ensure_process(self, spawned: tuple[WorkerProcess, BinaryIO] | None = None) -> WorkerProcess:
        process = self._process
        if process is not None and process.poll() is None:
            return process
        process, stderr = spawned if spawned is not None else spawn_worker()
        self._process = process
        self._warmed = set()
        self.ready.clear()
        self._reader = threading.Thread(target=self._read, args=(process, stderr), name="streamtui-worker-replies", daemon=True)
        self._reader.start()
        return process

    def _send(self, command: tuple, inbox: _Inbox | None = None) -> None:
        """Send ``command`` (for the request of ``inbox``, if any) to the worker, starting one if
        there is none or it has ended."""
        with self._lock:
            # The reader thread collects a worker and then, under this lock, tells its requests
            # it ended: a request recorded here before is told; one after finds it collected
            # (poll() is not None) and goes to a new worker.
            process = self._ensure_process()
            if inbox is not None:
                inbox.process = process
        _write(process, command)

    def _read(self, process: WorkerProcess, stderr: BinaryIO) -> None:
        """The reader thread: every frame to its request's inbox; at the end, the worker's end
        (and what it wrote last) to every request that was sent to it."""
        unreadable = False
        try:
            while (message := read_frame(process.stdout)) is not None:  # type: ignore[arg-type]
                if message[0] == "ready":
                    continue
                if message[0] == "warm":
                    self.ready.set()
                    continue
                with self._lock:
                    inbox = self._inboxes.get(message[1])
                if inbox is not None:
                    inbox.put(message)
        except Exception as exc:  # noqa: BLE001 - a torn or garbled frame: nothing after it can be trusted
            log_failure("The streaming worker sent a frame that could not be read; it is stopped", exc)
            unreadable = True
            process.kill()
        try:
            code = process.wait(5)
        except subprocess.TimeoutExpired:  # its frames ended but it runs on: it can answer no one
            process.kill()
            code = process.wait()
        stderr_tail = _tail(stderr)
        stderr.close()
        last_line = redact_all(_last_words(stderr_tail))
        with self._lock:
            inboxes = [inbox for inbox in self._inboxes.values() if inbox.process is process]
            stopped = process in self._stopped
            self._stopped.discard(process)
        if stopped:
            reason = "The streaming worker was stopped."
        elif unreadable:
            reason = f"The streaming worker sent a frame that could not be read and was stopped (details are in {log_path()}); the next request starts a new one."
        else:
            said = f": {last_line}" if last_line else ""
            where = f"; what it wrote last is in {log_path()}" if stderr_tail else ""
            reason = f"The streaming worker stopped unexpectedly ({_exit_description(code)}{said}){where}; the next request starts a new one."
        if stderr_tail:
            (log_info if stopped else log_failure)(f"{reason} Its stderr ended with:\n{stderr_tail}")
        for inbox in inboxes:
            inbox.put(("dead", reason))

    @property
    def pid(self) -> int | None:
        """The worker's process id (None before it is started)."""
        return self._process.pid if self._process is not None else None

    async def wait_ready(self, timeout: float = 30.0) -> bool:
        """Wait (without blocking the loop) until the worker is warm; False after ``timeout``."""
        return await asyncio.to_thread(self.ready.wait, timeout)

    def warm(self, target: Target, api: str = "chat", encoding: str | None = None) -> None:
        if not target.base_url:  # the embedded model's address comes once it runs: warm the SDK anyway
            target = _SCRATCH
        if (target, api) not in self._warmed:
            self._warmed.add((target, api))
            self._send(("warm", target, api, encoding))

    # -- Streamer ----------------------------------------------------------------------------
    async def batches(self, request: RunRequest, target: Target, clock: Clock) -> AsyncIterator[list[RunEvent]]:
        number = next(self._numbers)
        inbox = self._open(number)
        ended = False
        try:
            self.warm(target, request.api)
            self._send(("stream", number, request, target, clock_spec(clock)), inbox)
            while True:
                for message in await inbox.get():
                    kind = message[0]
                    if kind == "batch":
                        yield message[2]
                    elif kind == "end":
                        ended = True
                        return
                    elif kind == "dead":
                        ended = True
                        yield [Failed(message[1], clock(), "internal")]
                        return
        finally:
            self._close(number)
            if not ended:
                self._cancel(inbox, number)

    async def list_models(self, target: Target) -> list[str]:
        from .stream import RequestFailed

        number = next(self._numbers)
        inbox = self._open(number)
        try:
            self._send(("models", number, target), inbox)
            while True:
                for message in await inbox.get():
                    if message[0] == "dead":
                        raise RequestFailed(Problem("internal", message[1]))
                    _, _, names, problem = message
                    if problem is not None:
                        raise RequestFailed(problem)
                    return names
        finally:
            self._close(number)

    async def load_encoding(self, name: str) -> None:
        """Have the worker's token counter build tiktoken's ``name`` now (tests start from a
        counted state); returns once it is built, or could not be."""
        number = next(self._numbers)
        inbox = self._open(number)
        try:
            self._send(("encoding", number, name), inbox)
            await inbox.get()
        finally:
            self._close(number)

    async def count_text(self, answer: str, reasoning: str, model: str, override: str | None = None) -> TokenCount:
        """tiktoken's count of a whole text, by the worker's token counter: it holds the
        encodings the runs are counted with (building one costs a process about 80 MB and
        holds its interpreter a fifth of a second), so the app never builds one.
        Raises CountFailed if the worker could not count it or ended meanwhile."""
        return await self._count(("count", answer, reasoning, model, override))

    async def count_each(self, encoding: str, texts: list[str]) -> list[int]:
        """Each text's own count in ``encoding`` (the Timeline's chunks), as count_text counts."""
        return await self._count(("each", encoding, texts))

    async def _count(self, what: tuple):  # noqa: ANN202
        number = next(self._numbers)
        inbox = self._open(number)
        try:
            self._send(("count", number, *what), inbox)
            while True:
                for message in await inbox.get():
                    if message[0] == "dead":
                        raise CountFailed(message[1])
                    _, _, count, problem = message
                    if problem is not None:
                        raise CountFailed(problem.message)
                    return count
        finally:
            self._close(number)

    async def close(self) -> None:
        if not self.shared:
            self.stop()

    def stop(self) -> None:
        """End the worker: closing its stdin ends it; one still busy (importing the SDK just
        after launch) is terminated rather than waited for. It keeps no state of its own."""
        process, self._process = self._process, None
        if process is None:
            return
        with self._lock:
            self._stopped.add(process)
        try:
            process.stdin.close()  # type: ignore[union-attr]
            process.wait(0.3)
        except (OSError, subprocess.TimeoutExpired):
            process.terminate()
            try:
                process.wait(2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(2)  # it closes the worker's stderr file

    def _open(self, number: int) -> _Inbox:
        inbox = _Inbox(asyncio.get_running_loop())
        with self._lock:
            self._inboxes[number] = inbox
        return inbox

    def _close(self, number: int) -> None:
        with self._lock:
            self._inboxes.pop(number, None)

    def _cancel(self, inbox: _Inbox, number: int) -> None:
        """Tell the worker that has the request to drop it, if it still runs: one that ended
        has dropped it already, and a new one never had it (nor is one started for this)."""
        process = inbox.process
        if process is not None and process is self._process and process.poll() is None:
            _write(process, ("cancel", number))


def _write(process: WorkerProcess, command: tuple) -> None:
    try:
        write_frame(process.stdin, command)  # type: ignore[arg-type]
    except (BrokenPipeError, OSError):
        pass  # the reader thread tells whoever waits that the worker ended


#: How much of a worker's stderr the log keeps when it ends.
_STDERR_TAIL = 16_384


def _tail(stderr: BinaryIO) -> str:
    """The end of an ended worker's stderr file ("" if it wrote nothing; its token counter may
    still write to it)."""
    return tail_of(stderr, _STDERR_TAIL).decode("utf-8", errors="replace").strip()


#: A line that says why a Python process died: the fault handler's report, an exception's last line.
_DEATH_LINE = re.compile(r"^(Fatal Python error: |[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b)")


def _last_words(stderr: str) -> str:
    """The line of a worker's stderr that best says why it died (the last exception or fatal
    error, else its last line), safe for one line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    deaths = [line for line in lines if _DEATH_LINE.match(line)]
    return one_line(deaths[-1] if deaths else lines[-1], 200) if lines else ""


def _exit_description(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Inbox:
    """Messages for one request, filled by the reader thread: the loop is woken once for
    whatever arrived since it last looked (a flood of frames costs one wake-up, not one each)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        #: The worker the request was sent to: its end fails this request (set by _send).
        self.process: WorkerProcess | None = None
        self._items: deque = deque()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future | None = None
        self._wake_pending = False

    def put(self, message: tuple) -> None:  # the reader thread
        with self._lock:
            self._items.append(message)
            if self._wake_pending:
                return
            self._wake_pending = True
        self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:  # the loop
        self._wake_pending = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> list[tuple]:
        """Everything that arrived, at least one message (waits for it)."""
        while True:
            with self._lock:
                if self._items:
                    items = list(self._items)
                    self._items.clear()
                    return items
                self._waiter = self._loop.create_future()
            await self._waiter
