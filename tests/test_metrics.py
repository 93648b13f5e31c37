"""RunMetrics with a manual clock and hand-built events."""

from __future__ import annotations

import random

import pytest

from tui.engine.clock import ManualClock
from tui.engine.events import (
    Delta,
    Failed,
    Finished,
    RequestSent,
    ResponseHeaders,
    Retrying,
    Started,
    TokenCount,
    Usage,
)
from tui.engine.metrics import GapHistogram, GapStats, RunMetrics, nearest_rank
from tui.engine.tokens import load_encoding


@pytest.fixture(scope="module")
def o200k():
    return load_encoding("o200k_base")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(100.0)


def make(clock: ManualClock, o200k=None, stream: bool = True) -> RunMetrics:
    """Metrics; with ``o200k``, every ``feed`` is followed by the stream's TokenCount of the
    text so far, as the counting stream sends it."""
    metrics = RunMetrics(clock, stream=stream)
    metrics.test_encoding = o200k  # type: ignore[attr-defined]
    metrics.test_text = {"answer": "", "reasoning": ""}  # type: ignore[attr-defined]
    return metrics


def feed(metrics: RunMetrics, *events) -> None:
    for event in events:
        metrics.on_event(event)
        if isinstance(event, Delta):
            metrics.test_text[event.kind] += event.text  # type: ignore[attr-defined]
    encoding = getattr(metrics, "test_encoding", None)
    if encoding is not None:
        texts = metrics.test_text  # type: ignore[attr-defined]
        metrics.on_event(TokenCount(len(encoding.encode_ordinary(texts["answer"])), len(encoding.encode_ordinary(texts["reasoning"])), "o200k_base", True))


# -- percentile: nearest rank, live and final alike ---------------------------------------------


def test_nearest_rank_hand_values():
    values = [1.0, 2.0, 3.0, 4.0]
    assert nearest_rank(values, 0.5) == 2.0  # rank ceil(2) = 2
    assert nearest_rank(values, 0.95) == 4.0  # rank ceil(3.8) = 4: an observed value, no midpoint
    assert nearest_rank(values, 0.25) == 1.0
    assert nearest_rank(values, 1.0) == 4.0
    assert nearest_rank([10.0, 20.0, 30.0, 40.0, 50.0], 0.5) == 30.0
    assert nearest_rank([7.0], 0.95) == 7.0


def test_nearest_rank_of_nothing_raises():
    with pytest.raises(ValueError):
        nearest_rank([], 0.5)


def _reference_nearest_rank(values: list[float], fraction: float) -> float:
    """The textbook definition: the smallest value with at least ``fraction`` of all at or below it."""
    ordered = sorted(values)
    for value in ordered:
        if sum(1 for other in ordered if other <= value) >= fraction * len(ordered):
            return value
    return ordered[-1]


def test_nearest_rank_matches_the_definition_on_random_data():
    rng = random.Random(3)
    for size in (1, 2, 3, 10, 21, 100):
        values = sorted(round(rng.expovariate(20), 4) for _ in range(size))
        for fraction in (0.1, 0.5, 0.9, 0.95, 0.99, 1.0):
            assert nearest_rank(values, fraction) == _reference_nearest_rank(values, fraction)


def _gap_sets() -> dict[str, list[float]]:
    rng = random.Random(9)
    return {
        # The case: two modes (1 ms and 100 ms); interpolation invented a p95 between them.
        "bimodal": [0.001 if i % 10 else 0.1 for i in range(5_011)],
        "bimodal-5pct": [0.0005] * 4_760 + [0.1] * 251,
        # A long tail: most gaps small, a few of seconds (kept exactly by the histogram).
        "long-tailed": [rng.paretovariate(1.2) * 0.002 for _ in range(6_000)],
        "exponential": [rng.expovariate(400) for _ in range(8_000)],
        "all-equal": [0.02] * 5_500,
    }


