"""Past runs from history, newest first: search, filter by model, reopen in the timeline,
send a prompt again, continue a conversation, delete, export, copy.

Every read and write of the database happens in a thread (the loop never waits on the disk);
an export that cannot be written is a notification, never the end of the app.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Select, Static

from ..engine import format as fmt
from ..engine.export import export_file
from ..engine.history import RunRecord
from ..engine.sanitize import one_line
from ..engine.session import RunSession
from ..engine.summary import how_it_ended, record_cells
from ..widgets.footer import Footer
from ..widgets.measured_table import MeasuredTable
from ..widgets.runs_table import WIDE_FROM
from .watched import WatchedScreen

COLUMNS = ("#", "When", "Model", "API", "Stream", "TTFT", "E2E", "Chunks", "Tokens", "Tok/s", "Outcome", "Prompt")
#: Below WIDE_FROM columns (as the Runs table): the rest goes to the selected run's detail line
#: (at 80 columns the full table ended at E2E, the outcome and the prompt off the screen).
NARROW_COLUMNS = ("#", "Stream", "TTFT", "E2E", "Tokens", "Outcome", "Prompt")


@dataclass(frozen=True)
class HistoryChoice:
    """What the person asked the main screen to do: send ``prompt`` again, or continue the
    conversation ``conversation_id``."""

    prompt: str | None = None
    conversation_id: int | None = None


class HistoryScreen(WatchedScreen[HistoryChoice | None]):
    CSS_PATH = "history.tcss"
    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("slash", "search", "Search"),
        Binding("enter", "open", "Timeline", show=True),
        Binding("r", "resend", "Send again"),
        Binding("n", "continue_conversation", "Continue", tooltip="Continue this run's chat"),
        Binding("d", "delete", "Delete"),
        Binding("e", "export_one", "Export", tooltip="Export this run as JSONL"),
        # The footer fits 80 columns with these two left out (the keys panel, Ctrl+P, lists all).
        Binding("a", "export_all", "Export listed", show=False, tooltip="Export the listed runs as JSONL"),
        Binding("m", "export_markdown", "As Markdown", show=False, tooltip="Export this run as Markdown"),
        Binding("c", "copy", "Copy", tooltip="Copy the answer"),
    ]

    def __init__(self, session: RunSession, export_dir: Path | None = None) -> None:
        super().__init__()
        self.session = session
        self.store = session.history
        self.export_dir = export_dir or Path.cwd()
        self.records: list[RunRecord] = []
        self.model_filter: str | None = None
        self.search_text = ""
        self._models: list[str] = []
        self._columns: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        with Horizontal(id="filters"):
            yield Input(placeholder="search prompts and answers ( / )", id="search")
            yield Select([], prompt="all models", allow_blank=True, id="model")
        yield Static(id="count")
        yield MeasuredTable(id="history-runs", cursor_type="row", zebra_stripes=True)
        yield Static(id="detail")
        yield Footer(compact=True, show_command_palette=False)  # as on the main screen

    def on_mount(self) -> None:
        table = self.query_one("#history-runs", DataTable)
        table.border_title = "History"
        self._columns = self._columns_that_fit()
        self._fill_table()  # its columns, before any run is listed
        table.focus()
        self._load()

    def on_resize(self) -> None:
        if self._columns and self._columns_that_fit() != self._columns:
            self._columns = self._columns_that_fit()
            self._fill_table()

    def on_screen_resume(self) -> None:
        self.on_resize()  # resized while a screen above it (the Timeline) was shown

    def _columns_that_fit(self) -> tuple[str, ...]:
        return NARROW_COLUMNS if self.app.size.width < WIDE_FROM else COLUMNS

    # -- listing ---------------------------------------------------------------------------
    @on(Select.Changed, "#model")
    def _on_model_changed(self, event: Select.Changed) -> None:
        self.model_filter = None if event.value is Select.NULL else str(event.value)
        self._load()

    @on(Input.Changed, "#search")
    def _on_search(self, event: Input.Changed) -> None:
        self.search_text = event.value.strip()
        self._load()

    @on(Input.Submitted, "#search")
    def _on_search_done(self) -> None:
        self.query_one("#history-runs", DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    @work(exclusive=True, group="history-load", exit_on_error=False)
    async def _load(self) -> None:
        await self.session.writer.flush()
        model, search = self.model_filter, self.search_text
        records, models = await asyncio.to_thread(lambda: (self.store.list_runs(model, search=search or None), self.store.models()))
        self.records = records
        if models != self._models:
            self._models = models
            # Text, not str: Select parses a str prompt as markup, and a model name is data.
            self.query_one("#model", Select).set_options([(Text(one_line(name, 60)), name) for name in models])
        self._fill_table()
        what = " · ".join(filter(None, (f"model {model}" if model else "", f"matching “{search}”" if search else "")))
        stored = fmt.path(self.store.path) if self.store.path else "memory only"
        note = f" · {self.store.problem}" if self.store.problem else ""
        self.query_one("#count", Static).update(Text(f"{fmt.quantity(len(records), 'run')}{(' · ' + what) if what else ''} · stored in {stored}{note}"))
        self._show_detail()

    def _fill_table(self) -> None:
        table = self.query_one("#history-runs", DataTable)
        selected = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value if table.row_count else None
        table.clear(columns=tuple(key.value for key in table.columns) != self._columns)
        if not table.columns:
            for column in self._columns:
                table.add_column(column, key=column)
        for record in self.records:
            cells = record_cells(record)
            # Auto height: as in the runs table, Textual then drops the lines it drew before it
            # measured the row (fixed-height rows keep their too-narrow columns).
            table.add_row(*(Text(cells[column]) for column in self._columns), key=str(record.id), height=None)
        if selected is not None and selected in table.rows:  # the run picked stays picked, in view
            row = table.get_row_index(selected)
            table.move_cursor(row=row, scroll=False)
            # In the middle of the view, once the rows are measured (DataTable's own scroll to
            # the cursor left it a row below the view after a rebuild). Rows are one line each.
            self.call_after_refresh(lambda: table.scroll_to(y=max(0, row - (table.scrollable_content_region.height - 1) // 2), animate=False))

    def _selected(self) -> RunRecord | None:
        table = self.query_one("#history-runs", DataTable)
        if not self.records or table.cursor_row < 0 or table.cursor_row >= len(self.records):
            return None
        return self.records[table.cursor_row]

    @on(DataTable.RowHighlighted, "#history-runs")
    def _show_detail(self) -> None:
        """The selected run's prompt, parameters, and the error it failed with."""
        record = self._selected()
        detail = Text()
        if record is not None:
            detail.append(f"#{record.id} ", style="bold")
            # Narrow, the Prompt column has its start: two rows here leave room for the rest.
            detail.append(one_line(record.prompt, 400 if self._columns == COLUMNS else 140))
            params = record.params
            sent = ", ".join(f"{name} {params[name]}" for name in ("temperature", "seed", "max_tokens") if params.get(name) is not None)
            if record.conversation_id is not None:
                sent = ", ".join(filter(None, (f"conversation #{record.conversation_id}, turn {record.turn}", sent)))
            if sent:
                detail.append(f"\nsent with {sent}", style="dim")
            cells = record_cells(record)
            left_out = [cells[column] if column in ("When", "Model") else f"{column} {cells[column]}" for column in COLUMNS if column not in self._columns and cells[column]]
            if left_out:  # what a narrow table has no column for
                detail.append("\n" + " · ".join(left_out), style="dim")
            if record.error:
                detail.append("\n" + how_it_ended(record.outcome, one_line(record.error, 400)), style="red" if record.state == "failed" else "magenta")
        self.query_one("#detail", Static).update(detail)

    async def _full(self, records: list[RunRecord]) -> list[RunRecord]:
        """Whole records (with chunk times), in one query, in a thread."""
        return await asyncio.to_thread(self.store.get_many, [record.id for record in records])

    # -- actions ---------------------------------------------------------------------------
    def action_back(self) -> None:
        self.dismiss(None)

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

    def action_resend(self) -> None:
        if (record := self._selected()) is not None:
            self.dismiss(HistoryChoice(prompt=record.prompt))

    def action_continue_conversation(self) -> None:
        record = self._selected()
        if record is None:
            return
        if record.conversation_id is None:
            self.notify(f"Run #{record.id} was a single prompt, not part of a conversation: R sends it again.", timeout=4, markup=False)
            return
        self.dismiss(HistoryChoice(conversation_id=record.conversation_id))

    def action_delete(self) -> None:
        from .confirm import Confirm

        record = self._selected()
        if record is None:
            return
        if any(run.number == record.id and run.metrics.running for run in self.session.runs):
            self.notify(f"Run #{record.id} is still running: cancel it first.", severity="warning", timeout=4, markup=False)
            return

        def delete(yes: bool | None) -> None:
            if yes:
                self.session.writer.delete(record.id)
                self.notify(f"Deleted run #{record.id}.", timeout=3, markup=False)
                self._load()

        self.app.push_screen(Confirm(f"Delete run #{record.id} ({one_line(record.prompt, 60)}) from history? This cannot be undone."), delete)

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
        from .reading import copy

        record = self._selected()
        if record is not None:
            copy(self, record.output, f"answer of run #{record.id}")
