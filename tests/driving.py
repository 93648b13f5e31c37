"""Helpers to drive the app in tests: wait for conditions (never sleep and hope)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tui.app import StreamTuiApp
from tui.engine.clock import ManualClock
from tui.engine.endpoint import resolve_endpoint
from tui.engine.settings import Settings


def make_app(base_url: str, *, clock=None, history=None, **settings) -> StreamTuiApp:
    settings.setdefault("model", "gpt-4o")
    endpoint = resolve_endpoint(base_url=base_url, environ={})
    return StreamTuiApp(Settings(endpoint, **settings), clock=clock or ManualClock(), history=history)


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.005)


async def send(pilot, prompt: str) -> None:
    app = pilot.app
    app.prompt_input.load_text(prompt)
    await pilot.press("ctrl+j")


async def settle(pilot) -> None:
    """Wait for the run to end and everything it caused to be drawn."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    pilot.app.draw_pending()
    pilot.app._refresh_panel()
    await pilot.pause()


async def step_through(pilot, server, clock: ManualClock, schedule: list[tuple[float, str, int]]) -> None:
    """Replay a gated script with exact times: for each (time, gate, chunks) set the clock to
    ``time``, open ``gate``, and wait until the run has seen ``chunks`` answer chunks."""
    app = pilot.app
    await wait_for(pilot, lambda: app.current is not None)
    run = app.current  # a Compare action starts the next run as soon as this one ends
    for at, gate_name, chunks in schedule:
        clock.set(at)
        server.release(gate_name)
        await wait_for(pilot, lambda: run.metrics.chunks >= chunks)
    await pilot.pause()


def panel_text(app: StreamTuiApp) -> str:
    """The side panel as plain text, as a person reads it."""
    from rich.console import Console

    from tui.engine.comparison import pair_of

    run = app.current
    console = Console(width=60, record=True, file=open("/dev/null", "w"))
    console.print(app.metrics_panel.render_figures(run, pair_of(run, app.runs) if run else None))
    return console.export_text()