@pytest.mark.parametrize("name", list(_gap_sets()))
def test_live_and_final_gap_percentiles_share_one_definition_within_the_stated_bound(name):
    """While a long run streams, p50 and p95 come from the histogram; at the end they are
    exact. Both are nearest-rank, so they differ by at most GapHistogram.ERROR_BOUND (5 µs)."""
    gaps = _gap_sets()[name]
    clock = ManualClock()
    metrics = RunMetrics(clock)
    metrics.on_event(Started(0.0))
    at = 0.0
    metrics.on_event(Delta("x", at))
    for gap in gaps:
        at += gap
        metrics.on_event(Delta("x", at))
    assert len(metrics.gaps) > RunMetrics.EXACT_GAPS_WHILE_RUNNING
    live = metrics.gap_stats()
    metrics.on_event(Finished("stop", at))
    final = metrics.gap_stats()
    exact = sorted(metrics.gaps)
    assert final == GapStats(nearest_rank(exact, 0.5), nearest_rank(exact, 0.95), exact[-1])
    bound = GapHistogram.ERROR_BOUND + 1e-9
    assert abs(live.p50 - final.p50) <= bound
    assert abs(live.p95 - final.p95) <= bound
    assert live.max == final.max


def test_the_histogram_bound_is_half_a_bucket():
    assert GapHistogram.ERROR_BOUND == GapHistogram.STEP / 2 == 5e-6
    histogram = GapHistogram([0.0123456, 0.3, 2.5])
    assert abs(histogram.percentile(0.2) - 0.0123456) <= GapHistogram.ERROR_BOUND
    assert histogram.percentile(0.5) == 0.3 and histogram.percentile(1.0) == 2.5  # long gaps exact


# -- TTFT / E2E / TPOT --------------------------------------------------------------------------


def test_ttft_and_e2e(clock):
    m = make(clock)
    feed(
        m,
        Started(100.0),
        Delta("Hel", 100.25),
        Delta("lo", 100.5),
        Delta(" there", 101.0),
        Usage(5, 3),
        Finished("stop", 101.75),
    )
    assert m.ttft == pytest.approx(0.25)
    assert m.e2e == pytest.approx(1.0)  # the last answer delta, not Usage or Finished
    assert m.chunks == 3
    assert m.answer_chars == len("Hello there")
    assert m.finish_reason == "stop"


def test_empty_answer_delta_is_not_the_first_token(clock):
    # Chat servers send a role-only (empty) chunk first: TTFT waits for actual text.
    m = make(clock)
    feed(m, Started(100.0), Delta("", 100.1), Delta("Hi", 100.4), Delta("", 100.6), Finished("stop", 100.9))
    assert m.ttft == pytest.approx(0.4)
    assert m.e2e == pytest.approx(0.4)
    assert m.chunks == 1
    assert m.gap_stats() is None


def test_reasoning_first_is_not_ttft(clock):
    m = make(clock)
    feed(
        m,
        Started(100.0),
        Delta("Let me think", 100.2, "reasoning"),
        Delta("...", 100.7, "reasoning"),
        Delta("Answer", 101.5),
        Delta(".", 102.0),
        Finished("stop", 102.5),
    )
    assert m.ttfr == pytest.approx(0.2)
    assert m.ttft == pytest.approx(1.5)
    assert m.e2e == pytest.approx(2.0)
    assert m.reasoning_chunks == 2
    assert m.reasoning_chars == len("Let me think...")
    assert m.chunks == 2  # gaps are between answer chunks only
    assert m.gaps == pytest.approx([0.5])


def test_reasoning_counter_counts_only_reasoning(clock, o200k):
    m = make(clock, o200k)
    feed(m, Started(100.0), Delta("hello world", 100.1, "reasoning"), Delta("hello", 100.2))
    assert m.reasoning_tiktoken_tokens == 2
    assert m.tiktoken_tokens == 1


def test_tpot_and_decode_rate_with_server_usage(clock, o200k):
    m = make(clock, o200k)
    feed(m, Started(100.0), Delta("hello", 100.5), Delta(" world", 101.0), Delta("!", 102.5))
    # Without usage: tiktoken's count of "hello world!" on o200k.
    counted = len(o200k.encode_ordinary("hello world!"))
    assert m.tiktoken_tokens == counted == 3
    assert m.output_tokens == 3
    assert m.tpot() == pytest.approx((2.5 - 0.5) / (3 - 1))
    assert m.decode_rate() == pytest.approx((3 - 1) / (2.5 - 0.5))
    # With usage: the server's completion tokens win.
    feed(m, Usage(prompt_tokens=9, completion_tokens=11), Finished("stop", 103.0))
    assert m.output_tokens == 11
    assert m.server_completion_tokens == 11
    assert m.tpot() == pytest.approx(2.0 / 10)
    assert m.decode_rate() == pytest.approx(10 / 2.0)
    assert m.usage_difference == 11 - 3


