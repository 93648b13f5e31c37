"""RunMetrics with a manual clock and hand-built events."""

from __future__ import annotations

import random

import pytest

from tui.engine.clock import ManualClock
from tui.engine.events import Delta, Failed, Finished, Started, Usage
from tui.engine.metrics import GapStats, RunMetrics, percentile
from tui.engine.tokens import IncrementalTokenCounter, encoding_for_model, load_encoding


@pytest.fixture(scope="module")
def o200k():
    return load_encoding("o200k_base")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(100.0)


def make(clock: ManualClock, o200k=None, stream: bool = True) -> RunMetrics:
    counter = IncrementalTokenCounter(o200k) if o200k is not None else None
    return RunMetrics(clock, counter, encoding_for_model("gpt-4o") if o200k is not None else None, stream=stream)


def feed(metrics: RunMetrics, *events) -> None:
    for event in events:
        metrics.on_event(event)


# -- percentile ---------------------------------------------------------------------------------


def test_percentile_linear_interpolation_hand_values():
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0.0) == 1.0
    assert percentile(values, 1.0) == 4.0
    assert percentile(values, 0.5) == pytest.approx(2.5)
    assert percentile(values, 0.95) == pytest.approx(3.85)  # position 2.85: 3 + 0.85 * (4 - 3)
    assert percentile(values, 0.25) == pytest.approx(1.75)
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 0.5) == 30.0
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 0.95) == pytest.approx(48.0)
    assert percentile([7.0], 0.95) == 7.0


def test_percentile_of_nothing_raises():
    with pytest.raises(ValueError):
        percentile([], 0.5)


