"""One line of the run's most important figures, for terminals too narrow for the Run panel:
state, TTFT, E2E, tokens and their source, tok/s, and what streaming saved when the run is
compared. The full panel opens as a drawer."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..engine import format as fmt
from ..engine.comparison import Comparison
from ..engine.run import Run
from ..engine.summary import SOURCE_LABELS
from .metrics_panel import STATE_STYLES


class FiguresBar(Static):
    DEFAULT_CSS = """
    FiguresBar { height: 1; padding: 0 1; color: $text-muted; }
    """

    def show(self, run: Run | None, comparison: Comparison | None = None, hint: str = "", activity: str | None = None) -> None:
        self.update(figures_line(run, comparison, hint, activity), layout=False)  # one row, always


def figures_line(run: Run | None, comparison: Comparison | None = None, hint: str = "", activity: str | None = None) -> Text:
    """``activity``: what the session does that is not a run (a Compare warm-up): it is said
    first, over the figures of the run before."""
    line = Text(no_wrap=True, overflow="ellipsis")
    if activity:
        line.append(activity, style="bold yellow")
    elif run is None:
        line.append("idle", style="bold")
    else:
        metrics = run.metrics
        line.append(f"#{run.number} ")
        line.append(metrics.state, style=f"bold {STATE_STYLES.get(metrics.state, '')}")
        if metrics.stream:
            line.append(f" · TTFT {fmt.seconds(metrics.ttft)}")
        if metrics.running:  # the live figure: how long it has taken so far
            line.append(f" · {fmt.seconds(metrics.elapsed)} elapsed")
        else:
            line.append(f" · E2E {fmt.seconds(metrics.e2e)}")
        source = metrics.token_source
        if source is not None:
            # While streaming the count is always tiktoken's (usage comes at the end): the
            # source is named once the run has ended, which keeps the live line within 80 columns.
            line.append(f" · {metrics.output_tokens:,} tok" + ("" if metrics.running else f" ({SOURCE_LABELS[source]})"))
        rate = metrics.decode_rate()
        if rate is not None:
            line.append(f" · {fmt.rate(rate)} tok/s")
        if metrics.cut_short:
            line.append(f" · cut: {metrics.cut_short}", style="yellow")
        if comparison is not None and comparison.time_saved is not None:
            line.append(f" · streamed: text {fmt.seconds(comparison.time_saved)} sooner", style="bold green")
    if hint:
        line.append(f"   {hint}", style="dim")
    return line
