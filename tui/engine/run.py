"""One run: what was asked, what arrived, and its figures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .metrics import RunMetrics
from .request import RunRequest

@dataclass(eq=False)
class Run:
    request: RunRequest
    metrics: RunMetrics
    #: Where it went, without the key ("127.0.0.1:8080/v1", "embedded model").
    endpoint_label: str = ""
    #: Order in the session, from 1 (history gives runs their own ids).
    number: int = 0
    created: float = field(default_factory=time.time)
    #: Runs made by one Compare action share a pair id.
    pair_id: int | None = None
    answer_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.answer_parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def outcome(self) -> str:
        metrics = self.metrics
        if metrics.state == "done":
            return f"done ({metrics.finish_reason})" if metrics.finish_reason not in (None, "stop", "completed") else "done"
        return metrics.state
