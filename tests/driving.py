"""Helpers to drive the app in tests. They wait for conditions (never sleep and hope), and
they never redraw or refresh anything by hand: a test sees only what the app drew by itself."""

from __future__ import annotations

import asyncio
import atexit
from collections.abc import Callable

from tui.app import StreamTuiApp
from tui.engine.clock import ManualClock
from tui.engine.endpoint import resolve_endpoint
from tui.engine.history import HistoryStore
from tui.engine.settings import Settings, open_session
from tui.engine.worker_client import WorkerStreamer

_worker: WorkerStreamer | None = None


def shared_worker() -> WorkerStreamer:
    """One streaming worker process for the whole test run, as the command line starts it;
    every app borrows it, so the SDK is imported once, not once a test."""
    global _worker
    if _worker is None:
        _worker = WorkerStreamer.spawn(shared=True)
        atexit.register(_worker.stop)
    return _worker


def make_app(base_url: str | None, *, clock=None, history=None, streamer=None, local_server=None, profiles=None, config_path=None, theme=None, **settings) -> StreamTuiApp:
    """The app as ``streamtui --base-url URL --model gpt-4o`` builds it (``base_url`` None: with
    nothing configured, the embedded model), with an injected clock and history in memory."""
    if base_url is not None:
        settings.setdefault("model", "gpt-4o")
    endpoint = resolve_endpoint(base_url=base_url, environ={})
    resolved = Settings(endpoint, **settings)
    session = open_session(
        resolved,
        streamer=streamer or shared_worker(),
        history=history if history is not None else HistoryStore.in_memory(),
        local_server=local_server,
        clock=clock or ManualClock(),
    )
    return StreamTuiApp(session, prompt=resolved.prompt, profiles=profiles, config_path=config_path, theme=theme)


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.005)


async def send(pilot, prompt: str) -> None:
    pilot.app.main_screen.prompt_input.load_text(prompt)
    await pilot.press("ctrl+j")


async def settle(pilot) -> None:
    """Wait for the send to end and for the frames it caused (the app draws them itself)."""
    app = pilot.app
    await wait_for(pilot, lambda: not app.session.busy)
    await app.workers.wait_for_complete()
    await app.session.writer.flush()  # history written, for tests that read the store
    await pilot.pause()
    await tables_measured(pilot)


async def tables_measured(pilot) -> None:
    """Wait until every table on screen has measured its changed cells: a DataTable widens
    its columns when it is next idle, which may come after a pause."""
    from textual.widgets import DataTable

    def measured() -> bool:
        return all(not table._require_update_dimensions and not table._updated_cells for table in pilot.app.screen.query(DataTable))

    await wait_for(pilot, measured)
    await drawn(pilot)


async def drawn(pilot) -> None:
    """Wait until the screen has laid out and painted everything a widget asked for (a table
    that has just measured asks for a layout, which a loaded machine may run after a pause)."""
    screen = pilot.app.screen

    def settled() -> bool:
        if screen._layout_required or screen._scroll_required or screen._repaint_required or screen._dirty_widgets:
            return False
        return not any(widget._layout_required or widget._repaint_required for widget in screen.walk_children(with_self=False))

    await wait_for(pilot, settled)
    await pilot.pause()


async def step_through(pilot, server, clock: ManualClock, schedule: list[tuple[float, str, int]]) -> None:
    """Replay a gated script with exact times: for each (time, gate, chunks) set the clock to
    ``time``, open ``gate``, and wait until the run has seen ``chunks`` answer chunks."""
    main = pilot.app.main_screen
    await wait_for(pilot, lambda: main.current is not None)
    run = main.current  # a Compare action starts the next run as soon as this one ends
    await on_the_wire(pilot, run)
    for at, gate_name, chunks in schedule:
        clock.set(at)
        server.release(gate_name)
        await wait_for(pilot, lambda: run.metrics.chunks >= chunks)
    await counted_up(pilot, run)
    await pilot.pause()


async def counted_up(pilot, run) -> None:
    """Wait until tiktoken's count (which follows the text from a thread) covers all of it."""
    metrics = run.metrics
    await wait_for(pilot, lambda: metrics.token_count is not None and metrics.token_count.answer_chars == metrics.answer_chars and metrics.token_count.reasoning_chars == metrics.reasoning_chars)


async def on_the_wire(pilot, run) -> None:
    """Wait until ``run``'s request is on the wire, and (streaming) its headers are back: the
    worker stamps both with the clock, so a test moves the clock only after them. (A waited
    run's headers come with its whole answer.)"""
    metrics = run.metrics
    await wait_for(pilot, lambda: metrics.sent_at is not None and (metrics.headers_at is not None or not run.request.stream))


def panel_text(app: StreamTuiApp) -> str:
    """The side panel as plain text, drawn as the app draws it: at the panel's own width and
    height (its lines wrapped or cut as on screen), whatever lies over it (a toast)."""
    from textual.geometry import Region

    panel = app.main_screen.metrics_panel
    if not panel.is_on_screen:
        return ""  # a closed drawer shows nothing
    width, height = panel.size
    return "\n".join(strip.text.rstrip() for strip in panel.render_lines(Region(0, 0, width, height)))


def cell(table, row: int, column: str) -> str:
    """The text of a table's cell by row index and column name."""
    return str(table.get_row_at(row)[list(table.columns).index(column)])


async def keys_from_a_terminal(pilot, data: str) -> None:
    """Feed ``data`` (bytes as a terminal sends them, e.g. ``"\\x1bc"`` for Alt+C) through
    Textual's own xterm parser, and post its events as the terminal driver does. Pilot's
    ``press`` builds key events without the character a terminal gives Alt+letter keys, so it
    cannot show what a text editor does with them."""
    from textual._xterm_parser import XTermParser

    parser = XTermParser()
    # The end of input ends a sequence the parser would otherwise wait on for a moment (ESC c).
    for event in [*parser.feed(data), *parser.feed("")]:
        pilot.app.post_message(event)
    await pilot.pause()
