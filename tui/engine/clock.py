"""Clocks. Every time in streamtui comes from an injected clock, so tests can fix it."""

from __future__ import annotations

import time
from typing import Callable

Clock = Callable[[], float]

monotonic_clock: Clock = time.perf_counter


class ManualClock:
    """A clock that only moves when told to: for deterministic tests and snapshots."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def set(self, now: float) -> None:
        self.now = now

    def advance(self, seconds: float) -> None:
        self.now += seconds