def _reference_percentile(values: list[float], fraction: float) -> float:
    """numpy's default ("linear", closest ranks), written out from its definition."""
    ordered = sorted(values)
    h = (len(ordered) - 1) * fraction
    below = ordered[int(h // 1)]
    above = ordered[min(int(h // 1) + 1, len(ordered) - 1)]
    return below + (h - h // 1) * (above - below)


def test_percentile_matches_numpy_definition_on_random_data():
    rng = random.Random(3)
    for size in (2, 3, 10, 21, 100, 1001):
        values = sorted(rng.expovariate(20) for _ in range(size))
        for fraction in (0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0):
            assert percentile(values, fraction) == pytest.approx(_reference_percentile(values, fraction), rel=1e-12, abs=1e-15)


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
    m.attach_reasoning_counter(IncrementalTokenCounter(o200k))
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
    assert m.tpot == pytest.approx((2.5 - 0.5) / (3 - 1))
    assert m.decode_tokens_per_second == pytest.approx((3 - 1) / (2.5 - 0.5))
    # With usage: the server's completion tokens win.
    feed(m, Usage(prompt_tokens=9, completion_tokens=11), Finished("stop", 103.0))
    assert m.output_tokens == 11
    assert m.server_completion_tokens == 11
    assert m.tpot == pytest.approx(2.0 / 10)
    assert m.decode_tokens_per_second == pytest.approx(10 / 2.0)
    assert m.usage_difference == 11 - 3


def test_usage_without_completion_tokens_falls_back_to_tiktoken(clock, o200k):
    m = make(clock, o200k)
    feed(m, Started(100.0), Delta("hello", 100.5), Delta(" world", 101.5), Usage(4, None), Finished("stop", 102.0))
    assert m.server_completion_tokens is None
    assert m.output_tokens == 2
    assert m.tpot == pytest.approx(1.0)
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
    assert one_token.tpot is None and one_token.decode_tokens_per_second is None

    single_chunk = make(clock, o200k)  # many tokens in one chunk: E2E == TTFT, no decode span
    feed(single_chunk, Started(100.0), Delta("hello world hello world", 100.5), Finished("stop", 101.0))
    assert single_chunk.tpot is None and single_chunk.decode_tokens_per_second is None

    no_counter = make(clock)
    feed(no_counter, Started(100.0), Delta("a", 100.5), Delta("b", 101.0))
    assert no_counter.output_tokens is None and no_counter.tpot is None and no_counter.usage_difference is None


def test_non_streaming_has_no_ttft_and_full_e2e(clock, o200k):
    m = make(clock, o200k, stream=False)
    feed(m, Started(100.0), Delta("the whole answer at once", 103.0), Usage(3, 5), Finished("stop", 103.0))
    assert m.ttft is None
    assert m.ttfr is None
    assert m.e2e == pytest.approx(3.0)
    assert m.tpot is None and m.decode_tokens_per_second is None
    assert m.state == "done"


def test_nothing_before_start(clock):
    m = make(clock)
    assert m.state == "idle"
    assert (m.ttft, m.e2e, m.elapsed, m.gap_stats()) == (None, None, None, None)
    assert not m.running


# -- gaps ---------------------------------------------------------------------------------------


def test_gap_stats_hand_computed(clock):
    m = make(clock)
    times = [100.0, 100.1, 100.3, 100.35, 101.35, 101.45]  # gaps 0.1, 0.2, 0.05, 1.0, 0.1
    feed(m, Started(99.0), *(Delta("x", t) for t in times), Finished("stop", 102.0))
    assert m.gaps == pytest.approx([0.1, 0.2, 0.05, 1.0, 0.1])
    stats = m.gap_stats()
    # sorted: 0.05, 0.1, 0.1, 0.2, 1.0 → p50 at position 2 = 0.1; p95 at 3.8 = 0.2 + 0.8 * 0.8
    assert stats.p50 == pytest.approx(0.1)
    assert stats.p95 == pytest.approx(0.84)
    assert stats.max == pytest.approx(1.0)


def test_gap_stats_needs_two_chunks(clock):
    m = make(clock)
    feed(m, Started(100.0), Delta("only", 100.5))
    assert m.gap_stats() is None
    feed(m, Delta("two", 100.75))
    assert m.gap_stats() == GapStats(pytest.approx(0.25), pytest.approx(0.25), pytest.approx(0.25))


def _sorted_stats(gaps: list[float]) -> tuple[float, float, float]:
    ordered = sorted(gaps)
    return _reference_percentile(ordered, 0.5), _reference_percentile(ordered, 0.95), ordered[-1]


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
    m = make(clock)
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
    assert m.state == "idle"
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
    m = make(clock)
    feed(m, Started(100.0))  # rejected (stream_options unknown), retried without it:
    feed(m, Started(100.8))
    assert m.state == "waiting"
    clock.set(101.0)
    assert m.elapsed == pytest.approx(0.2)
    feed(m, Delta("a", 101.0), Delta("b", 101.3), Finished("stop", 101.4))
    assert m.started_at == 100.8
    assert m.ttft == pytest.approx(0.2)
    assert m.e2e == pytest.approx(0.5)
    assert m.elapsed == pytest.approx(0.6)
    assert list(m.arrivals) == pytest.approx([0.2, 0.5])


def test_gap_percentiles_of_a_long_live_run_stay_within_5_microseconds():
    """Past EXACT_GAPS_WHILE_RUNNING the live figures come from a 10 µs histogram; the final
    figures are exact again."""
    import random

    from tui.engine.clock import ManualClock
    from tui.engine.events import Delta, Finished, Started
    from tui.engine.metrics import RunMetrics, percentile

    clock = ManualClock()
    metrics = RunMetrics(clock)
    metrics.on_event(Started(0.0))
    rng = random.Random(7)
    at = 0.0
    for _ in range(RunMetrics.EXACT_GAPS_WHILE_RUNNING + 3_000):
        at += rng.expovariate(400)
        metrics.on_event(Delta("x", at))
    exact = sorted(metrics.gaps)
    live = metrics.gap_stats()
    assert metrics.running
    assert abs(live.p50 - percentile(exact, 0.5)) <= 5e-6 + 1e-9
    assert abs(live.p95 - percentile(exact, 0.95)) <= 5e-6 + 1e-9
    assert live.max == exact[-1]
    metrics.on_event(Finished("stop", at))
    final = metrics.gap_stats()
    assert final.p50 == percentile(exact, 0.5) and final.p95 == percentile(exact, 0.95)


def test_output_tokens_prefer_the_server_then_the_model_tokenizer_then_tiktoken():
    from tui.engine.clock import ManualClock
    from tui.engine.events import Delta, Started, Usage
    from tui.engine.metrics import RunMetrics
    from tui.engine.tokens import IncrementalTokenCounter, load_encoding

    metrics = RunMetrics(ManualClock(), IncrementalTokenCounter(load_encoding("o200k_base")))
    metrics.on_event(Started(0.0))
    metrics.on_event(Delta("hello world", 0.1))
    assert metrics.output_tokens == metrics.tiktoken_tokens == 2
    metrics.model_tokens = 3
    assert metrics.output_tokens == 3
    metrics.on_event(Usage(1, 5))
    assert metrics.output_tokens == 5
