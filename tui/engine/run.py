"""One run: what was asked, what arrived, and its figures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .clock import Clock
from .events import Delta, RunEvent
from .metrics import RunMetrics
from .request import RunRequest
from .tokens import IncrementalTokenCounter, encoding_for_model, load_encoding

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
    #: The run's row in the history store, once stored.
    history_id: int | None = None
    answer_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)

    @classmethod
    def new(cls, request: RunRequest, *, clock: Clock, encoding: str | None = None, **fields) -> Run:
        """A run ready to take events, counting tokens in the model's encoding (or ``encoding``)."""
        choice = encoding_for_model(request.model, encoding)
        tiktoken_encoding = load_encoding(choice.name)
        metrics = RunMetrics(clock, IncrementalTokenCounter(tiktoken_encoding), choice, stream=request.stream)
        metrics.attach_reasoning_counter(IncrementalTokenCounter(tiktoken_encoding))
        return cls(request, metrics, **fields)

    def apply(self, batch: list[RunEvent]) -> None:
        """Take a batch of events: figures to the metrics, text to the run's parts."""
        metrics = self.metrics
        answer, reasoning = self.answer_parts, self.reasoning_parts
        for event in batch:
            if type(event) is Delta:
                metrics.on_delta(event)
                (answer if event.kind == "answer" else reasoning).append(event.text)
            else:
                metrics.on_event(event)

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
