"""A DataTable whose drawing follows its measurements."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widgets import DataTable
from textual.widgets._data_table import RowKey


class MeasuredTable(DataTable):
    """Textual (8.2) measures changed cells and new rows when the table is next idle, but keeps
    the header and rows drawn before that in caches keyed by its update count, which measuring
    leaves alone: after a frame drawn in between (a loaded machine), the header sat at its
    labels' widths and a widened cell stayed cut ("1" for "1 ⇄2") until the table next changed.
    Counting the measurement as an update retires those lines."""

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        super()._update_dimensions(new_rows)
        self._update_count += 1
        self.refresh()
