"""The figures of one run, computed from its events with an injected clock.

Definitions (vLLM / genai-perf; README "What the figures mean"). Every latency is measured
from the moment the request went on the wire (``RequestSent``), so nothing the client does
before it (building the request, opening a connection) is mixed in; that time is its own
figure, ``client``.

- Elapsed: from the send (the run's creation) until the run ends, ticking meanwhile.
- Client: from the client starting the request to the request on the wire.
- Headers: from the request on the wire to the response's headers.
- TTFT: from the request on the wire to the first chunk with answer text (streaming only).
- E2E: from the request on the wire to the last answer chunk.
- TPOT = (E2E − TTFT) / (tokens − 1); decode tok/s = (tokens − 1) / (E2E − TTFT).
- Gaps: between consecutive answer chunks (per chunk, not per token). Percentiles are
  nearest-rank (a value that was really observed), live and final alike.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Literal

from .clock import Clock
from .events import (
    Delta,
    Deltas,
    Failed,
    Finished,
    RequestSent,
    ResponseHeaders,
    Retrying,
    RunEvent,
    Started,
    TokenCount,
    Usage,
)
from .tokens import EncodingChoice

RunState = Literal["connecting", "waiting", "streaming", "done", "cancelled", "failed"]
TERMINAL_STATES = ("done", "cancelled", "failed")
#: The shortest E2E − TTFT a decode rate is measured over: an answer that came in one burst
#: (reads a fraction of a millisecond apart) has no rate worth the name (27,289 tok/s, once).
MIN_DECODE_SPAN = 0.005
#: What a cancelled run says unless its canceller says why (with text, or before any); a run
#: of a Compare pair adds why the pair says nothing of the comparison.
CANCELLED = "Cancelled: the partial answer is kept."
CANCELLED_BEFORE_TEXT = "Cancelled before any text arrived."
NOT_COMPARED = "the pair is not compared (a comparison needs both runs)"
#: Finish reasons that mean the answer was cut short by a token limit (chat/completions, responses).
CUT_REASONS = {"length": "max tokens", "max_output_tokens": "max tokens", "content_filter": "content filter"}

TokenSource = Literal["server", "model", "tiktoken"]


def nearest_rank(sorted_values, fraction: float) -> float:
    """The nearest-rank percentile of pre-sorted values: the smallest value with at least
    ``fraction`` of all values at or below it."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(fraction * len(sorted_values) - 1e-9))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class GapStats:
    p50: float
    p95: float
    max: float


class GapHistogram:
    """Gaps counted in buckets of :attr:`STEP` seconds, so a live run's percentiles cost the
    same at any length. A percentile read from it is the nearest-rank value's bucket middle:
    within ``STEP / 2`` (5 µs) of the exact nearest-rank value. Gaps of :attr:`LIMIT` or more
    are kept exactly, so a long tail loses nothing."""

    STEP = 1e-5
    BUCKETS = 20_000
    LIMIT = STEP * BUCKETS  # 200 ms
    #: The stated error bound of every percentile it gives.
    ERROR_BOUND = STEP / 2

    def __init__(self, gaps=()) -> None:
        self.counts = array("I", bytes(4 * self.BUCKETS))
        self.long_gaps: list[float] = []
        self.total = 0
        self.max = 0.0
        for gap in gaps:
            self.add(gap)

    def add(self, gap: float) -> None:
        index = int(gap / self.STEP) if gap > 0 else 0
        if index < self.BUCKETS:
            self.counts[index] += 1
        else:
            self.long_gaps.append(gap)
        self.total += 1
        if gap > self.max:
            self.max = gap

    def percentile(self, fraction: float) -> float:
        rank = max(1, math.ceil(fraction * self.total - 1e-9))
        seen = 0
        for index, count in enumerate(self.counts):
            if count:
                seen += count
                if seen >= rank:
                    return (index + 0.5) * self.STEP
        return sorted(self.long_gaps)[rank - seen - 1]

    def stats(self) -> GapStats:
        return GapStats(self.percentile(0.5), self.percentile(0.95), self.max)


