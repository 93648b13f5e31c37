"""History as the app keeps it: stored as runs go, listed, reopened, exported, and kept
when the app is killed mid-stream."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.driving import make_app, send, settle, wait_for
from tests.support.scripted_server import Script, chunk, gate, words
from tui.engine.history import HistoryStore
from tui.screens.history import HistoryScreen
from tui.screens.timeline import TimelineScreen

ROOT = Path(__file__).resolve().parent.parent


async def test_runs_are_stored_listed_reopened_and_exported(server, tmp_path):
    server.push(Script(words("A stored answer."), usage=(2, 4)), Script(words("A second one."), model="other"))
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store)
    async with app.run_test(size=(140, 40)) as pilot:
        await send(pilot, "first")
        await settle(pilot)
        await send(pilot, "second")
        await settle(pilot)
        records = store.list_runs(with_chunks=True)
        assert [record.prompt for record in records] == ["second", "first"]
        assert all(record.final and record.state == "done" for record in records)
        assert records[1].output == "A stored answer." and records[1].server_completion_tokens == 4
        await pilot.press("ctrl+g")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        screen.export_dir = tmp_path
        await wait_for(pilot, lambda: screen.query_one("#history-runs").row_count == 2)
        await pilot.press("down")  # the older run
        await pilot.press("e")
        await wait_for(pilot, lambda: list(tmp_path.glob(f"streamtui-run-{records[1].id}-*.jsonl")))
        (one,) = tmp_path.glob(f"streamtui-run-{records[1].id}-*.jsonl")
        exported = json.loads(one.read_text())
        assert exported["output"] == "A stored answer." and exported["itl"] == pytest.approx(records[1].gaps)
        await pilot.press("m")
        await wait_for(pilot, lambda: list(tmp_path.glob(f"streamtui-run-{records[1].id}-*.md")))
        (markdown,) = tmp_path.glob(f"streamtui-run-{records[1].id}-*.md")
        assert "A stored answer." in markdown.read_text()
        await pilot.press("a")
        await wait_for(pilot, lambda: list(tmp_path.glob("streamtui-runs-*.jsonl")))
        (everything,) = tmp_path.glob("streamtui-runs-*.jsonl")
        assert len(everything.read_text().splitlines()) == 2
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))
        await wait_for(pilot, lambda: app.screen.query_one("#chunks").row_count == 3)
        await pilot.press("escape", "escape")
        assert app.screen is app.main_screen


async def test_a_cancelled_run_keeps_its_partial_text_in_history(server, tmp_path):
    server.push(Script([chunk("partial "), gate("never")]))
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store)
    async with app.run_test(size=(120, 36)) as pilot:
        await send(pilot, "stop me")
        await wait_for(pilot, lambda: app.main_screen.current is not None and app.main_screen.current.metrics.chunks == 1)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("ctrl+g")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await wait_for(pilot, lambda: screen.query_one("#history-runs").row_count == 1)
        detail = str(screen.query_one("#detail").render())
        # the state is said once: "Cancelled: the partial answer is kept.", not "cancelled: Cancelled: …"
        assert "Cancelled: the partial answer is kept." in detail and "cancelled: Cancelled" not in detail.replace("\n", " ")
    (record,) = store.list_runs()
    assert record.state == "cancelled" and record.output == "partial " and record.final


def test_a_killed_app_keeps_the_partial_run(server, tmp_path):
    """SIGKILL the app mid-stream: history holds what had arrived (saved at least every 0.5 s)."""
    server.default = Script([chunk(f"word{i} ", delay=0.02) for i in range(10)] + [gate("never")])
    db = tmp_path / "history.sqlite3"
    child = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "app_child.py"), server.base_url, str(db), "10"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        assert line.startswith("SAVED"), line
        run_id = int(line.split()[1])
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        child.kill()
    record = HistoryStore(db).get(run_id)
    assert record is not None and not record.final and record.outcome == "interrupted"
    assert record.output == "".join(f"word{i} " for i in range(10))
    assert len(record.arrivals) == 10 and record.arrivals == sorted(record.arrivals)


async def test_two_apps_on_one_history_file_keep_their_pairs_apart(server, tmp_path):
    """As `streamtui web` runs one process per tab on one file: the first app sends once, then
    the second runs a Compare. Its pair links its own two runs, in the app and in history."""
    path = tmp_path / "history.sqlite3"
    first_store, second_store = HistoryStore(path), HistoryStore(path)
    first, second = make_app(server.base_url, history=first_store), make_app(server.base_url, history=second_store)
    async with first.run_test(size=(120, 40)) as first_pilot, second.run_test(size=(120, 40)) as second_pilot:
        await second_pilot.pause()  # the second app is up (its store opened) before the first sends
        await send(first_pilot, "from the first tab")
        await settle(first_pilot)
        second.main_screen.prompt_input.load_text("compared in the second tab")
        await second_pilot.press("ctrl+o")
        await settle(second_pilot)
        runs = second.session.runs
        assert len(runs) == 2 and second.session.pair_of(runs[-1]) is not None
        assert runs[0].pair_id == runs[1].pair_id == runs[0].number
    stored = {record.id: record for record in HistoryStore(path).list_runs()}
    assert len(stored) == 3
    assert [stored[run.number].pair_id for run in runs] == [runs[0].number] * 2
    assert stored[runs[0].number].prompt == "compared in the second tab"
    first_store.close()
    second_store.close()


async def test_history_at_80_columns_shows_the_outcome_and_the_prompt(server, tmp_path):
    """At 80×24 the History table ended at E2E: Chunks, Tokens, Tok/s, Outcome and Prompt were
    off the screen. A narrow table keeps the outcome and the prompt, and the selected run's
    detail says what has no column (when, the model, the API, chunks, tok/s); it widens again."""
    from textual.widgets import DataTable, Static

    server.default = Script(words("An answer."))
    app = make_app(server.base_url, model="model-with-a-name", history=HistoryStore(tmp_path / "h.sqlite3"))
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "remember me")
        await settle(pilot)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "HistoryScreen" and app.screen.query_one("#history-runs", DataTable).row_count == 1)
        table = app.screen.query_one("#history-runs", DataTable)
        labels = [column.label.plain for column in table.ordered_columns]
        assert "Outcome" in labels and "Prompt" in labels and "Model" not in labels, labels
        widths = sum(column.get_render_width(table) for column in table.ordered_columns)
        assert widths <= table.content_region.width, (widths, table.content_region.width)
        detail = str(app.screen.query_one("#detail", Static).render())
        assert "model-with-a-name" in detail and "API chat" in detail and "Chunks " in detail, detail
        await pilot.resize_terminal(160, 40)
        await wait_for(pilot, lambda: "Model" in [column.label.plain for column in table.ordered_columns])
        assert table.row_count == 1


async def test_history_keeps_the_picked_run_in_view_across_a_resize(server, tmp_path):
    """Row 16 picked at 80×24, the terminal widened and narrowed again: the table showed rows
    #41 to #30, the picked run out of view (its detail still shown)."""
    from textual.widgets import DataTable

    server.default = Script(words("An answer."))
    store = HistoryStore(tmp_path / "h.sqlite3")
    app = make_app(server.base_url, history=store)
    async with app.run_test(size=(80, 24)) as pilot:
        for index in range(20):
            await send(pilot, f"prompt {index}")
            await settle(pilot)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "HistoryScreen" and app.screen.query_one("#history-runs", DataTable).row_count == 20)
        table = app.screen.query_one("#history-runs", DataTable)
        for _ in range(15):
            await pilot.press("down")
        picked = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        await pilot.resize_terminal(140, 45)
        await settle(pilot)
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: "Model" not in [column.label.plain for column in table.ordered_columns])
        await settle(pilot)
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == picked
        top = table.scroll_y  # the header takes the view's first row
        assert top <= table.cursor_row < top + table.scrollable_content_region.height - 1, (top, table.cursor_row)