def test_usage_without_completion_tokens_falls_back_to_tiktoken(clock, o200k):
    m = make(clock, o200k)
    feed(m, Started(100.0), Delta("hello", 100.5), Delta(" world", 101.5), Usage(4, None), Finished("stop", 102.0))
    assert m.server_completion_tokens is None
    assert m.output_tokens == 2
    assert m.tpot() == pytest.approx(1.0)
    assert m.usage_difference is None


def test_usage_difference_sign(clock, o200k):
    m = make(clock, o200k)
    feed(m, Started(100.0), Delta("hello world hello world", 100.5), Usage(1, 2), Finished("stop", 101.0))
    assert m.tiktoken_tokens == 4
    assert m.usage_difference == 2 - 4
    assert m.usage_difference < 0


def test_tpot_undefined_for_too_few_tokens_or_no_span(clock, o200k):
    one_token = make(clock, o200k)
    feed(one_token, Started(100.0), Delta("hello", 100.5), Finished("stop", 101.0))
    assert one_token.output_tokens == 1
    assert one_token.tpot() is None and one_token.decode_rate() is None

    single_chunk = make(clock, o200k)  # many tokens in one chunk: E2E == TTFT, no decode span
    feed(single_chunk, Started(100.0), Delta("hello world hello world", 100.5), Finished("stop", 101.0))
    assert single_chunk.tpot() is None and single_chunk.decode_rate() is None

    # An answer that came in one burst (two reads a tenth of a millisecond apart) has no decode
    # span worth the name: a try-out read 27,289.1 tok/s.
    burst = make(clock, o200k)
    feed(burst, Started(100.0), Delta("Late answer", 103.0060), Delta(" here.", 103.0061), Finished("stop", 103.0062))
    assert burst.output_tokens == 4 and burst.tpot() is None and burst.decode_rate() is None

    no_counter = make(clock)
    feed(no_counter, Started(100.0), Delta("a", 100.5), Delta("b", 101.0))
    assert no_counter.output_tokens is None and no_counter.tpot() is None and no_counter.usage_difference is None


def test_non_streaming_has_no_ttft_and_full_e2e(clock, o200k):
    m = make(clock, o200k, stream=False)
    feed(m, Started(100.0), Delta("the whole answer at once", 103.0), Usage(3, 5), Finished("stop", 103.0))
    assert m.ttft is None
    assert m.ttfr is None
    assert m.e2e == pytest.approx(3.0)
    assert m.tpot() is None and m.decode_rate() is None
    assert m.state == "done"


def test_a_run_exists_from_the_send(clock):
    m = make(clock)
    assert m.state == "connecting" and m.running
    assert (m.ttft, m.e2e, m.client_time, m.gap_stats()) == (None, None, None, None)
    clock.advance(0.25)
    assert m.elapsed == pytest.approx(0.25)  # Elapsed counts from the send


# -- gaps ---------------------------------------------------------------------------------------


def test_gap_stats_hand_computed(clock):
    m = make(clock)
    times = [100.0, 100.1, 100.3, 100.35, 101.35, 101.45]  # gaps 0.1, 0.2, 0.05, 1.0, 0.1
    feed(m, Started(99.0), *(Delta("x", t) for t in times), Finished("stop", 102.0))
    assert m.gaps == pytest.approx([0.1, 0.2, 0.05, 1.0, 0.1])
    stats = m.gap_stats()
    # sorted: 0.05, 0.1, 0.1, 0.2, 1.0 → nearest rank: p50 = rank 3 = 0.1, p95 = rank 5 = 1.0
    assert stats.p50 == pytest.approx(0.1)
    assert stats.p95 == pytest.approx(1.0)
    assert stats.max == pytest.approx(1.0)


def test_gap_stats_needs_two_chunks(clock):
    m = make(clock)
    feed(m, Started(100.0), Delta("only", 100.5))
    assert m.gap_stats() is None
    feed(m, Delta("two", 100.75))
    assert m.gap_stats() == GapStats(pytest.approx(0.25), pytest.approx(0.25), pytest.approx(0.25))


def _sorted_stats(gaps: list[float]) -> tuple[float, float, float]:
    ordered = sorted(gaps)
    return nearest_rank(ordered, 0.5), nearest_rank(ordered, 0.95), ordered[-1]


