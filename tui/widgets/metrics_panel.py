"""The side panel: the live figures of the selected run, redrawn at a fixed rate."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ..engine.comparison import Comparison
from ..engine.metrics import RunMetrics
from ..engine.run import Run


def format_seconds(seconds: float | None) -> str:
    """Always to the millisecond or finer: "123.4 ms" below a second, "2.224 s" above."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:,.3f} s"


def format_rate(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:,.1f}"


def _tokens_label(run: Run) -> str:
    metrics = run.metrics
    count = metrics.tiktoken_tokens
    if count is None or metrics.encoding is None:
        return "–"
    label = f"{count:,} ({metrics.encoding.label})"
    if metrics.model_tokens is not None:
        label += f"; {metrics.model_tokens:,} by the model's tokenizer"
    return label


def _usage_label(metrics: RunMetrics) -> str:
    server = metrics.server_completion_tokens
    if server is None:
        return "not reported" if metrics.state in ("done", "failed", "cancelled") else "–"
    difference = metrics.usage_difference
    return f"{server:,}" + (f" ({difference:+,} vs tiktoken)" if difference is not None else "")


def _streaming_label(run: Run | None, next_run: bool) -> str:
    shown = run.request.stream if run else next_run
    label = "on" if shown else "off"
    if shown != next_run:
        label += f" (next run: {'on' if next_run else 'off'})"
    return label


class MetricsPanel(Static):
    """Shows one run's figures; the app calls :meth:`show` on a timer while a run is live.

    Its height is fixed by the layout, so an update never re-lays out the screen.
    """

    DEFAULT_CSS = """
    MetricsPanel { width: 100%; height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.endpoint = "–"
        self.model = "–"
        self.api = "chat"
        self.streaming = True
        self.message = ""

    def show(self, run: Run | None, comparison: Comparison | None = None) -> None:
        self.update(self.render_figures(run, comparison), layout=False)

    def render_figures(self, run: Run | None, comparison: Comparison | None = None) -> Table:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        metrics = run.metrics if run else None
        state = metrics.state if metrics else "idle"
        rows: list[tuple[str, str | Text]] = [
            ("State", Text(state, style=f"bold {_STATE_STYLE.get(state, '')}")),
            ("Endpoint", self.endpoint),
            ("Model", run.request.model if run else self.model),
            ("API", run.request.api if run else self.api),
            ("Streaming", _streaming_label(run, self.streaming)),
        ]
        if metrics is not None:
            stream = metrics.stream
            gaps = metrics.gap_stats()
            rows += [
                ("Elapsed", format_seconds(metrics.elapsed)),
                ("TTFT", format_seconds(metrics.ttft) if stream else "n/a (not streaming)"),
                ("Chunks", f"{metrics.chunks:,}"),
                ("Tokens", _tokens_label(run)),
                ("Usage", _usage_label(metrics)),
                ("Tok/s", format_rate(metrics.decode_tokens_per_second)),
                ("Gap p50", format_seconds(gaps.p50) if gaps else "–"),
                ("Gap p95", format_seconds(gaps.p95) if gaps else "–"),
                ("E2E", format_seconds(metrics.e2e) if metrics.state != "streaming" or not stream else "…"),
            ]
            if metrics.reasoning_chunks:
                rows.insert(7, ("TTF reason", format_seconds(metrics.ttfr)))
        for label, value in rows:
            table.add_row(label, value)
        if comparison is not None:
            table.add_row("", "")
            for label, value in _comparison_rows(comparison):
                table.add_row(label, value)
        message = (metrics.error if metrics and metrics.error else None) or self.message
        if message:
            table.add_row("", "")
            table.add_row(Text("Note", style="bold"), Text(message, style="italic"))
        return table


def _comparison_rows(comparison: Comparison) -> list[tuple[str | Text, str | Text]]:
    """The pair side by side: when the first text showed with and without streaming, and tokens."""
    streamed, waited = comparison.streamed, comparison.waited
    rows: list[tuple[str | Text, str | Text]] = [
        (Text("Compare", style="bold underline"), f"#{streamed.number} streamed / #{waited.number} waited"),
        ("First text", f"{format_seconds(comparison.first_text_streamed)} / {format_seconds(comparison.first_text_waited)}"),
    ]
    saved, speedup = comparison.time_saved, comparison.speedup
    if saved is not None:
        rows.append(("Saved", Text(f"{format_seconds(saved)} sooner" + (f" ({speedup:,.1f}×)" if speedup else ""), style="bold green")))

    def tokens(run: Run, counted: bool) -> str:
        value = run.metrics.tiktoken_tokens if counted else run.metrics.server_completion_tokens
        return "–" if value is None else f"{value:,}"

    rows.append(("Usage", f"{tokens(streamed, False)} / {tokens(waited, False)} by the server"))
    rows.append(("tiktoken", f"{tokens(streamed, True)} / {tokens(waited, True)}"))
    return rows


_STATE_STYLE = {
    "waiting": "yellow",
    "streaming": "cyan",
    "done": "green",
    "cancelled": "magenta",
    "failed": "red",
}
