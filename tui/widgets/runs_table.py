"""The session's finished runs, one row each, so streaming on and off compare at a glance."""

from __future__ import annotations

from textual.widgets import DataTable

from ..engine.run import Run
from .metrics_panel import format_rate, format_seconds

COLUMNS = ("#", "Stream", "API", "Model", "TTFT", "E2E", "Chunks", "Tokens", "Tok/s", "Outcome")


class RunsTable(DataTable):
    DEFAULT_CSS = """
    RunsTable { height: 100%; }
    """

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for column in COLUMNS:
            self.add_column(column, key=column)

    def add_run(self, run: Run, pair_number: int | None = None) -> None:
        """``pair_number``: the first run of its Compare pair, marked on both rows."""
        metrics = run.metrics
        number = f"{run.number}" + (f" ⇄{pair_number}" if pair_number else "")
        tokens = metrics.output_tokens
        self.add_row(
            number,
            "on" if run.request.stream else "off",
            run.request.api,
            run.request.model,
            format_seconds(metrics.ttft) if run.request.stream else "n/a",
            format_seconds(metrics.e2e),
            f"{metrics.chunks:,}",
            "–" if tokens is None else f"{tokens:,}",
            format_rate(metrics.decode_tokens_per_second),
            run.outcome,
            key=str(run.number),
        )
        self.move_cursor(row=self.row_count - 1)