def test_gap_stats_exact_at_end_after_many_chunks(clock):
    rng = random.Random(11)
    m = make(clock)
    feed(m, Started(0.0))
    t = 0.0
    for i in range(3_000):
        # Slow down as the run goes on, so that a stale cache would show too small a p95/max.
        t += rng.expovariate(100) * (1 + i / 300)
        clock.set(t)
        feed(m, Delta("tok", t))
        if i % 25 == 0:
            m.gap_stats()  # a refresh while streaming (may be approximate past 2,000 chunks)
    exact = _sorted_stats(m.gaps)
    feed(m, Finished("stop", t + 0.01))
    stats = m.gap_stats()
    assert (stats.p50, stats.p95, stats.max) == pytest.approx(exact, rel=1e-12)
    assert len(m.gaps) == 2_999


def test_gap_stats_exact_after_cancel_and_failure(clock):
    for end in ("cancel", "fail"):
        m = make(clock)
        feed(m, Started(0.0))
        t = 0.0
        for i in range(2_500):
            t += 0.001 * (1 + i % 7) + i * 1e-6
            feed(m, Delta("t", t))
            if i % 10 == 0:
                m.gap_stats()
        if end == "cancel":
            m.cancel()
        else:
            feed(m, Failed("dropped", t, "dropped"))
        stats = m.gap_stats()
        assert (stats.p50, stats.p95, stats.max) == pytest.approx(_sorted_stats(m.gaps), rel=1e-12)


def test_gap_stats_follow_new_chunks_below_the_threshold(clock):
    m = make(clock)
    feed(m, Started(0.0), Delta("a", 1.0), Delta("b", 1.1))
    assert m.gap_stats().max == pytest.approx(0.1)
    feed(m, Delta("c", 3.1))
    assert m.gap_stats().max == pytest.approx(2.0)


# -- elapsed and states -------------------------------------------------------------------------


def test_elapsed_ticks_while_running_and_freezes_at_end(clock):
    m = make(clock)  # sent at 100.0
    feed(m, Started(100.0))
    clock.set(100.5)
    assert m.elapsed == pytest.approx(0.5)
    clock.advance(1.0)
    assert m.elapsed == pytest.approx(1.5)
    feed(m, Delta("x", 101.5), Finished("stop", 101.75))
    assert m.elapsed == pytest.approx(1.75)
    clock.advance(60.0)
    assert m.elapsed == pytest.approx(1.75)


def test_states_to_done(clock):
    m = make(clock)
    assert m.state == "connecting"
    feed(m, Started(100.0))
    assert m.state == "waiting" and m.running
    feed(m, Delta("x", 100.1))
    assert m.state == "streaming" and m.running
    feed(m, Usage(1, 1))
    assert m.state == "streaming"
    feed(m, Finished("length", 100.2))
    assert m.state == "done" and not m.running
    assert m.finish_reason == "length"
    assert m.ended_at == 100.2


def test_reasoning_delta_starts_streaming(clock):
    m = make(clock)
    feed(m, Started(100.0), Delta("hmm", 100.1, "reasoning"))
    assert m.state == "streaming"


def test_state_failed(clock):
    m = make(clock)
    feed(m, Started(100.0), Delta("partial", 100.1), Failed("Connection dropped", 100.4, "dropped"))
    assert m.state == "failed" and not m.running
    assert m.error == "Connection dropped" and m.error_kind == "dropped"
    assert m.elapsed == pytest.approx(0.4)
    assert m.e2e == pytest.approx(0.1)


def test_failed_while_waiting(clock):
    m = make(clock)
    feed(m, Started(100.0), Failed("Cannot reach", 100.2, "unreachable"))
    assert m.state == "failed"
    assert m.ttft is None and m.e2e is None


def test_cancel_while_streaming(clock):
    m = make(clock)
    feed(m, Started(100.0), Delta("partial", 100.1))
    clock.set(100.6)
    m.cancel()
    assert m.state == "cancelled" and not m.running
    assert m.ended_at == 100.6
    assert m.error and "Cancelled" in m.error
    clock.advance(5)
    assert m.elapsed == pytest.approx(0.6)
    # Events still in flight after a cancel do not change the outcome.
    feed(m, Finished("stop", 107.0))
    assert m.state == "cancelled" and m.ended_at == 100.6


def test_cancel_while_waiting(clock):
    m = make(clock)
    feed(m, Started(100.0))
    clock.set(100.3)
    m.cancel()
    assert m.state == "cancelled"
    assert m.elapsed == pytest.approx(0.3)


def test_cancel_after_done_does_nothing(clock):
    m = make(clock)
    feed(m, Started(100.0), Delta("x", 100.1), Finished("stop", 100.2))
    clock.set(200.0)
    m.cancel()
    assert m.state == "done"
    assert m.error is None
    assert m.ended_at == 100.2
    assert m.elapsed == pytest.approx(0.2)


