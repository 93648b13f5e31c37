"""The figures of one run, computed from its events with an injected clock.

Definitions (vLLM / genai-perf; see README "What the figures mean"):
- TTFT: from just before the request is sent to the first chunk with non-empty answer text.
- E2E: from the request to the last content chunk.
- TPOT = (E2E − TTFT) / (tokens − 1); decode tok/s = (tokens − 1) / (E2E − TTFT).
- Gaps: between consecutive content chunks (per chunk, not per token).
Tokens are the server's completion tokens when it reports them, else tiktoken's count.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Literal

from .clock import Clock
from .events import Delta, Failed, Finished, RunEvent, Started, Usage
from .tokens import EncodingChoice, IncrementalTokenCounter

RunState = Literal["idle", "waiting", "streaming", "done", "cancelled", "failed"]
TERMINAL_STATES = ("done", "cancelled", "failed")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on pre-sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    position = (len(sorted_values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass(frozen=True)
class GapStats:
    p50: float
    p95: float
    max: float


class GapHistogram:
    """Gaps counted in 10 µs buckets, so percentiles of a long live run cost the same at any
    length: each is the middle of its bucket, within 5 µs of the exact value."""

    STEP = 1e-5
    BUCKETS = 20_000  # up to 200 ms; longer gaps are kept as they are

    def __init__(self) -> None:
        self.counts = array("I", bytes(4 * self.BUCKETS))
        self.long_gaps: list[float] = []
        self.total = 0
        self.max = 0.0

    def add(self, gap: float) -> None:
        index = int(gap / self.STEP)
        if index < self.BUCKETS:
            self.counts[index] += 1
        else:
            self.long_gaps.append(gap)
        self.total += 1
        if gap > self.max:
            self.max = gap

    def stats(self) -> GapStats:
        ranks = {fraction: round((self.total - 1) * fraction) for fraction in (0.5, 0.95)}
        found: dict[float, float] = {}
        seen = 0
        for index, count in enumerate(self.counts):
            if not count:
                continue
            seen += count
            for fraction, rank in ranks.items():
                if fraction not in found and rank < seen:
                    found[fraction] = (index + 0.5) * self.STEP
            if len(found) == len(ranks):
                break
        if len(found) < len(ranks):
            long_gaps = sorted(self.long_gaps)
            for fraction, rank in ranks.items():
                found.setdefault(fraction, long_gaps[rank - seen])
        return GapStats(found[0.5], found[0.95], self.max)


class RunMetrics:
    """Everything the side panel shows about one run. Feed it events; read its properties."""

    def __init__(self, clock: Clock, counter: IncrementalTokenCounter | None = None, encoding: EncodingChoice | None = None, stream: bool = True) -> None:
        self.clock = clock
        self.stream = stream
        self.state: RunState = "idle"
        self.encoding = encoding
        self._counter = counter
        self._reasoning_counter: IncrementalTokenCounter | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.first_answer_at: float | None = None
        self.first_reasoning_at: float | None = None
        self.last_answer_at: float | None = None
        #: Arrival times of answer chunks (seconds since the request), and their texts' lengths.
        self.arrivals = array("d")
        self.chunk_sizes = array("I")
        self.reasoning_chunks = 0
        self.reasoning_chars = 0
        self.answer_chars = 0
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.error: str | None = None
        self.error_kind: str | None = None
        #: The answer's length in the model's own tokenizer, where the server can count it.
        self.model_tokens: int | None = None
        self._gap_cache: tuple[int, GapStats | None] = (-1, None)
        self._gap_histogram = GapHistogram()

    # -- events in -------------------------------------------------------------------------
    def on_event(self, event: RunEvent) -> None:
        if type(event) is Delta:
            self.on_delta(event)
        elif isinstance(event, Started):
            self.on_started(event.at)
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finished):
            self.finish_reason = event.reason
            self._end("done", event.at)
        elif isinstance(event, Failed):
            self.error = event.message
            self.error_kind = event.kind
            self._end("failed", event.at)

    def on_started(self, at: float) -> None:
        # A retry (without stream_options) starts the clock again: the figures are the request's that answered.
        self.started_at = at
        self.state = "waiting"

    def on_delta(self, delta: Delta) -> None:
        if not delta.text:  # a role-only or empty chunk is not a token: no TTFT, no gap
            return
        if delta.kind == "reasoning":
            if self.first_reasoning_at is None:
                self.first_reasoning_at = delta.at
            self.reasoning_chunks += 1
            self.reasoning_chars += len(delta.text)
            if self._reasoning_counter is not None:
                self._reasoning_counter.add(delta.text)
        else:
            if self.first_answer_at is None:
                self.first_answer_at = delta.at
            arrival = delta.at - (self.started_at or 0.0)
            if self.arrivals:
                self._gap_histogram.add(arrival - self.arrivals[-1])
            self.last_answer_at = delta.at
            self.arrivals.append(arrival)
            self.chunk_sizes.append(len(delta.text))
            self.answer_chars += len(delta.text)
            if self._counter is not None:
                self._counter.add(delta.text)
        if self.state == "waiting":
            self.state = "streaming"

    def cancel(self) -> None:
        if self.state not in TERMINAL_STATES:
            self.error = "Cancelled: the partial answer is kept."
            self._end("cancelled", self.clock())

    def _end(self, state: RunState, at: float) -> None:
        if self.state in TERMINAL_STATES:
            return
        self.state = state
        self.ended_at = at

    def attach_reasoning_counter(self, counter: IncrementalTokenCounter) -> None:
        self._reasoning_counter = counter

    # -- figures out (seconds; None when not applicable yet) ---------------------------------
    @property
    def running(self) -> bool:
        return self.state in ("waiting", "streaming")

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else self.clock()
        return end - self.started_at

    @property
    def ttft(self) -> float | None:
        """Not applicable without streaming: the first text is the whole answer."""
        if not self.stream or self.first_answer_at is None or self.started_at is None:
            return None
        return self.first_answer_at - self.started_at

    @property
    def ttfr(self) -> float | None:
        """Time to the first reasoning token."""
        if not self.stream or self.first_reasoning_at is None or self.started_at is None:
            return None
        return self.first_reasoning_at - self.started_at

    @property
    def e2e(self) -> float | None:
        if self.last_answer_at is None or self.started_at is None:
            return None
        return self.last_answer_at - self.started_at

    @property
    def chunks(self) -> int:
        return len(self.arrivals)

    @property
    def tiktoken_tokens(self) -> int | None:
        return self._counter.count() if self._counter is not None else None

    @property
    def reasoning_tiktoken_tokens(self) -> int | None:
        return self._reasoning_counter.count() if self._reasoning_counter is not None else None

    @property
    def server_completion_tokens(self) -> int | None:
        return self.usage.completion_tokens if self.usage else None

    @property
    def output_tokens(self) -> int | None:
        """The best count there is: the server's usage, else the model's own tokenizer (the
        embedded server counts), else tiktoken's."""
        for count in (self.server_completion_tokens, self.model_tokens):
            if count is not None:
                return count
        return self.tiktoken_tokens

    @property
    def usage_difference(self) -> int | None:
        """Server's completion tokens minus tiktoken's count of the received text."""
        server, counted = self.server_completion_tokens, self.tiktoken_tokens
        if server is None or counted is None:
            return None
        return server - counted

    def _decode_span(self) -> float | None:
        ttft, e2e = self.ttft, self.e2e
        if ttft is None or e2e is None or e2e <= ttft:
            return None
        return e2e - ttft

    @property
    def tpot(self) -> float | None:
        tokens, span = self.output_tokens, self._decode_span()
        if span is None or tokens is None or tokens < 2:
            return None
        return span / (tokens - 1)

    @property
    def decode_tokens_per_second(self) -> float | None:
        tokens, span = self.output_tokens, self._decode_span()
        if span is None or tokens is None or tokens < 2:
            return None
        return (tokens - 1) / span

    @property
    def gaps(self) -> list[float]:
        arrivals = self.arrivals
        return [arrivals[i] - arrivals[i - 1] for i in range(1, len(arrivals))]

    #: Up to this many gaps, percentiles are computed exactly even while the run streams.
    EXACT_GAPS_WHILE_RUNNING = 5_000

    def gap_stats(self) -> GapStats | None:
        """p50/p95/max of the gaps: exact (linear interpolation) when the run has ended; while a
        long run streams, from a 10 µs histogram, so a refresh costs the same at any length."""
        count = len(self.arrivals)
        if count < 2:
            return None
        if self.running and count > self.EXACT_GAPS_WHILE_RUNNING:
            return self._gap_histogram.stats()
        cached_count, cached = self._gap_cache
        if count == cached_count and cached is not None:
            return cached
        gaps = sorted(self.gaps)
        stats = GapStats(percentile(gaps, 0.5), percentile(gaps, 0.95), gaps[-1])
        self._gap_cache = (count, stats)
        return stats
