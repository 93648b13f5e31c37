"""The chunk timeline of one run: every chunk with its arrival time, gap, text and tokens,
beside a plot of text arriving over time (both runs of a Compare pair when there is one).

It is the cookbook's "Text received: 4 (0.16 seconds after request)", as a table. The per-chunk
token counts come from the streaming worker's token counter, where the encodings are (building
one here would cost the app 80 MB and freeze it for a fifth of a second): the table is filled
when they come.
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Sparkline, Static

from ..engine import format as fmt
from ..engine.history import RunRecord
from ..engine.logfile import log_failure
from ..engine.sanitize import server_text
from ..engine.tokens import SUPPORTED_ENCODINGS
from ..widgets.arrivals_plot import ArrivalsPlot
from ..widgets.footer import Footer
from ..widgets.measured_table import MeasuredTable
from .watched import WatchedScreen

#: Whitespace made visible, so a person sees exactly how the server cut the text.
_VISIBLE = str.maketrans({" ": "·", "\n": "↵", "\t": "→"})

#: Rows beyond this are summarized: a table of 200,000 rows helps nobody (export has them all).
MAX_ROWS = 5_000


def visible_whitespace(text: str) -> str:
    return server_text(text.translate(_VISIBLE))


def chunk_rows(record: RunRecord, texts: list[str], tokens_each: list[int] | None) -> list[tuple]:
    """The table's rows: number, arrival, gap, tokens of the chunk alone, visible text."""
    arrivals = record.arrivals
    rows = []
    for index, text in enumerate(texts):
        at = arrivals[index] if index < len(arrivals) else None
        gap = at - arrivals[index - 1] if at is not None and index > 0 else None
        tokens = tokens_each[index] if tokens_each is not None else fmt.NONE
        # Text, not str: a DataTable parses a str cell as markup (these hold only figures).
        rows.append((index + 1, Text(fmt.seconds(at)), Text(fmt.seconds(gap)), tokens, Text(visible_whitespace(text), no_wrap=True)))
    return rows


class TimelineScreen(WatchedScreen[None]):
    CSS_PATH = "timeline.tcss"
    #: Below 100 columns the charts go under the chunks table (beside it, its Text column was
    #: 3 characters wide at 80 columns).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("c", "copy", "Copy answer"),
    ]

    def __init__(self, record: RunRecord, title: str, plotted: list[tuple[str, RunRecord]] | None = None) -> None:
        """``plotted``: the runs drawn in the plot with their labels (both of a Compare pair)."""
        super().__init__()
        self.record = record
        self.title = title
        self.plotted = plotted or [(title, record)]

    def compose(self) -> ComposeResult:
        self.take_size_classes()
        yield Static(self._summary(), id="summary")
        with Horizontal(id="body"):
            yield MeasuredTable(id="chunks", cursor_type="row", zebra_stripes=True)
            with Vertical(id="charts"):
                if self.record.chunk_count or self.record.reasoning_chunks:
                    yield ArrivalsPlot(id="arrivals")
                else:  # a plot of nothing has axes from -1 to 1 and a stray dot
                    yield Static(Text("No text arrived: nothing to plot."), id="arrivals")
                if self.record.gaps:
                    yield Sparkline(self.record.gaps, id="gaps")
                else:  # a sparkline of nothing is drawn full
                    no_gaps = "No gaps: the answer came in one chunk." if self.record.chunk_count else "No answer chunk arrived: there are no gaps to show."
                    yield Static(Text(no_gaps), id="gaps")
        yield Footer()

    def _summary(self) -> Text:
        record = self.record
        summary = Text()
        summary.append(self.title, style="bold")
        summary.append(f" · {record.api} · {server_text(record.model)} · streaming {'on' if record.stream else 'off'}")
        # The figures on a line of their own: wrapped, a number was parted from its unit.
        summary.append(f"\n{fmt.quantity(record.chunk_count, 'chunk')} · TTFT {fmt.seconds(record.ttft)} · E2E {fmt.seconds(record.e2e)}")
        if record.chunk_count > MAX_ROWS:
            summary.append(f" · the table shows the first {MAX_ROWS:,} chunks (export has all)", style="italic")
        return summary

    def on_mount(self) -> None:
        self.query_one("#chunks").border_title = "Chunks (time since the request; tokens of each chunk alone)"
        self.query_one("#arrivals").border_title = "Characters received, by seconds since the request"
        gaps = self.query_one("#gaps")
        gaps.border_title = "Gaps between chunks"
        if self.record.gaps:  # the sparkline scales from the smallest gap to the largest
            gaps.border_subtitle = Text(f"{fmt.seconds(min(self.record.gaps))} to {fmt.seconds(max(self.record.gaps))}")
        table = self.query_one("#chunks", DataTable)
        for label in ("#", "Arrived", "Gap", "Tokens", "Text"):
            table.add_column(label, key=label)
        if isinstance(self.query_one("#arrivals"), ArrivalsPlot):
            self._plot()
        self._fill_table()

    @work(group="timeline", exit_on_error=False)
    async def _fill_table(self) -> None:
        texts = self.record.chunks()[:MAX_ROWS]
        name = (self.record.encoding or "").split(",")[0]
        tokens_each = None
        if name in SUPPORTED_ENCODINGS:
            try:
                tokens_each = await self.app.session.connection.count_each(name, texts)
            except Exception as exc:  # noqa: BLE001 - the column reads "—"; the log says why
                log_failure("The Timeline's tokens per chunk could not be counted", exc)
        rows = await asyncio.to_thread(chunk_rows, self.record, texts, tokens_each)
        self.query_one("#chunks", DataTable).add_rows(rows)

    def _plot(self) -> None:
        plt = self.query_one(ArrivalsPlot).plt
        most = 0
        for label, record in self.plotted:
            times, received = _cumulative(record)
            most = max(most, received[-1])
            plt.plot(times, received, label=f"{label} streaming {'on' if record.stream else 'off'}", marker="braille")
        # The axes are named in the border's title: their labels took a row from the plot (at
        # 80×24 it had two rows of data).
        plot = self.query_one(ArrivalsPlot)
        plot.most_received = most
        plot.set_ticks()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.record.output)
        self.notify(f"Copied the answer ({len(self.record.output):,} characters).", timeout=3, markup=False)


def _cumulative(record: RunRecord) -> tuple[list[float], list[int]]:
    """Characters received against time, as steps: nothing until a chunk arrives, then a jump."""
    times, received = [0.0], [0]
    total = 0
    for at, size in zip(record.arrivals, record.chunk_sizes):
        times += [at, at]
        received += [total, total + size]
        total += size
    return times, received