def test_failed_after_done_does_nothing(clock):
    m = make(clock)
    feed(m, Started(100.0), Delta("x", 100.1), Finished("stop", 100.2), Failed("late", 100.5))
    assert m.state == "done" and m.ended_at == 100.2


def test_retry_started_resets_the_start(clock):
    m = make(clock)  # sent at 100.0
    feed(m, Started(100.0), RequestSent(100.01))  # rejected, retried:
    feed(m, Retrying(1, 2, 0.5, "429", 100.3), Started(100.8))
    assert m.state == "waiting" and m.sent_at is None and m.waiting_retry is None
    clock.set(101.0)
    assert m.elapsed == pytest.approx(1.0)  # the person has waited since the send
    feed(m, RequestSent(100.85), Delta("a", 101.0), Delta("b", 101.3), Finished("stop", 101.4))
    assert m.started_at == 100.8 and len(m.retries) == 1
    assert m.ttft == pytest.approx(0.15)  # from the request that answered, on the wire
    assert m.e2e == pytest.approx(0.45)
    assert m.elapsed == pytest.approx(1.4)
    assert list(m.arrivals) == pytest.approx([0.15, 0.45])


def test_latencies_count_from_the_request_on_the_wire(clock):
    """The client's own time (SDK, connection) is its own figure, never part of TTFT."""
    m = make(clock)  # sent (created) at 100.0
    feed(m, Started(100.2), RequestSent(100.35), ResponseHeaders(100.55, 200), Delta("a", 100.85), Delta("b", 101.35), Finished("stop", 101.4))
    assert m.client_time == pytest.approx(0.15)
    assert m.headers_time == pytest.approx(0.2)
    assert m.ttft == pytest.approx(0.5)
    assert m.e2e == pytest.approx(1.0)
    assert m.elapsed == pytest.approx(1.4)


def test_a_cut_answer_says_so(clock):
    m = make(clock)
    feed(m, Started(100.0), Delta("a", 100.1), Finished("length", 100.2))
    assert m.state == "done" and m.cut_short == "max tokens"
    other = make(clock)
    feed(other, Started(100.0), Delta("a", 100.1), Finished("stop", 100.2))
    assert other.cut_short is None


def test_output_tokens_prefer_the_server_then_the_model_tokenizer_then_tiktoken(o200k):
    metrics = make(ManualClock(), o200k)
    feed(metrics, Started(0.0), Delta("hello world", 0.1))
    assert metrics.output_tokens == metrics.tiktoken_tokens == 2 and metrics.token_source == "tiktoken"
    metrics.model_tokens = 3
    assert metrics.output_tokens == 3 and metrics.token_source == "model"
    metrics.on_event(Usage(1, 5))
    assert metrics.output_tokens == 5 and metrics.token_source == "server"
    assert metrics.tokens_from("tiktoken") == 2


def test_a_reasoning_models_usage_counts_the_answer_alone(clock, o200k):
    """OpenAI, vLLM and DeepSeek count reasoning inside completion_tokens; TTFT and the decode
    span are the answer's, so Tokens, Tok/s and the tiktoken difference use the answer's share:
    900 reasoning tokens over 9 s, then 100 answer tokens over 1 s, decode at 99 tok/s (not 999)."""
    m = make(clock, o200k)
    feed(m, Started(100.0), Delta("thinking", 100.1, "reasoning"), Delta("hello", 109.0), Delta(" world", 110.0))
    feed(m, Usage(prompt_tokens=5, completion_tokens=1000, reasoning_tokens=900), Finished("stop", 110.0))
    assert m.server_completion_tokens == 1000
    assert m.output_tokens == m.tokens_from("server") == 100
    assert m.decode_rate() == pytest.approx(99 / 1.0)
    assert m.usage_difference == 100 - m.tiktoken_tokens


def test_a_stored_reasoning_run_counts_the_answer_alone(clock, o200k, tmp_path):
    from tui.engine.history import record_of
    from tui.engine.request import RunRequest
    from tui.engine.run import Run
    from tui.engine.summary import record_cells

    run = Run(RunRequest("p", "m"), make(clock, o200k), number=1, endpoint_label="h")
    feed(run.metrics, Started(100.0), Delta("hello", 109.0), Delta(" world", 110.0), Usage(5, 1000, 900), Finished("stop", 110.0))
    record = record_of(run)
    assert record.output_tokens == 100
    assert record_cells(record)["Tokens"].startswith("100 ")
