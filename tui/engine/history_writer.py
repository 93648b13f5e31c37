"""The one ordered writer of history: start, then live saves, then finish, on one thread.

Snapshots are taken by the caller (the event loop, where a run changes), so a snapshot's text,
arrivals and counts agree; the writes happen on this writer's thread, in the order they were
asked for. Once a run's finish is queued, later saves of it are dropped, and a save never
lands on a row already marked final (the SQL checks it too).
"""

from __future__ import annotations

import asyncio
import queue
import threading

from .history import HistoryStore, snapshot
from .logfile import log_failure
from .run import Run


class HistoryWriter:
    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        #: Numbers of the runs whose finish is queued (touched only by the caller's thread;
        #: numbers are never reused, where id() of a collected run is).
        self._finished: set[int] = set()
        self._thread = threading.Thread(target=self._run, name="streamtui-history-writer", daemon=True)
        self._thread.start()

    def start(self, run: Run) -> None:
        self._queue.put(("start", run, None))

    def save(self, run: Run) -> None:
        if run.number not in self._finished:
            self._queue.put(("save", run, snapshot(run)))

    def finish(self, run: Run) -> None:
        self._finished.add(run.number)
        self._queue.put(("finish", run, snapshot(run)))

    def delete(self, number: int) -> None:
        self._queue.put(("delete", number, None))

    async def flush(self) -> None:
        """Wait, without blocking the loop, until everything asked for so far is written."""
        done = threading.Event()
        self._queue.put(("flush", done, None))
        await asyncio.to_thread(done.wait)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread (blocking: call it after the loop)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        store = self.store
        while (item := self._queue.get()) is not None:
            op, subject, values = item
            try:
                if op == "start":
                    store.start(subject)
                elif op == "save":
                    store.save(subject.number, values)
                elif op == "finish":
                    store.finish(subject.number, values)
                elif op == "delete":
                    store.delete(subject)
                else:
                    subject.set()
            except Exception as exc:  # noqa: BLE001 - history never stops a run; the log says why
                store.problem = f"History could not save a run: {exc}."
                log_failure(f"History writer: {op} failed", exc)
                if op == "flush":
                    subject.set()
