"""One run: what was asked, what arrived, and its figures.

A run exists from the moment the person sends: it is numbered then, and a failure while
connecting or looking up the model is a failed run like any other.

What a run keeps in memory: its request, its figures (arrival times as 8 bytes and sizes as
4 bytes per chunk) and its text as one string per network read (``answer_parts``), not one
per chunk. Finished runs beyond the session's most recent few keep their figures only; their
text is in history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from .clock import Clock
from .events import Delta, Deltas, RunEvent
from .metrics import RunMetrics
from .request import RunRequest


@dataclass(eq=False)
class Run:
    request: RunRequest
    metrics: RunMetrics
    #: The run's number: the same in the Runs table, the Timeline and History (its history id).
    number: int = 0
    #: Where it went, without any secret ("127.0.0.1:8080/v1", "embedded model").
    endpoint_label: str = ""
    #: Wall clock at the send, Unix seconds.
    created: float = field(default_factory=time.time)
    #: Runs made by one Compare action share a pair id: the number of the pair's first run.
    pair_id: int | None = None
    #: A conversation's runs share its first run's number, and count their turns from 1.
    conversation_id: int | None = None
    turn: int | None = None
    #: The answer and reasoning as they arrived: one string per network read.
    answer_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    #: Set once the text was dropped from memory (it stays in history).
    text_released: bool = False
    #: What the run is doing before its request ("starting the embedded model…"), or None.
    note: str | None = None
    #: What a Compare pair's warm-up learnt and changed (on both runs of the pair).
    pair_notes: tuple[str, ...] = ()

    @classmethod
    def new(cls, request: RunRequest, *, clock: Clock, created_at: float | None = None, **fields) -> Run:
        """A run of ``request``; ``created_at``: when it was sent (default: now, on ``clock``)."""
        return cls(request, RunMetrics(clock, stream=request.stream, created_at=created_at), **fields)

    def with_model(self, model: str) -> None:
        """The model is known (a server's first listed model is only known after asking)."""
        self.request = replace(self.request, model=model)

    def apply(self, batch: list[RunEvent]) -> None:
        """Take a batch of events: figures to the metrics, text to the run's parts."""
        metrics = self.metrics
        answer: list[str] = []
        reasoning: list[str] = []
        for event in batch:
            kind = type(event)
            if kind is Delta:
                metrics.on_delta(event)
                (answer if event.kind == "answer" else reasoning).append(event.text)
            elif kind is Deltas:
                metrics.on_texts(event.kind, event.at, event.texts)
                (answer if event.kind == "answer" else reasoning).extend(event.texts)
            else:
                metrics.on_event(event)
        if answer:
            self.answer_parts.append("".join(answer))
        if reasoning:
            self.reasoning_parts.append("".join(reasoning))

    def release_text(self) -> None:
        """Forget the text (history keeps it): an old run of a long session costs little."""
        self.answer_parts = []
        self.reasoning_parts = []
        self.text_released = True

    @property
    def text(self) -> str:
        return "".join(self.answer_parts)

    def counted_whole(self) -> bool:
        """Whether tiktoken's count is of the whole text so far (a live one lags behind it)."""
        count = self.metrics.token_count
        return count is not None and count.answer_chars == sum(map(len, self.answer_parts)) and count.reasoning_chars == sum(map(len, self.reasoning_parts))

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def outcome(self) -> str:
        """"done", "cut (max tokens)", "cancelled", "failed", … as a table shows it."""
        metrics = self.metrics
        if metrics.state == "done":
            if metrics.cut_short:
                return f"cut ({metrics.cut_short})"
            return "done" if metrics.finish_reason in (None, "stop", "completed", "end_turn") else f"done ({metrics.finish_reason})"
        return metrics.state
