"""Tables draw at the widths their cells were measured at, even when a frame was drawn
between a change and the table measuring it (as happens on a loaded machine)."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from tests.driving import tables_measured
from tui.widgets.measured_table import MeasuredTable

WIDE = "a cell wider than its label"


class OneTable(App):
    def compose(self) -> ComposeResult:
        yield MeasuredTable()


async def test_a_widened_cell_is_drawn_wide_after_a_frame_before_measuring():
    """Textual measures an updated cell when the table is next idle. A frame drawn before that
    caches the header and the row at the old widths, and Textual's measuring kept those lines:
    the runs table showed "1" for "1 ⇄2" under a narrow header until it next changed. The
    early ``render_line`` calls are that frame (what the compositor draws), not a repair."""
    app = OneTable()
    async with app.run_test(size=(80, 8)) as pilot:
        table = app.query_one(MeasuredTable)
        table.add_column("A", key="A")
        table.add_column("B", key="B")
        table.add_row(Text("x"), Text("b"), key="1", height=None)
        await tables_measured(pilot)
        table.update_cell("1", "A", Text(WIDE), update_width=True)
        table.render_line(0), table.render_line(1)  # a frame before the table is idle
        await tables_measured(pilot)
        header, row = table.render_line(0).text, table.render_line(1).text
        assert header.index("B") > len(WIDE), header
        assert WIDE in row, row
