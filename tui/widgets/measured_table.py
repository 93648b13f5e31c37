"""A DataTable whose drawing follows its measurements, and that keeps only lines it can use."""

from __future__ import annotations

from collections.abc import Iterable

from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets._data_table import RowKey


class MeasuredTable(DataTable):
    """Textual (8.2) measures changed cells and new rows when the table is next idle, but keeps
    the header and rows drawn before that in caches keyed by its update count, which measuring
    leaves alone: after a frame drawn in between (a loaded machine), the header sat at its
    labels' widths and a widened cell stayed cut ("1" for "1 ⇄2") until the table next changed.
    Counting the measurement as an update retires those lines.

    Those caches (rendered cells, rows, lines and row renderables) are keyed by the update
    count, which only grows, so an entry of an earlier count is never looked up again; Textual
    leaves them until its LRU bounds push them out (10,000 cells, 1,000 rows). The Runs table
    changes with every run, and kept about 0.2 MB of dead lines a run, up to some 25 MB. They
    are dropped as soon as a frame draws a newer count."""

    _drawn_update_count = -1

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        super()._update_dimensions(new_rows)
        self._update_count += 1
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._update_count != self._drawn_update_count:
            self._drawn_update_count = self._update_count
            for cache in (self._cell_render_cache, self._row_render_cache, self._row_renderable_cache, self._line_cache):
                cache.clear()
        return super().render_lines(crop)
