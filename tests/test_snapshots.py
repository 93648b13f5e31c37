"""Snapshots of every screen state that matters, made deterministic by an injected clock
and gated scripts: the test sets the clock, then opens the gate that lets a chunk through,
and waits for what the app draws by itself (nothing here redraws by hand).

The scripted server listens on a free port; the app reaches it as an HTTP proxy for the
stable address ``http://llm.example.test/v1``, so the endpoint on screen never changes.

Update after an intended change: pytest tests/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.driving import make_app, on_the_wire, panel_text, send, settle, step_through, tables_measured, wait_for
from tests.support.scripted_server import Script, ScriptedServer, chunk, gate, reasoning, words
from tui.engine.clock import ManualClock
from tui.engine.history import HistoryStore
from tui.engine.worker_client import WorkerStreamer

SIZE = (120, 34)
SMALL = pytest.param((80, 24), id="80x24")
MEDIUM = pytest.param(SIZE, id="120x34")
LARGE = pytest.param((200, 60), id="200x60")
#: The product's main states are pictured at all three sizes; the rest at the smallest that
#: changes the layout (80×24 folds the figures into a bar and a drawer) and the usual one.
ALL_SIZES = pytest.mark.parametrize("size", [SMALL, MEDIUM, LARGE])
TWO_SIZES = pytest.mark.parametrize("size", [SMALL, MEDIUM])
#: What the app is pointed at; the proxy settings send it to the scripted server.
STABLE_URL = "http://llm.example.test/v1"

ANSWER = [
    "# Streaming vs waiting\n\n",
    "With streaming, the first words show ",
    "in a fraction of a second.\n\n",
    "- **TTFT** is short\n- `E2E` is the same either way\n",
]


@pytest.fixture(scope="module")
def fixed_server():
    with ScriptedServer() as running:
        yield running


@pytest.fixture(scope="module")
def proxied_worker(fixed_server):
    """A streaming worker whose environment sends STABLE_URL to the scripted server (its proxy
    settings are read in the worker's own process, so it gets an environment of its own)."""
    saved = dict(os.environ)
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(name, None)
    for name in ("http_proxy", "HTTP_PROXY"):
        os.environ[name] = f"http://127.0.0.1:{fixed_server.port}"
    try:
        worker = WorkerStreamer.spawn(shared=True)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    # Counted live from the first snapshot on (a fresh worker counts its first run at the end).
    asyncio.run(worker.load_encoding("o200k_base"))
    yield worker
    worker.stop()


def gated_answer(prefix: str, **options) -> Script:
    """The answer, each chunk behind its own gate ``{prefix}0``, ``{prefix}1``, … (gates stay open
    once released, so every test uses its own prefix)."""
    steps = []
    for index, text in enumerate(ANSWER):
        steps += [gate(f"{prefix}{index}"), chunk(text)]
    return Script(steps, usage=(9, 31), **options)


#: When each chunk of ANSWER arrives, in seconds after the request went on the wire.
ARRIVALS = (0.120, 0.180, 0.310, 0.520)


def schedule(prefix: str, chunks: int = len(ARRIVALS)) -> list[tuple[float, str, int]]:
    """The first ``chunks`` steps of ``gated_answer(prefix)`` at the ARRIVALS times."""
    return [(at, f"{prefix}{index}", index + 1) for index, at in enumerate(ARRIVALS[:chunks])]


#: The module's proxied worker, lent to every app (shared: closing an app does not stop it).
WORKER: WorkerStreamer | None = None


@pytest.fixture(autouse=True)
def _lend_worker(proxied_worker):
    global WORKER
    WORKER = proxied_worker


def app_for(**options):
    """The app pointed at STABLE_URL, streaming through the proxied worker."""
    return make_app(STABLE_URL, streamer=WORKER, **options)


async def started(pilot) -> None:
    pilot.app.main_screen.prompt_input.cursor_blink = False
    await send(pilot, "Why stream completions?")
    await wait_for(pilot, lambda: pilot.app.main_screen.current is not None)
    await on_the_wire(pilot, pilot.app.main_screen.current)


async def shows(pilot, text: str) -> None:
    """Wait until the panel (or, where it is a closed drawer, the figures bar), redrawn by the
    app's own ticker, shows ``text``."""
    from tui.widgets.figures_bar import FiguresBar

    bar = pilot.app.main_screen.query_one(FiguresBar)
    await wait_for(pilot, lambda: text in panel_text(pilot.app) or text in bar.render().plain)


class TestRunStates:
    """What a person sees at each point of a run."""

    @ALL_SIZES
    def test_idle(self, snap_compare, fixed_server, size):
        """Empty output with a hint, the endpoint and model in the panel, no runs yet."""

        async def run_before(pilot):
            pilot.app.main_screen.prompt_input.cursor_blink = False
            await pilot.pause()

        assert snap_compare(app_for(), run_before=run_before, terminal_size=size)

    @ALL_SIZES
    def test_streaming_midway(self, snap_compare, fixed_server, size):
        """Three chunks in: TTFT 120 ms, elapsed 400 ms (ticking by itself), E2E pending."""
        fixed_server.push(gated_answer(f"stream-{size[0]}-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule(f"stream-{size[0]}-", 3))
            clock.set(0.400)
            await shows(pilot, "400.0 ms")

        assert snap_compare(app_for(clock=clock), run_before=run_before, terminal_size=size)

    @TWO_SIZES
    def test_finished_streaming(self, snap_compare, fixed_server, size):
        """All chunks in, server usage against tiktoken, one row in the runs table."""
        fixed_server.push(gated_answer(f"finish-{size[0]}-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule(f"finish-{size[0]}-"))
            await settle(pilot)

        assert snap_compare(app_for(clock=clock), run_before=run_before, terminal_size=size)

    def test_non_streaming_waiting(self, snap_compare, fixed_server):
        """Streaming off: nothing yet, the pane says it waits for the whole answer, Elapsed ticks."""
        fixed_server.push(gated_answer("non_st-"))
        clock = ManualClock()

        async def run_before(pilot):
            pilot.app.main_screen.prompt_input.cursor_blink = False
            await send(pilot, "Why stream completions?")
            await wait_for(pilot, lambda: pilot.app.main_screen.current is not None)
            await on_the_wire(pilot, pilot.app.main_screen.current)
            clock.set(1.250)
            await shows(pilot, "1.250 s")

        assert snap_compare(app_for(clock=clock, stream=False), run_before=run_before, terminal_size=SIZE)

    @ALL_SIZES
    def test_finished_comparison(self, snap_compare, fixed_server, size):
        """The same prompt streamed and not (Ctrl+T between): TTFT 120 ms against 900 ms."""
        fixed_server.push(gated_answer(f"both1-{size[0]}-"), gated_answer(f"both2-{size[0]}-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule(f"both1-{size[0]}-"))
            await settle(pilot)
            await pilot.press("ctrl+t")
            clock.set(1.000)
            await started(pilot)
            for name in (f"both2-{size[0]}-{index}" for index in range(3)):
                fixed_server.release(name)
            clock.set(1.900)
            fixed_server.release(f"both2-{size[0]}-3")
            await settle(pilot)
            pilot.app.clear_notifications()
            await pilot.pause()

        assert snap_compare(app_for(clock=clock), run_before=run_before, terminal_size=size)

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

        assert snap_compare(app_for(clock=clock), run_before=run_before, terminal_size=SIZE)

    @TWO_SIZES
    def test_failed(self, snap_compare, fixed_server, size):
        """A 401: one clear line in the pane, the panel and a toast; the run failed in the table."""
        fixed_server.push(Script(words("never"), status=401, error_message="Incorrect API key provided."))
        clock = ManualClock()

        async def run_before(pilot):
            pilot.app.main_screen.prompt_input.cursor_blink = False
            await send(pilot, "Why stream completions?")
            await settle(pilot)

        assert snap_compare(app_for(clock=clock, retries=0), run_before=run_before, terminal_size=size)


class TestComparison:
    """The product's point: the same prompt streamed and not, side by side."""

    @TWO_SIZES
    def test_compare_pair(self, snap_compare, fixed_server, size):
        """Ctrl+O: a discarded warm-up, then run #1 streamed (first text at 120 ms); run #2
        waits until 1.9 s after its request went out at 0.52 s: streaming showed text 1.260 s
        sooner. Both were sent with temperature 0 and seed 1234."""
        fixed_server.push(Script(words("warm")), gated_answer(f"pairA-{size[0]}-"), gated_answer(f"pairB-{size[0]}-"))
        clock = ManualClock()

        async def run_before(pilot):
            main = pilot.app.main_screen
            main.prompt_input.cursor_blink = False
            main.prompt_input.load_text("Why stream completions?")
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: main.current is not None)
            await step_through(pilot, fixed_server, clock, schedule(f"pairA-{size[0]}-"))
            await wait_for(pilot, lambda: len(pilot.app.session.runs) == 2)
            await on_the_wire(pilot, pilot.app.session.runs[1])
            for name in (f"pairB-{size[0]}-{index}" for index in range(3)):
                fixed_server.release(name)
            clock.set(1.900)
            fixed_server.release(f"pairB-{size[0]}-3")
            await settle(pilot)

        assert snap_compare(app_for(clock=clock), run_before=run_before, terminal_size=size)

    @TWO_SIZES
    def test_timeline_of_a_streamed_run(self, snap_compare, fixed_server, size):
        """Ctrl+L: every chunk with its arrival, gap, tokens and visible whitespace, and the plot."""
        fixed_server.push(gated_answer(f"tline-{size[0]}-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule(f"tline-{size[0]}-"))
            await settle(pilot)
            await pilot.press("ctrl+l")
            await wait_for(pilot, lambda: pilot.app.screen.query_one("#chunks").row_count == len(ANSWER))
            await tables_measured(pilot)

        assert snap_compare(app_for(clock=clock), run_before=run_before, terminal_size=size)


class TestReasoning:
    def test_reasoning_shown_apart_and_timed(self, snap_compare, fixed_server):
        """Reasoning in its own dimmed pane above the answer; first thought at 40 ms, TTFT 200 ms."""
        fixed_server.push(Script([gate("rsn-0"), reasoning("The user asks why. "), gate("rsn-1"), reasoning("Compare TTFT with E2E."), gate("rsn-2"), chunk("Because the first words arrive at once.")]))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            run = pilot.app.main_screen.current
            clock.set(0.040)
            fixed_server.release("rsn-0")
            await wait_for(pilot, lambda: run.metrics.reasoning_chunks == 1)
            clock.set(0.090)
            fixed_server.release("rsn-1")
            await wait_for(pilot, lambda: run.metrics.reasoning_chunks == 2)
            await step_through(pilot, fixed_server, clock, [(0.200, "rsn-2", 1)])
            await settle(pilot)

        assert snap_compare(app_for(clock=clock), run_before=run_before, terminal_size=SIZE)


class TestHistory:
    @TWO_SIZES
    def test_history_screen(self, snap_compare, fixed_server, size, monkeypatch, tmp_path):
        """Ctrl+G: past runs with their figures, newest first."""
        import time

        monkeypatch.setenv("TZ", "UTC")
        monkeypatch.setenv("HOME", str(tmp_path))
        time.tzset()
        store = HistoryStore(tmp_path / "history.sqlite3")
        fixed_server.push(gated_answer(f"hist1-{size[0]}-"), Script(words("A short one."), usage=(2, 4)))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule(f"hist1-{size[0]}-"))
            await settle(pilot)
            await send(pilot, "And a short one?")
            await settle(pilot)
            # Wall-clock creation times vary: pin them for the picture.
            store._db.execute("UPDATE runs SET created = 1795000000 + id * 60")
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: pilot.app.screen.query_one("#history-runs").row_count == 2)
            await tables_measured(pilot)

        try:
            assert snap_compare(app_for(clock=clock, history=store), run_before=run_before, terminal_size=size)
        finally:
            store.close()
            time.tzset()


class TestScreens:
    """The screens a person opens from the main one, at the smallest size and the usual one."""

    @TWO_SIZES
    def test_help(self, snap_compare, fixed_server, size):
        """F1: every key of the screen it was opened from, and what each figure means."""

        async def run_before(pilot):
            pilot.app.main_screen.prompt_input.cursor_blink = False
            await pilot.press("f1")
            await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "HelpScreen")

        assert snap_compare(app_for(), run_before=run_before, terminal_size=size)

    @TWO_SIZES
    def test_settings(self, snap_compare, fixed_server, size):
        """F2: the next run's parameters, each field with its current value."""

        async def run_before(pilot):
            pilot.app.main_screen.prompt_input.cursor_blink = False
            await pilot.press("f2")
            await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SettingsScreen")
            for field in pilot.app.screen.query("Input"):
                field.cursor_blink = False

        assert snap_compare(app_for(), run_before=run_before, terminal_size=size)

    def test_model_picker(self, snap_compare, fixed_server):
        """F3: the models the server lists, the current one marked."""
        fixed_server.models = ["gpt-4o", "gpt-4o-mini", "o3-mini"]

        async def run_before(pilot):
            pilot.app.main_screen.prompt_input.cursor_blink = False
            await pilot.press("f3")
            await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ModelPicker" and pilot.app.screen.query("OptionList").first().option_count == 3)

        try:
            assert snap_compare(app_for(), run_before=run_before, terminal_size=SIZE)
        finally:
            fixed_server.models = None

    def test_figures_drawer_at_80x24(self, snap_compare, fixed_server):
        """80×24: the key figures in a bar; Ctrl+F opens every figure as a drawer."""
        fixed_server.push(gated_answer("drawer-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule("drawer-"))
            await settle(pilot)
            await pilot.press("ctrl+f")
            await pilot.pause()

        assert snap_compare(app_for(clock=clock), run_before=run_before, terminal_size=(80, 24))

    def test_output_maximized(self, snap_compare, fixed_server):
        """Ctrl+B: the answer alone, for reading a long one."""
        fixed_server.push(gated_answer("max-"))
        clock = ManualClock()

        async def run_before(pilot):
            await started(pilot)
            await step_through(pilot, fixed_server, clock, schedule("max-"))
            await settle(pilot)
            await pilot.press("ctrl+b")
            await pilot.pause()

        assert snap_compare(app_for(clock=clock), run_before=run_before, terminal_size=SIZE)


class TestConversation:
    @TWO_SIZES
    def test_three_turns(self, snap_compare, fixed_server, size):
        """Ctrl+N: three prompts, each sent with the turns before it; the pane shows the
        conversation, the panel its turn, the table three runs."""
        answers = ("Paris.", "About 2.1 million people live in the city itself.", "The Louvre, the Musée d'Orsay and the Centre Pompidou.")
        fixed_server.push(*(Script(words(answer), usage=(10 * turn, len(answer.split()))) for turn, answer in enumerate(answers, 1)))

        async def run_before(pilot):
            pilot.app.main_screen.prompt_input.cursor_blink = False
            await pilot.press("ctrl+n")
            for prompt in ("What is the capital of France?", "How many people live there?", "Which museums should I see?"):
                await send(pilot, prompt)
                await settle(pilot)

        assert snap_compare(app_for(), run_before=run_before, terminal_size=size)
