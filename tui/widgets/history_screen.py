"""Past runs from the history store: filter by model, reopen one into the timeline, export."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Select, Static

from ..engine.history import HistoryStore, RunRecord, export_jsonl, to_markdown
from .metrics_panel import format_rate, format_seconds
from .timeline_screen import TimelineScreen

ALL_MODELS = "__all__"
COLUMNS = ("Id", "When", "Model", "API", "Stream", "TTFT", "E2E", "Chunks", "Tokens", "Tok/s", "Outcome", "Prompt")


class HistoryScreen(Screen[None]):
    CSS_PATH = "history_screen.tcss"
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("enter", "open", "Timeline", show=True),
        Binding("e", "export_one", "Export run (JSONL)"),
        Binding("a", "export_all", "Export listed (JSONL)"),
        Binding("m", "export_markdown", "Answer as Markdown"),
        Binding("c", "copy", "Copy answer"),
    ]

    def __init__(self, store: HistoryStore, export_dir: Path | None = None) -> None:
        super().__init__()
        self.store = store
        self.export_dir = export_dir or Path.cwd()
        self.records: list[RunRecord] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="filters"):
            options = [(model, model) for model in self.store.models()]
            yield Select(options, prompt="all models", allow_blank=True, id="model")
            yield Static(id="count")
        yield DataTable(id="history-runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#history-runs", DataTable)
        table.border_title = "History"
        for column in COLUMNS:
            table.add_column(column, key=column)
        self._load(None)
        table.focus()

    @on(Select.Changed, "#model")
    def _on_model_changed(self, event: Select.Changed) -> None:
        self._load(None if event.value is Select.BLANK else str(event.value))

    def _load(self, model: str | None) -> None:
        self.records = self.store.list_runs(model, with_chunks=False)
        table = self.query_one("#history-runs", DataTable)
        table.clear()
        for record in self.records:
            table.add_row(*_row(record), key=str(record.id))
        where = f" for {model}" if model else ""
        note = f" · {self.store.problem}" if self.store.problem else ""
        self.query_one("#count", Static).update(f"{len(self.records):,} runs{where} · stored in {self.store.path or 'memory only'}{note}")

    def _selected(self) -> RunRecord | None:
        table = self.query_one("#history-runs", DataTable)
        if not self.records or table.cursor_row < 0:
            return None
        listed = self.records[table.cursor_row]
        return self.store.get(listed.id)

    def action_open(self) -> None:
        record = self._selected()
        if record is None:
            return
        plotted = [(f"#{record.id}", record)]
        if record.pair_id is not None:
            partner = next((other for other in self.records if other.pair_id == record.pair_id and other.id != record.id), None)
            if partner is not None and (full := self.store.get(partner.id)) is not None:
                plotted.append((f"#{full.id}", full))
                plotted.sort(key=lambda item: not item[1].stream)
        self.app.push_screen(TimelineScreen(record, f"History #{record.id}", plotted))

    @on(DataTable.RowSelected, "#history-runs")
    def _on_row_selected(self) -> None:
        self.action_open()

    def action_export_one(self) -> None:
        record = self._selected()
        if record is not None:
            path = self.export_dir / f"streamtui-run-{record.id}.jsonl"
            export_jsonl([record], path)
            self.notify(f"Exported run #{record.id} to {path}", timeout=5)

    def action_export_all(self) -> None:
        records = [full for record in self.records if (full := self.store.get(record.id)) is not None]
        path = self.export_dir / "streamtui-runs.jsonl"
        count = export_jsonl(records, path)
        self.notify(f"Exported {count:,} runs to {path}", timeout=5)

    def action_export_markdown(self) -> None:
        record = self._selected()
        if record is not None:
            path = self.export_dir / f"streamtui-run-{record.id}.md"
            path.write_text(to_markdown(record), encoding="utf-8")
            self.notify(f"Wrote run #{record.id} as Markdown to {path}", timeout=5)

    def action_copy(self) -> None:
        record = self._selected()
        if record is not None:
            self.app.copy_to_clipboard(record.output)
            self.notify(f"Copied the answer of run #{record.id} ({len(record.output):,} characters).", timeout=3)


def _row(record: RunRecord) -> tuple:
    prompt = " ".join(record.prompt.split())
    return (
        record.id,
        datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S"),
        record.model,
        record.api,
        "on" if record.stream else "off",
        format_seconds(record.ttft) if record.stream else "n/a",
        format_seconds(record.e2e),
        f"{record.chunk_count:,}",
        "–" if record.output_tokens is None else f"{record.output_tokens:,}",
        format_rate(record.decode_tps),
        record.outcome,
        Text(prompt[:60] + ("…" if len(prompt) > 60 else "")),
    )
