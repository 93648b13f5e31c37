"""Snapshots of every screen state that matters, made deterministic by an injected clock
and gated scripts: the test sets the clock, then opens the gate that lets a chunk through.

Update after an intended change: pytest tests/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import pytest

from tests.driving import make_app, send, settle, step_through, wait_for
from tui.engine.clock import ManualClock
from tui.scripted_server import Script, ScriptedServer, chunk, gate, words

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


async def started(pilot) -> None:
    pilot.app.prompt_input.cursor_blink = False
    await send(pilot, "Why stream completions?")
    await wait_for(pilot, lambda: pilot.app.current is not None and pilot.app.current.metrics.state == "waiting")


def freeze(pilot, clock: ManualClock, at: float) -> None:
    clock.set(at)
    pilot.app._flush()
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
            await step_through(pilot, fixed_server, clock, [(0.120, "stream-0", 1), (0.180, "stream-1", 2), (0.310, "stream-2", 3)])
            freeze(pilot, clock, 0.400)
            await pilot.pause()

        assert snap_compare(make_app(fixed_server.base_url, clock=clock), run_before=run_before, terminal_size=SIZE)

    def test_finished_streaming(self, snap_compare, fixed_server):
        """All chunks in, server usage against tiktoken, one row in the runs table."""
        fixed_server.push(gated_answer("finish-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, [(0.120, "finish-0", 1), (0.180, "finish-1", 2), (0.310, "finish-2", 3), (0.520, "finish-3", 4)])
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
            await step_through(pilot, fixed_server, clock, [(0.120, "both1-0", 1), (0.180, "both1-1", 2), (0.310, "both1-2", 3), (0.520, "both1-3", 4)])
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
            await step_through(pilot, fixed_server, clock, [(0.120, "cancel-0", 1), (0.180, "cancel-1", 2)])
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
