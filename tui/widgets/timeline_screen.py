"""The chunk timeline of one run: every chunk with its arrival time, gap, text and tokens,
beside a plot of text arriving over time (both runs of a Compare pair when there is one).

It is the cookbook's "Text received: 4 (0.16 seconds after request)", as a table.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Sparkline, Static
from textual_plotext import PlotextPlot

from ..engine.history import RunRecord
from ..engine.tokens import SUPPORTED_ENCODINGS, load_encoding
from .metrics_panel import format_seconds
from .output_pane import sanitize

#: Whitespace made visible, so a person sees exactly how the server cut the text.
_VISIBLE = str.maketrans({" ": "·", "\n": "↵", "\t": "→"})

#: Rows beyond this are summarized: a table of 200,000 rows helps nobody (export has them all).
MAX_ROWS = 5_000


def visible_whitespace(text: str) -> str:
    return sanitize(text.translate(_VISIBLE))


class TimelineScreen(Screen[None]):
    CSS_PATH = "timeline_screen.tcss"
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
        yield Static(self._summary(), id="summary")
        with Horizontal(id="body"):
            yield DataTable(id="chunks", cursor_type="row", zebra_stripes=True)
            with Vertical(id="charts"):
                yield PlotextPlot(id="arrivals")
                yield Sparkline(self.record.gaps or [0.0], id="gaps")
        yield Footer()

    def _summary(self) -> Text:
        record = self.record
        summary = Text()
        summary.append(self.title, style="bold")
        summary.append(f" · {record.api} · {record.model} · streaming {'on' if record.stream else 'off'}")
        summary.append(f" · {record.chunk_count:,} chunks · TTFT {format_seconds(record.ttft)} · E2E {format_seconds(record.e2e)}")
        if record.chunk_count > MAX_ROWS:
            summary.append(f" · the table shows the first {MAX_ROWS:,} chunks (export has all)", style="italic")
        return summary

    def on_mount(self) -> None:
        self.query_one("#chunks").border_title = "Chunks (time since the request; tokens of each chunk alone)"
        self.query_one("#arrivals").border_title = "Text received over time"
        self.query_one("#gaps").border_title = "Gaps between chunks"
        self._fill_table()
        self._plot()

    def _fill_table(self) -> None:
        table = self.query_one("#chunks", DataTable)
        for label in ("#", "Arrived", "Gap", "Tokens", "Text"):
            table.add_column(label, key=label)
        record = self.record
        name = (record.encoding or "").split(",")[0]
        encoding = load_encoding(name) if name in SUPPORTED_ENCODINGS else None
        arrivals = record.arrivals
        rows = []
        for index, text in enumerate(record.chunks()[:MAX_ROWS]):
            at = arrivals[index] if index < len(arrivals) else None
            gap = at - arrivals[index - 1] if at is not None and index > 0 else None
            tokens = len(encoding.encode_ordinary(text)) if encoding else "–"
            rows.append((index + 1, format_seconds(at), format_seconds(gap), tokens, Text(visible_whitespace(text), no_wrap=True)))
        table.add_rows(rows)

    def _plot(self) -> None:
        plt = self.query_one(PlotextPlot).plt
        for label, record in self.plotted:
            times, received = _cumulative(record)
            plt.plot(times, received, label=f"{label} streaming {'on' if record.stream else 'off'}", marker="braille")
        plt.xlabel("seconds since the request")
        plt.ylabel("characters")

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.record.output)
        self.notify(f"Copied the answer ({len(self.record.output):,} characters).", timeout=3)


def _cumulative(record: RunRecord) -> tuple[list[float], list[int]]:
    """Characters received against time, as steps: nothing until a chunk arrives, then a jump."""
    times, received = [0.0], [0]
    total = 0
    for at, size in zip(record.arrivals, record.chunk_sizes):
        times += [at, at]
        received += [total, total + size]
        total += size
    return times, received
