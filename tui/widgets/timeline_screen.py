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

from ..engine.comparison import Comparison
from ..engine.run import Run
from ..engine.tokens import load_encoding
from .metrics_panel import format_seconds
from .output_pane import sanitize

#: Whitespace made visible, so a person sees exactly how the server cut the text.
_VISIBLE = str.maketrans({" ": "·", "\n": "↵", "\t": "→"})

#: Rows beyond this are summarized: a table of 200,000 rows helps nobody (export has them all).
MAX_ROWS = 5_000


def visible_whitespace(text: str) -> str:
    return sanitize(text.translate(_VISIBLE))


class TimelineScreen(Screen[None]):
    DEFAULT_CSS = """
    TimelineScreen #summary { height: auto; padding: 0 1; }
    TimelineScreen #chunks { width: 1fr; border: round $panel-lighten-2; }
    TimelineScreen #charts { width: 1fr; }
    TimelineScreen #arrivals { height: 1fr; border: round $panel-lighten-2; }
    TimelineScreen #gaps { height: 5; border: round $panel-lighten-2; }
    """
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("c", "copy", "Copy answer"),
    ]

    def __init__(self, run: Run, comparison: Comparison | None = None) -> None:
        super().__init__()
        self.run = run
        self.comparison = comparison

    def compose(self) -> ComposeResult:
        yield Static(self._summary(), id="summary")
        with Horizontal():
            yield DataTable(id="chunks", cursor_type="row", zebra_stripes=True)
            with Vertical(id="charts"):
                yield PlotextPlot(id="arrivals")
                yield Sparkline(self.run.metrics.gaps or [0.0], id="gaps")
        yield Footer()

    def _summary(self) -> Text:
        run, metrics = self.run, self.run.metrics
        summary = Text()
        summary.append(f"Run #{run.number}", style="bold")
        summary.append(f" · {run.request.api} · {run.request.model} · streaming {'on' if run.request.stream else 'off'}")
        summary.append(f" · {metrics.chunks:,} chunks · TTFT {format_seconds(metrics.ttft)} · E2E {format_seconds(metrics.e2e)}")
        if metrics.chunks > MAX_ROWS:
            summary.append(f" · table shows the first {MAX_ROWS:,} chunks", style="italic")
        return summary

    def on_mount(self) -> None:
        self.query_one("#chunks").border_title = "Chunks"
        self.query_one("#arrivals").border_title = "Text received over time"
        self.query_one("#gaps").border_title = "Gaps between chunks"
        self._fill_table()
        self._plot()

    def _fill_table(self) -> None:
        table = self.query_one("#chunks", DataTable)
        for label in ("#", "Arrived", "Gap", "Tokens", "Text"):
            table.add_column(label, key=label)
        run, metrics = self.run, self.run.metrics
        encoding = load_encoding(metrics.encoding.name) if metrics.encoding else None
        arrivals = metrics.arrivals
        rows = []
        for index, text in enumerate(run.answer_parts[:MAX_ROWS]):
            at = arrivals[index] if index < len(arrivals) else None
            gap = at - arrivals[index - 1] if at is not None and index > 0 else None
            tokens = len(encoding.encode_ordinary(text)) if encoding else "–"
            rows.append((index + 1, format_seconds(at), format_seconds(gap), tokens, Text(visible_whitespace(text), no_wrap=True)))
        table.add_rows(rows)

    def _plot(self) -> None:
        plt = self.query_one(PlotextPlot).plt
        runs = [self.comparison.streamed, self.comparison.waited] if self.comparison else [self.run]
        for run in runs:
            times, received = _cumulative(run)
            label = f"#{run.number} streaming {'on' if run.request.stream else 'off'}"
            plt.plot(times, received, label=label, marker="braille")
        plt.xlabel("seconds since the request")
        plt.ylabel("characters")

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.run.text)
        self.notify(f"Copied the answer of run #{self.run.number} ({len(self.run.text):,} characters).", timeout=3)


def _cumulative(run: Run) -> tuple[list[float], list[int]]:
    """Characters received against time, starting at the request (0 s, 0 characters)."""
    times, received = [0.0], [0]
    total = 0
    for at, size in zip(run.metrics.arrivals, run.metrics.chunk_sizes):
        total += size
        times.append(at)
        received.append(total)
    return times, received