class RunMetrics:
    """Everything the side panel shows about one run. Feed it events; read its properties."""

    #: Up to this many gaps, percentiles are exact even while the run streams; past it a live
    #: run reads them from a histogram (see GapHistogram.ERROR_BOUND). Final figures are exact.
    EXACT_GAPS_WHILE_RUNNING = 5_000

    def __init__(self, clock: Clock, *, stream: bool = True, created_at: float | None = None) -> None:
        self.clock = clock
        self.stream = stream
        self.state: RunState = "connecting"
        self.created_at = clock() if created_at is None else created_at
        self.started_at: float | None = None
        self.sent_at: float | None = None
        self.headers_at: float | None = None
        self.ended_at: float | None = None
        self.first_answer_at: float | None = None
        self.first_reasoning_at: float | None = None
        self.last_answer_at: float | None = None
        #: Arrival times of answer chunks (seconds since the request was sent), and their lengths.
        self.arrivals = array("d")
        self.chunk_sizes = array("I")
        self.reasoning_chunks = 0
        self.reasoning_chars = 0
        self.answer_chars = 0
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.error: str | None = None
        self.error_kind: str | None = None
        #: Retries before the request that answered, and the one being waited for now.
        self.retries: list[Retrying] = []
        self.waiting_retry: Retrying | None = None
        #: The answer's length in the model's own tokenizer, where the server can count it.
        self.model_tokens: int | None = None
        #: tiktoken's latest count (from the stream's TokenCount events) and its encoding.
        self.token_count: TokenCount | None = None
        self.encoding: EncodingChoice | None = None
        self._gap_cache: tuple[int, GapStats | None] = (-1, None)
        self._gap_histogram: GapHistogram | None = None

    # -- events in -------------------------------------------------------------------------
    def on_event(self, event: RunEvent) -> None:
        kind = type(event)
        if kind is Delta:
            self.on_delta(event)  # type: ignore[arg-type]
        elif kind is Deltas:
            self.on_texts(event.kind, event.at, event.texts)  # type: ignore[union-attr]
        elif kind is Started:
            self._on_started(event.at)  # type: ignore[union-attr]
        elif kind is RequestSent:
            self.sent_at = event.at  # type: ignore[union-attr]
        elif kind is ResponseHeaders:
            self.headers_at = event.at  # type: ignore[union-attr]
        elif kind is Usage:
            self.usage = event  # type: ignore[assignment]
        elif kind is TokenCount:
            self.token_count = event  # type: ignore[assignment]
            self.encoding = EncodingChoice(event.encoding, event.exact)  # type: ignore[union-attr]
        elif kind is Retrying:
            self.retries.append(event)  # type: ignore[arg-type]
            self.waiting_retry = event  # type: ignore[assignment]
        elif kind is Finished:
            self.finish_reason = event.reason  # type: ignore[union-attr]
            self._end("done", event.at)
        elif kind is Failed:
            self.fail(event.message, event.kind, event.at)  # type: ignore[union-attr]

    def _on_started(self, at: float) -> None:
        # A retry starts the request again: the figures are those of the request that answered.
        self.started_at = at
        self.sent_at = self.headers_at = None
        self.waiting_retry = None
        self.state = "waiting"

    def on_delta(self, delta: Delta) -> None:
        if delta.text:  # a role-only or empty chunk is not a token: no TTFT, no gap
            self.on_texts(delta.kind, delta.at, (delta.text,))

    def on_texts(self, kind: str, at: float, texts: tuple[str, ...] | list[str]) -> None:
        """Chunks of text of one kind that arrived together at ``at`` (one network read)."""
        texts = [text for text in texts if text]
        if not texts:
            return
        if kind == "reasoning":
            if self.first_reasoning_at is None:
                self.first_reasoning_at = at
            self.reasoning_chunks += len(texts)
            self.reasoning_chars += sum(map(len, texts))
        else:
            if self.first_answer_at is None:
                self.first_answer_at = at
            arrival = at - self.request_origin
            arrivals = self.arrivals
            histogram = self._gap_histogram
            if histogram is not None:
                if arrivals:
                    histogram.add(arrival - arrivals[-1])
                for _ in range(len(texts) - 1):  # the rest came in the same read
                    histogram.add(0.0)
            self.last_answer_at = at
            arrivals.extend([arrival] * len(texts))
            sizes = list(map(len, texts))
            self.chunk_sizes.extend(sizes)
            self.answer_chars += sum(sizes)
            if histogram is None and len(arrivals) > self.EXACT_GAPS_WHILE_RUNNING:
                self._gap_histogram = GapHistogram(self.gaps)
        if self.state == "waiting":
            self.state = "streaming"

    def cancel(self, reason: str = CANCELLED) -> None:
        if self.state not in TERMINAL_STATES:
            self.error = reason
            self.error_kind = "cancelled"
            self._end("cancelled", self.clock())

    def fail(self, message: str, kind: str = "error", at: float | None = None) -> None:
        if self.state not in TERMINAL_STATES:
            self.error = message
            self.error_kind = kind
            self._end("failed", self.clock() if at is None else at)

    def _end(self, state: RunState, at: float) -> None:
        if self.state in TERMINAL_STATES:
            return
        self.state = state
        self.ended_at = at
        self.waiting_retry = None

    # -- figures out (seconds; None when not applicable yet) ---------------------------------
    @property
    def running(self) -> bool:
        return self.state not in TERMINAL_STATES

    @property
    def request_origin(self) -> float:
        """Where latencies count from: the request on the wire (the client's start if the
        transport could not tell)."""
        if self.sent_at is not None:
            return self.sent_at
        if self.started_at is not None:
            return self.started_at
        return self.created_at

    @property
    def elapsed(self) -> float:
        end = self.ended_at if self.ended_at is not None else self.clock()
        return end - self.created_at

    @property
    def client_time(self) -> float | None:
        """Client-side time before the request was on the wire (SDK, connection)."""
        if self.started_at is None or self.sent_at is None:
            return None
        return self.sent_at - self.started_at

    @property
    def headers_time(self) -> float | None:
        if self.headers_at is None or self.sent_at is None:
            return None
        return self.headers_at - self.sent_at

    @property
    def ttft(self) -> float | None:
        """Not applicable without streaming: the first text is the whole answer."""
        if not self.stream or self.first_answer_at is None:
            return None
        return self.first_answer_at - self.request_origin

    @property
    def ttfr(self) -> float | None:
        """Time to the first reasoning text."""
        if not self.stream or self.first_reasoning_at is None:
            return None
        return self.first_reasoning_at - self.request_origin

    @property
    def e2e(self) -> float | None:
        if self.last_answer_at is None:
            return None
        return self.last_answer_at - self.request_origin

    @property
    def chunks(self) -> int:
        return len(self.arrivals)

    @property
    def cut_short(self) -> str | None:
        """Why the answer was cut ("max tokens", "content filter"), or None."""
        return CUT_REASONS.get(self.finish_reason or "")

    # -- tokens ------------------------------------------------------------------------------
    def drop_token_count(self) -> None:
        """Forget tiktoken's count (and its encoding): it does not cover the text."""
        self.token_count = None
        self.encoding = None

    @property
    def tiktoken_tokens(self) -> int | None:
        return self.token_count.answer if self.token_count is not None else None

    @property
    def reasoning_tiktoken_tokens(self) -> int | None:
        return self.token_count.reasoning if self.token_count is not None else None

    @property
    def server_completion_tokens(self) -> int | None:
        """What the server reported, reasoning included."""
        return self.usage.completion_tokens if self.usage else None

    @property
    def server_answer_tokens(self) -> int | None:
        """The server's count of the answer alone (``Usage.answer_tokens``)."""
        return self.usage.answer_tokens if self.usage else None

    def tokens_from(self, source: TokenSource) -> int | None:
        """The answer's tokens as ``source`` counts them (reasoning is never in these)."""
        if source == "server":
            return self.server_answer_tokens
        if source == "model":
            return self.model_tokens
        return self.tiktoken_tokens

    @property
    def token_source(self) -> TokenSource | None:
        """The best count there is: the server's usage, else the model's own tokenizer (the
        embedded server counts), else tiktoken's."""
        for source in ("server", "model", "tiktoken"):
            if self.tokens_from(source) is not None:  # type: ignore[arg-type]
                return source  # type: ignore[return-value]
        return None

    @property
    def output_tokens(self) -> int | None:
        source = self.token_source
        return None if source is None else self.tokens_from(source)

    @property
    def usage_difference(self) -> int | None:
        """The server's count of the answer minus tiktoken's count of the received answer."""
        server, counted = self.server_answer_tokens, self.tiktoken_tokens
        if server is None or counted is None:
            return None
        return server - counted

    def _decode_span(self) -> float | None:
        ttft, e2e = self.ttft, self.e2e
        if ttft is None or e2e is None or e2e - ttft < MIN_DECODE_SPAN:
            return None
        return e2e - ttft

    def tpot(self, source: TokenSource | None = None) -> float | None:
        """Time per output token after the first, counting with ``source`` (default: the best)."""
        tokens = self.tokens_from(source) if source else self.output_tokens
        span = self._decode_span()
        if span is None or tokens is None or tokens < 2:
            return None
        return span / (tokens - 1)

    def decode_rate(self, source: TokenSource | None = None) -> float | None:
        tpot = self.tpot(source)
        return None if not tpot else 1 / tpot

    # -- gaps ------------------------------------------------------------------------------
    @property
    def gaps(self) -> list[float]:
        arrivals = self.arrivals
        return [arrivals[i] - arrivals[i - 1] for i in range(1, len(arrivals))]

    def gap_stats(self) -> GapStats | None:
        """p50/p95/max of the gaps, nearest rank: exact when the run has ended; while a long
        run streams, from the histogram (within GapHistogram.ERROR_BOUND)."""
        count = len(self.arrivals)
        if count < 2:
            return None
        if self.running and self._gap_histogram is not None:
            return self._gap_histogram.stats()
        cached_count, cached = self._gap_cache
        if count == cached_count and cached is not None:
            return cached
        gaps = sorted(self.gaps)
        stats = GapStats(nearest_rank(gaps, 0.5), nearest_rank(gaps, 0.95), gaps[-1])
        self._gap_cache = (count, stats)
        if not self.running:
            self._gap_histogram = None  # no longer needed: the figures are final
        return stats
