"""The session's runs, one row each, newest first (as in History), so streaming on and off
compare at a glance."""

from __future__ import annotations

from rich.text import Text

from ..engine.history import RunRecord
from ..engine.metrics import TokenSource
from ..engine.summary import record_cells
from .measured_table import MeasuredTable

#: The figures a comparison needs first; the model and the prompt, the widest, last.
COLUMNS = ("#", "Stream", "Outcome", "TTFT", "E2E", "Tokens", "Tok/s", "Chunks", "Model", "Prompt")
#: Narrower than this, the table leaves out what the figures bar, the Run panel and History show
#: (Tokens, Tok/s, Chunks, Model), so that the prompt is readable: at 80 columns it was past the
#: right edge, and with Tokens ("1,234 tiktoken est.") it kept about 10 characters.
WIDE_FROM = 100
NARROW_COLUMNS = ("#", "Stream", "Outcome", "TTFT", "E2E", "Prompt")
#: The figures a live run's row leaves out until the run ends (it is not redrawn per chunk).
LIVE_BLANKS = ("TTFT", "E2E", "Tokens", "Tok/s", "Chunks")


class RunsTable(MeasuredTable):
    DEFAULT_CSS = """
    RunsTable { height: 100%; scrollbar-size-horizontal: 0; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        #: Every row's cells, by row key, so the columns can change with the width.
        self._cells: dict[str, dict[str, str]] = {}
        self._columns: tuple[str, ...] = ()

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.on_resize()

    def on_resize(self) -> None:
        # The terminal's width, as the screen's own breakpoint (the table's is 2 cells less).
        self._use_columns(NARROW_COLUMNS if self.app.size.width < WIDE_FROM else COLUMNS)

    def _use_columns(self, columns: tuple[str, ...]) -> None:
        if columns == self._columns:
            return
        self._columns = columns
        selected = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value if self.row_count else None
        self.clear(columns=True)
        for column in columns:
            self.add_column(column, key=column)
        for key, cells in sorted(self._cells.items(), key=lambda item: -int(item[0])):
            self.add_row(*(Text(cells[column]) for column in columns), key=key, height=None)
        if selected is not None:
            self.move_cursor(row=self.get_row_index(selected))  # the run picked stays picked

    def show_run(self, record: RunRecord, *, outcome: str, pair_of: int | None = None, token_source: TokenSource | None = None) -> None:
        """Add the run's row, or update it (a pair's first run, once its partner is done).
        ``outcome``: the run's own (its record, not final while it runs, would read as
        interrupted); a live run reads "running" (no wider than the column's title: a column
        never narrows, and "connecting" kept the prompt's room). ``pair_of``: the number of
        the run it is paired with (Compare)."""
        mark = f" ⇄{pair_of}" if pair_of is not None else ""
        cells = record_cells(record, token_source=token_source, pair_mark=mark) | {"Outcome": outcome if record.final else "running"}
        if not record.final:  # live: the panel has its figures as they go; the row has them at its end
            cells |= {column: "…" for column in LIVE_BLANKS if cells[column] != "n/a"}
        key = str(record.id)
        self._cells[key] = cells
        values = [Text(cells[column]) for column in self._columns]
        if key in self.rows:
            for column, value in zip(self._columns, values):
                self.update_cell(key, column, value, update_width=True)
            return
        # Auto height: Textual then drops its cached lines once it has measured the row, where a
        # fixed-height row drawn before that measurement keeps its too-narrow columns.
        self.add_row(*values, key=key, height=None)
        self.sort("#", key=lambda cell: -int(str(cell).split()[0]))
        self.move_cursor(row=0)
