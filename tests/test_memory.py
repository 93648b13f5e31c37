"""What the app keeps in memory as runs come and go (issue 10), each test written to fail on
the code before its fix. They pin what is kept or released, never an RSS figure (those are
the memory benchmark's: benchmarks/run.py --only memory).

They drive the real app against a scripted server over loopback, with the real streaming
worker, and wait only for conditions.
"""

from __future__ import annotations

import gc
import weakref
from dataclasses import replace

import pytest
from textual.widgets._footer import FooterKey

from tests.driving import make_app, send, settle, wait_for
from tests.support.scripted_server import Script, chunk, gate
from tui.engine.worker_client import WorkerStreamer


def held(name: str) -> Script:
    """An answer whose first chunk arrives, and whose rest waits at gate ``name`` for ever."""
    return Script([chunk("partial answer, "), gate(name), chunk("never sent")])


async def send_and_cancel(pilot, server, name: str):
    """Send, wait for the first text, press Escape, wait until the run has ended; the run."""
    app = pilot.app
    main = app.main_screen
    previous = main.current
    server.push(held(name))
    await send(pilot, "go")
    await wait_for(pilot, lambda: main.current is not previous and main.current.metrics.chunks >= 1, timeout=15)
    await pilot.press("escape")
    await wait_for(pilot, lambda: not app.session.busy and main.current.metrics.state == "cancelled", timeout=15)
    return main.current


def footer_keys(app) -> list[FooterKey]:
    return list(app.main_screen.query(FooterKey))


async def test_the_footer_keys_a_run_replaces_are_freed(server):
    """A run starting and ending changes the keys offered (Cancel only while one runs), and
    Textual's footer rebuilds its keys each time. The keys it replaced must be freed: they
    were kept for as long as the app ran (each a widget with its styles, caches and message
    queue), about 0.6 MB a run in the send-and-cancel benchmark, and the lines they drew."""
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(footer_keys(app)) > 0)
        await send_and_cancel(pilot, server, "first")
        replaced = [weakref.ref(key) for key in footer_keys(app)]
        # Textual keeps the style caches of the last 1,024 widgets drawn (an lru_cache on a
        # method), whatever became of the widgets: they must not keep the lines they drew.
        drawn_lines = [key._styles_cache for key in footer_keys(app)]
        for index in range(3):
            await send_and_cancel(pilot, server, f"run{index}")
        # The footer shows keys built after the first run's (it was rebuilt since).
        await wait_for(pilot, lambda: footer_keys(app) and not any(ref() in footer_keys(app) for ref in replaced))
        gc.collect()
        kept = [ref() for ref in replaced if ref() is not None]
        assert kept == [], f"{len(kept)} of {len(replaced)} replaced footer keys are still alive"
        assert [len(cache._cache) for cache in drawn_lines] == [0] * len(drawn_lines)


async def test_the_footer_rebuilds_its_keys_only_when_what_they_show_changes(server):
    """Textual rebuilt the footer's keys whenever the screen's bindings might have changed:
    about fifteen times a send (each mounting and styling every key). Refreshes that change
    nothing shown keep the keys; a run's start (Cancel offered) rebuilds them."""
    server.push(held("run"))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.main_screen
        await wait_for(pilot, lambda: len(footer_keys(app)) > 0)
        await pilot.pause()
        keys = footer_keys(app)
        for _ in range(3):
            main.refresh_bindings()
            await pilot.pause()
        assert footer_keys(app) == keys and all(key.is_attached for key in keys)
        await send(pilot, "go")
        await wait_for(pilot, lambda: any(key.action == "cancel" for key in footer_keys(app)))
        assert not any(key in footer_keys(app) for key in keys)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.session.busy)


async def test_the_runs_table_keeps_only_lines_it_can_still_draw(server):
    """Each run changes the Runs table, and Textual keys its cached cells, rows and lines by
    the table's update count, which only grows: what was cached for an earlier count is never
    drawn again, but stayed until 10,000 cells were cached (about 0.2 MB a run, up to some
    25 MB). The table caches no more cells than it shows."""
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.main_screen.runs_table
        for index in range(5):
            await send(pilot, f"prompt {index}")
            await settle(pilot)
        assert table.row_count == 5
        shown = table.size.height * len(table.columns)
        cached = {"cells": len(table._cell_render_cache), "rows": len(table._row_render_cache), "lines": len(table._line_cache)}
        assert cached["cells"] <= shown and cached["rows"] <= table.size.height and cached["lines"] <= table.size.height, (cached, table.size)


# -- tiktoken stays in the streaming worker ---------------------------------------------------


@pytest.fixture
async def cold_worker(log):
    """A streaming worker of this test's own that has built no encoding (as just after launch):
    its token counter builds one when the first run needs it, so a run cut off before that
    arrives with no count at all."""
    worker = WorkerStreamer.spawn(encoding=None)
    assert await worker.wait_ready()
    yield worker
    worker.stop()


async def test_a_cancelled_run_is_counted_by_the_worker_not_the_app(server, cold_worker, encodings_built_here):
    """A run cancelled before its stream's last count is counted at its end, as before, but by
    the streaming worker: the app's process builds no tiktoken encoding (one costs it about
    80 MB, which the first cancelled run used to add to the app for good)."""
    app = make_app(server.base_url, streamer=cold_worker)
    async with app.run_test(size=(120, 40)) as pilot:
        run = await send_and_cancel(pilot, server, "held")
        count = run.metrics.token_count
        assert count is not None and count.final
        assert (count.answer_chars, count.answer, count.encoding) == (len(run.text), 4, "o200k_base")  # partial| answer|,| 
    assert dict(encodings_built_here) == {}


async def test_a_count_that_fails_is_logged_and_the_run_is_kept(server, cold_worker, encodings_built_here, log):
    """A count the worker cannot make (an encoding it does not know) is a logged figure
    problem: the run still ends cancelled with its text, saved, and the app builds nothing."""
    app = make_app(server.base_url, streamer=cold_worker)
    async with app.run_test(size=(120, 40)) as pilot:
        app.session.params = replace(app.session.params, encoding="no_such_base")
        run = await send_and_cancel(pilot, server, "held")
        assert run.metrics.state == "cancelled" and run.text == "partial answer, "
        await app.session.writer.flush()
        record = app.session.history.get(run.number)
        assert record is not None and record.state == "cancelled" and record.output == "partial answer, "
    assert f"Counting run #{run.number} after its end" in log.read_text()
    assert dict(encodings_built_here) == {}


def test_the_app_turns_the_collector_on_again_once_its_first_screen_is_up():
    """The command runs the imports with the collector off (tui/launch.py); the app turns it on
    again as it freezes its startup heap, or cyclic garbage would pile up for the whole session."""
    import gc

    from tui.app import _out_of_the_collectors_way

    thresholds = gc.get_threshold()
    gc.disable()
    try:
        _out_of_the_collectors_way()
        assert gc.isenabled()
    finally:
        gc.enable()
        gc.set_threshold(*thresholds)
        gc.unfreeze()
