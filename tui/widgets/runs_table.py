"""The session's runs, one row each, newest first (as in History), so streaming on and off
compare at a glance."""

from __future__ import annotations

from rich.text import Text

from ..engine.history import RunRecord
from ..engine.metrics import TokenSource
from ..engine.summary import record_cells
from .measured_table import MeasuredTable

#: The figures a comparison needs first; the model and the prompt, the widest, last (an 80-column
#: terminal shows the outcome).
COLUMNS = ("#", "Stream", "Outcome", "TTFT", "E2E", "Tokens", "Tok/s", "Chunks", "Model", "Prompt")


class RunsTable(MeasuredTable):
    DEFAULT_CSS = """
    RunsTable { height: 100%; scrollbar-size-horizontal: 0; }
    """

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for column in COLUMNS:
            self.add_column(column, key=column)

    def show_run(self, record: RunRecord, *, pair_of: int | None = None, token_source: TokenSource | None = None) -> None:
        """Add the run's row, or update it (a pair's first run, once its partner is done).
        ``pair_of``: the number of the run it is paired with (Compare), marked on its row."""
        mark = f" ⇄{pair_of}" if pair_of is not None else ""
        cells = record_cells(record, token_source=token_source, pair_mark=mark)
        values = [Text(cells[column]) for column in COLUMNS]
        key = str(record.id)
        if key in self.rows:
            for column, value in zip(COLUMNS, values):
                self.update_cell(key, column, value, update_width=True)
            return
        # Auto height: Textual then drops its cached lines once it has measured the row, where a
        # fixed-height row drawn before that measurement keeps its too-narrow columns.
        self.add_row(*values, key=key, height=None)
        self.sort("#", key=lambda cell: -int(str(cell).split()[0]))
        self.move_cursor(row=0)
