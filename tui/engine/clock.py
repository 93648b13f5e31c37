"""Clocks. Every time in streamtui comes from an injected clock, so tests can fix it.

The streaming worker (another process) stamps chunks too, so a clock must be one it can
read: ``monotonic_clock`` (``perf_counter``, the system's monotonic clock, the same in every
process) or a ``ManualClock``, whose value lives in a small shared file once a worker needs it.
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
import time
import weakref
from typing import Callable

Clock = Callable[[], float]

monotonic_clock: Clock = time.perf_counter

_DOUBLE = struct.Struct("d")


class ManualClock:
    """A clock that only moves when told to: for deterministic tests and snapshots."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._shared: mmap.mmap | None = None
        self._path: str | None = None

    @property
    def now(self) -> float:
        return self()

    def __call__(self) -> float:
        if self._shared is not None:
            return _DOUBLE.unpack_from(self._shared)[0]
        return self._now

    def set(self, now: float) -> None:
        self._now = now
        if self._shared is not None:
            _DOUBLE.pack_into(self._shared, 0, now)

    def advance(self, seconds: float) -> None:
        self.set(self() + seconds)

    def shared_path(self) -> str:
        """A file other processes can read this clock from (see :class:`SharedClock`)."""
        if self._path is None:
            handle, path = tempfile.mkstemp(prefix="streamtui-clock-")
            os.write(handle, _DOUBLE.pack(self._now))
            self._shared = mmap.mmap(handle, _DOUBLE.size)
            os.close(handle)
            self._path = path
            weakref.finalize(self, _forget, self._shared, path)
        return self._path


def _forget(shared: mmap.mmap, path: str) -> None:
    shared.close()
    try:
        os.unlink(path)
    except OSError:
        pass


class SharedClock:
    """Reads a ManualClock that lives in another process, through its shared file."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as file:
            self._shared = mmap.mmap(file.fileno(), _DOUBLE.size, access=mmap.ACCESS_READ)

    def __call__(self) -> float:
        return _DOUBLE.unpack_from(self._shared)[0]


def clock_spec(clock: Clock) -> str | None:
    """What a worker process needs to read ``clock``: None for the monotonic clock, else the
    shared file of a ManualClock."""
    if clock is monotonic_clock:
        return None
    if isinstance(clock, ManualClock):
        return clock.shared_path()
    raise TypeError(f"the streaming worker can read monotonic_clock or a ManualClock, not {clock!r}")


def clock_from_spec(spec: str | None) -> Clock:
    return monotonic_clock if spec is None else SharedClock(spec)
