"""Past runs from history: filter by model, reopen one in the timeline, export, copy.

Every read and write of the database happens in a thread (the loop never waits on the disk);
an export that cannot be written is a notification, never the end of the app.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Select, Static

from ..engine import format as fmt
from ..engine.export import export_file
from ..engine.history import RunRecord
from ..engine.sanitize import one_line
from ..engine.session import RunSession
from ..engine.summary import record_cells
from .watched import WatchedScreen

COLUMNS = ("#", "When", "Model", "API", "Stream", "TTFT", "E2E", "Chunks", "Tokens", "Tok/s", "Outcome", "Prompt")


class HistoryScreen(WatchedScreen[None]):
    CSS_PATH = "history.tcss"
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("enter", "open", "Timeline", show=True),
        Binding("e", "export_one", "Export run (JSONL)"),
        Binding("a", "export_all", "Export listed (JSONL)"),
        Binding("m", "export_markdown", "Run as Markdown"),
        Binding("c", "copy", "Copy answer"),
    ]

    def __init__(self, session: RunSession, export_dir: Path | None = None) -> None:
        super().__init__()
        self.session = session
        self.store = session.history
        self.export_dir = export_dir or Path.cwd()
        self.records: list[RunRecord] = []
        self.model_filter: str | None = None
        self._models: list[str] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="filters"):
            yield Select([], prompt="all models", allow_blank=True, id="model")
            yield Static(id="count")
        yield DataTable(id="history-runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#history-runs", DataTable)
        table.border_title = "History"
        for column in COLUMNS:
            table.add_column(column, key=column)
        table.focus()
        self._load()

    @on(Select.Changed, "#model")
    def _on_model_changed(self, event: Select.Changed) -> None:
        self.model_filter = None if event.value is Select.BLANK else str(event.value)
        self._load()

    @work(exclusive=True, group="history-load", exit_on_error=False)
    async def _load(self) -> None:
        await self.session.writer.flush()
        records, models = await asyncio.to_thread(lambda: (self.store.list_runs(self.model_filter), self.store.models()))
        self.records = records
        if models != self._models:
            self._models = models
            self.query_one("#model", Select).set_options([(one_line(model, 60), model) for model in models])
        table = self.query_one("#history-runs", DataTable)
        table.clear()
        for record in records:
            cells = record_cells(record)
            table.add_row(*(Text(cells[column]) for column in COLUMNS), key=str(record.id))
        where = f" for {self.model_filter}" if self.model_filter else ""
        note = f" · {self.store.problem}" if self.store.problem else ""
        stored = fmt.path(self.store.path) if self.store.path else "memory only"
        self.query_one("#count", Static).update(Text(f"{len(records):,} runs{where} · stored in {stored}{note}"))

    def _selected(self) -> RunRecord | None:
        table = self.query_one("#history-runs", DataTable)
        if not self.records or table.cursor_row < 0 or table.cursor_row >= len(self.records):
            return None
        return self.records[table.cursor_row]

    async def _full(self, records: list[RunRecord]) -> list[RunRecord]:
        """Whole records (with chunk times), in one query, in a thread."""
        return await asyncio.to_thread(self.store.get_many, [record.id for record in records])

    async def action_open(self) -> None:
        from .timeline import TimelineScreen

        listed = self._selected()
        if listed is None:
            return
        pair = [listed] + [other for other in self.records if listed.pair_id is not None and other.pair_id == listed.pair_id and other.id != listed.id]
        full = await self._full(pair)
        if not full:
            return
        full.sort(key=lambda record: not record.stream)
        shown = next(record for record in full if record.id == listed.id)
        self.app.push_screen(TimelineScreen(shown, f"History #{shown.id}", [(f"#{record.id}", record) for record in full]))

    @on(DataTable.RowSelected, "#history-runs")
    async def _on_row_selected(self) -> None:
        await self.action_open()

    def action_export_one(self) -> None:
        if (record := self._selected()) is not None:
            self._export([record], f"streamtui-run-{record.id}")

    def action_export_all(self) -> None:
        self._export(list(self.records), "streamtui-runs")

    def action_export_markdown(self) -> None:
        if (record := self._selected()) is not None:
            self._export([record], f"streamtui-run-{record.id}", markdown=True)

    @work(group="history-export", exit_on_error=False)
    async def _export(self, records: list[RunRecord], stem: str, markdown: bool = False) -> None:
        if not records:
            self.notify("Nothing to export: no runs are listed.", timeout=3)
            return
        try:
            full = await self._full(records)
            path = await asyncio.to_thread(export_file, full, self.export_dir, stem=stem, markdown=markdown)
        except OSError as exc:
            self.notify(f"Export failed: cannot write to {self.export_dir} ({exc.strerror or exc}).", severity="error", timeout=8, markup=False)
            return
        what = f"{len(full):,} runs" if len(full) != 1 else f"run #{full[0].id}"
        self.notify(f"Exported {what} to {path}", timeout=6, markup=False)

    def action_copy(self) -> None:
        record = self._selected()
        if record is not None:
            self.app.copy_to_clipboard(record.output)
            self.notify(f"Copied the answer of run #{record.id} ({len(record.output):,} characters).", timeout=3)
