"""Snapshots of every screen state that matters, made deterministic by an injected clock
and gated scripts: the test sets the clock, then opens the gate that lets a chunk through.

Update after an intended change: pytest tests/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import os

import pytest

from tests.driving import make_app, send, settle, step_through, wait_for
from tui.engine.clock import ManualClock
from tui.scripted_server import Script, ScriptedServer, chunk, gate, reasoning, words

SIZE = (120, 34)
#: Fixed, so the endpoint shown on screen is the same in every run.
PORT = 47611

ANSWER = [
    "# Streaming vs waiting\n\n",
    "With streaming, the first words show ",
    "in a fraction of a second.\n\n",
    "- **TTFT** is short\n- `E2E` is the same either way\n",
]


@pytest.fixture(scope="module")
def fixed_server():
    with ScriptedServer(port=PORT) as running:
        yield running


def gated_answer(prefix: str, **options) -> Script:
    """The answer, each chunk behind its own gate ``{prefix}0``, ``{prefix}1``, … (gates stay open
    once released, so every test uses its own prefix)."""
    steps = []
    for index, text in enumerate(ANSWER):
        steps += [gate(f"{prefix}{index}"), chunk(text)]
    return Script(steps, usage=(9, 31), **options)


#: When each chunk of ANSWER arrives, in seconds after the request.
ARRIVALS = (0.120, 0.180, 0.310, 0.520)


def schedule(prefix: str, chunks: int = len(ARRIVALS)) -> list[tuple[float, str, int]]:
    """The first ``chunks`` steps of ``gated_answer(prefix)`` at the ARRIVALS times."""
    return [(at, f"{prefix}{index}", index + 1) for index, at in enumerate(ARRIVALS[:chunks])]


async def started(pilot) -> None:
    pilot.app.prompt_input.cursor_blink = False
    await send(pilot, "Why stream completions?")
    await wait_for(pilot, lambda: pilot.app.current is not None and pilot.app.current.metrics.state == "waiting")


def freeze(pilot, clock: ManualClock, at: float) -> None:
    clock.set(at)
    pilot.app.draw_pending()
    pilot.app._refresh_panel()


class TestRunStates:
    """What a person sees at each point of a run."""

    def test_idle(self, snap_compare, fixed_server):
        """Empty output with a hint, the endpoint and model in the panel, no runs yet."""

        async def run_before(pilot):
            pilot.app.prompt_input.cursor_blink = False
            await pilot.pause()

        assert snap_compare(make_app(fixed_server.base_url), run_before=run_before, terminal_size=SIZE)

    def test_streaming_midway(self, snap_compare, fixed_server):
        """Three chunks in: TTFT 120 ms, elapsed 400 ms, state streaming, E2E pending."""
        fixed_server.push(gated_answer("stream-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule("stream-", 3))
            freeze(pilot, clock, 0.400)
            await pilot.pause()

        assert snap_compare(make_app(fixed_server.base_url, clock=clock), run_before=run_before, terminal_size=SIZE)

    def test_finished_streaming(self, snap_compare, fixed_server):
        """All chunks in, server usage against tiktoken, one row in the runs table."""
        fixed_server.push(gated_answer("finish-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule("finish-"))
            await settle(pilot)
            freeze(pilot, clock, 0.600)

        assert snap_compare(make_app(fixed_server.base_url, clock=clock), run_before=run_before, terminal_size=SIZE)

    def test_non_streaming_waiting(self, snap_compare, fixed_server):
        """Streaming off: nothing yet, the pane says it waits for the whole answer, Elapsed ticks."""
        fixed_server.push(gated_answer("non_st-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            freeze(pilot, clock, 1.250)
            await pilot.pause()

        app = make_app(fixed_server.base_url, clock=clock, stream=False)
        assert snap_compare(app, run_before=run_before, terminal_size=SIZE)

    def test_finished_comparison(self, snap_compare, fixed_server):
        """The same prompt streamed and not: TTFT 120 ms against an E2E of 520 ms / 900 ms."""
        fixed_server.push(gated_answer("both1-"), gated_answer("both2-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule("both1-"))
            await settle(pilot)
            await pilot.press("ctrl+t")
            clock.set(1.000)
            await started(pilot)
            for name in ("both2-0", "both2-1", "both2-2"):
                fixed_server.release(name)
            clock.set(1.900)
            fixed_server.release("both2-3")
            await settle(pilot)
            pilot.app.clear_notifications()
            await pilot.pause()

        assert snap_compare(make_app(fixed_server.base_url, clock=clock), run_before=run_before, terminal_size=SIZE)

    def test_cancelled(self, snap_compare, fixed_server):
        """Escape mid-stream: the partial answer stays, state cancelled."""
        fixed_server.push(gated_answer("cancel-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule("cancel-", 2))
            clock.set(0.250)
            await pilot.press("escape")
            await settle(pilot)

        assert snap_compare(make_app(fixed_server.base_url, clock=clock), run_before=run_before, terminal_size=SIZE)

    def test_failed(self, snap_compare, fixed_server):
        """A 401: one clear line in the panel, the run failed in the table, the app still running."""
        fixed_server.push(Script(words("never"), status=401, error_message="Incorrect API key provided."))
        clock = ManualClock()

        async def run_before(pilot):
            pilot.app.prompt_input.cursor_blink = False
            await send(pilot, "Why stream completions?")
            await settle(pilot)

        assert snap_compare(make_app(fixed_server.base_url, clock=clock), run_before=run_before, terminal_size=SIZE)


class TestComparison:
    """The product's point: the same prompt streamed and not, side by side."""

    def test_compare_pair(self, snap_compare, fixed_server):
        """Ctrl+O: run #1 streamed (first text at 120 ms); run #2 starts as #1 ends (0.52 s) and
        waits until 1.9 s (first text after 1.380 s): streaming showed text 1.260 s sooner."""
        fixed_server.push(gated_answer("pairA-"), gated_answer("pairB-"))
        clock = ManualClock()

        async def run_before(pilot):
            pilot.app.prompt_input.cursor_blink = False
            pilot.app.prompt_input.load_text("Why stream completions?")
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: pilot.app.current is not None and pilot.app.current.metrics.state == "waiting")
            await step_through(pilot, fixed_server, clock, schedule("pairA-"))
            # Run #2 is stamped as started at 0.52 s: the clock does not move until it waits.
            await wait_for(pilot, lambda: len(pilot.app.runs) == 1 and pilot.app.current.request.stream is False)
            await wait_for(pilot, lambda: pilot.app.current.metrics.state == "waiting")
            for name in ("pairB-0", "pairB-1", "pairB-2"):
                fixed_server.release(name)
            clock.set(1.900)
            fixed_server.release("pairB-3")
            await settle(pilot)

        assert snap_compare(make_app(fixed_server.base_url, clock=clock), run_before=run_before, terminal_size=SIZE)

    def test_timeline_of_a_streamed_run(self, snap_compare, fixed_server):
        """Ctrl+L: every chunk with its arrival, gap, tokens and visible whitespace, and the plot."""
        fixed_server.push(gated_answer("tline-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule("tline-"))
            await settle(pilot)
            await pilot.press("ctrl+l")
            await pilot.pause()

        assert snap_compare(make_app(fixed_server.base_url, clock=clock), run_before=run_before, terminal_size=SIZE)


class TestReasoning:
    def test_reasoning_shown_apart_and_timed(self, snap_compare, fixed_server):
        """Reasoning in its own dimmed pane above the answer; TTF reason 40 ms, TTFT 200 ms."""
        fixed_server.push(Script([gate("rsn-0"), reasoning("The user asks why. "), gate("rsn-1"), reasoning("Compare TTFT with E2E."), gate("rsn-2"), chunk("Because the first words arrive at once.")]))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            clock.set(0.040)
            fixed_server.release("rsn-0")
            await wait_for(pilot, lambda: pilot.app.current.metrics.reasoning_chunks == 1)
            clock.set(0.090)
            fixed_server.release("rsn-1")
            await wait_for(pilot, lambda: pilot.app.current.metrics.reasoning_chunks == 2)
            await step_through(pilot, fixed_server, clock, [(0.200, "rsn-2", 1)])
            await settle(pilot)

        assert snap_compare(make_app(fixed_server.base_url, clock=clock), run_before=run_before, terminal_size=SIZE)


class TestHistory:
    def test_history_screen(self, snap_compare, fixed_server, monkeypatch):
        """Ctrl+G: past runs with their figures, newest first, the pair marked by its outcome rows."""
        import time

        from tui.engine.history import HistoryStore

        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
        path = "/tmp/streamtui-snapshot-history.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        store = HistoryStore(path)
        fixed_server.push(gated_answer("hist1-"), Script(words("A short one."), usage=(2, 4)))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule("hist1-"))
            await settle(pilot)
            await send(pilot, "And a short one?")
            await settle(pilot)
            # Wall-clock creation times vary: pin them for the picture.
            store._db.execute("UPDATE runs SET created = 1795000000 + id * 60")
            await pilot.press("ctrl+g")
            await pilot.pause()

        try:
            assert snap_compare(make_app(fixed_server.base_url, clock=clock, history=store), run_before=run_before, terminal_size=SIZE)
        finally:
            store.close()
            time.tzset()
