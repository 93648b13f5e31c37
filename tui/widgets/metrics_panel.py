"""The side panel: the figures of the run shown, redrawn at a fixed rate while it is live.

The most important figures come first (State, TTFT, E2E, Tokens, Tok/s), so a short panel
still shows them. Server text (errors, model names) is drawn as ``Text``, never as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.text import Text
from textual.widgets import Static

from ..engine import format as fmt
from ..engine.comparison import Comparison
from ..engine.run import Run
from ..engine.sanitize import one_line
from ..engine.summary import SOURCE_NAMES

STATE_STYLES = {
    "connecting": "yellow",
    "waiting": "yellow",
    "streaming": "cyan",
    "done": "green",
    "cancelled": "magenta",
    "failed": "red",
}


class MetricsPanel(Static):
    """Shows one run's figures. The screen calls :meth:`show` on a timer while a run is live."""

    DEFAULT_CSS = """
    MetricsPanel { width: 100%; height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: What the panel shows when no run is selected, and for the next run.
        self.endpoint = fmt.NONE
        self.model = fmt.NONE
        self.api = "chat"
        self.streaming = True
        #: A line about the session, not a run (a hint, the embedded model's state).
        self.message = ""
        #: Whether the next prompt carries the conversation: "single prompts (no memory)", "conversation #12".
        self.memory = "single prompts (no memory)"

        self._shown: FigureRows | None = None
        self._shown_lines = 0

    def show(self, run: Run | None, comparison: Comparison | None = None, activity: str | None = None) -> None:
        """Draw the figures. The panel redraws ten times a second while a run is live: it lays
        the screen out again only when its height changes (a layout of the main screen costs
        more than the rest of a frame), and does nothing when no figure changed."""
        figures = self.render_figures(run, comparison, activity)
        if figures == self._shown:
            return
        lines = figures.height(self.app.console, self.content_size.width) if self.content_size.width else -1
        self.update(figures, layout=lines != self._shown_lines or lines < 0)
        self._shown, self._shown_lines = figures, lines

    def render_figures(self, run: Run | None, comparison: Comparison | None = None, activity: str | None = None) -> FigureRows:
        # The run's figures first, then the comparison and what went wrong, and where and how
        # it was sent last: a short terminal cuts the least important rows.
        figures, settings = _rows(self, run)
        blocks: list[Rows | Text] = [figures]
        if comparison is not None:
            blocks.append(_comparison_rows(comparison))
        notes = [text for text in (activity, run.metrics.error if run else None, self.message) if text]
        for note in notes:
            blocks += [Text(""), Text(one_line(note, 600), style="italic")]
        if settings:
            blocks += [Text(""), settings]
        return FigureRows(blocks)


Rows = list[tuple[Text | str, Text | str]]


class FigureRows:
    """Blocks of (label, value) rows and paragraphs: each block's labels in a bold column, each
    value wrapped under itself. Drawn as Rich Text lines, which costs a tenth of the Rich table
    grid it replaces (that measured and rendered every cell, twice a redraw: most of a frame)."""

    def __init__(self, blocks: Sequence[Rows | Text]) -> None:
        self.blocks = [block if isinstance(block, Text) else [(_cell(label), _cell(value)) for label, value in block] for block in blocks]
        # A str cell is plain text here, never markup; equality compares text and styles.
        self._key = [block.markup if isinstance(block, Text) else [(label.markup, value.markup) for label, value in block] for block in self.blocks]
        #: The lines at the last width drawn: Textual renders the panel more than once a redraw.
        self._lines: tuple[int, list[Text]] | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FigureRows) and self._key == other._key

    def lines(self, console: Console, width: int) -> list[Text]:
        if self._lines is None or self._lines[0] != width:
            self._lines = (width, list(self._wrap(console, width)))
        return self._lines[1]

    def _wrap(self, console: Console, width: int) -> Iterable[Text]:
        for block in self.blocks:
            if isinstance(block, Text):
                yield from block.wrap(console, width, overflow="fold")
                continue
            label_width = max((label.cell_len for label, _ in block), default=0)
            value_width = max(1, width - label_width - 1)
            widest = min(value_width, max((value.cell_len for _, value in block), default=0))
            for label, value in block:
                head = Text.assemble(label, " " * (label_width - label.cell_len + 1), style="bold")
                indent = Text(" " * (label_width + 1))
                for index, line in enumerate(value.wrap(console, value_width, overflow="fold") or [Text("")]):
                    line.pad_right(widest - line.cell_len)
                    yield Text.assemble(head if index == 0 else indent, line)

    def height(self, console: Console, width: int) -> int:
        return len(self.lines(console, width))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        new_line = Segment.line()
        for line in self.lines(console, options.max_width):
            # Text.render leaves out the base style of a line without spans.
            yield from Segment.apply_style(line.render(console), console.get_style(line.style, default=""))
            yield new_line


def _cell(value: Text | str) -> Text:
    return value if isinstance(value, Text) else Text(value)




def _rows(panel: MetricsPanel, run: Run | None) -> tuple[Rows, Rows]:
    """(the run's figures, where and how it was sent)."""
    if run is None:
        return [
            ("State", Text("idle", style="bold")),
            ("Endpoint", Text(panel.endpoint)),
            ("Model", Text(one_line(panel.model, 80))),
            ("API", panel.api),
            ("Streaming", "on" if panel.streaming else "off"),
            ("Memory", panel.memory),
        ], []
    metrics = run.metrics
    stream = metrics.stream
    state = Text(metrics.state, style=f"bold {STATE_STYLES.get(metrics.state, '')}")
    if run.note:
        state.append(f" · {run.note}", style="")
    if metrics.waiting_retry is not None:
        retry = metrics.waiting_retry
        state.append(f" · {retry.reason}: retry {retry.attempt}/{retry.of} in {retry.delay:.1f} s", style="yellow")
    gaps = metrics.gap_stats()
    rows: Rows = [
        ("State", state),
        ("TTFT", fmt.seconds(metrics.ttft) if stream else "n/a (not streaming)"),
        ("E2E", fmt.seconds(metrics.e2e) if not (metrics.running and stream) else "…"),
        ("Tokens", _tokens(run)),
        ("Tok/s", fmt.rate(metrics.decode_rate())),
        ("Elapsed", fmt.seconds(metrics.elapsed)),
        ("Client", fmt.seconds(metrics.client_time)),
        ("Headers", fmt.seconds(metrics.headers_time)),
        ("Chunks", fmt.count(metrics.chunks)),
        ("Usage", _usage(run)),
        ("Gap p50", fmt.seconds(gaps.p50) if gaps else fmt.NONE),
        ("Gap p95", fmt.seconds(gaps.p95) if gaps else fmt.NONE),
    ]
    if metrics.reasoning_chunks:
        rows.insert(2, ("First thought", fmt.seconds(metrics.ttfr)))
    if metrics.cut_short:
        rows.insert(1, ("Finish", Text(f"cut short: {metrics.cut_short} ({metrics.finish_reason})", style="bold yellow")))
    if metrics.retries:
        tried = len(metrics.retries)
        if metrics.running:
            rows.append(("Retries", f"{tried} so far"))
        else:
            rows.append(("Retries", f"{tried}, and the last failed too" if metrics.state == "failed" else f"{tried} before the request that answered"))
    settings: Rows = [
        ("Endpoint", Text(run.endpoint_label or panel.endpoint)),
        ("Model", Text(one_line(run.request.model or panel.model, 80))),
        ("API", run.request.api),
        ("Streaming", _streaming(run, panel.streaming)),
        ("Memory", f"conversation #{run.conversation_id}, turn {run.turn}" if run.conversation_id is not None else panel.memory),
    ]
    params = _params(run)
    if params:
        settings.append(("Params", params))
    return rows, settings


def _tokens(run: Run) -> Text:
    metrics = run.metrics
    source = metrics.token_source
    if source is None:
        return Text(fmt.NONE if metrics.running or not (metrics.answer_chars or metrics.reasoning_chars) else "not counted")
    text = Text(f"{metrics.output_tokens:,}")
    label = SOURCE_NAMES[source]
    if source == "tiktoken" and metrics.encoding is not None:
        label = f"tiktoken {metrics.encoding.label}"
    text.append(f" ({label})", style="dim")
    return text


def _usage(run: Run) -> str:
    metrics = run.metrics
    server = metrics.server_completion_tokens
    if server is None:
        return "not reported" if not metrics.running else fmt.NONE
    difference = metrics.usage_difference
    reasoning = metrics.usage.reasoning_tokens if metrics.usage else None
    text = f"{server:,}"
    if reasoning:  # the answer's share is what Tokens, Tok/s and the tiktoken difference use
        text += f" ({reasoning:,} reasoning, {metrics.server_answer_tokens:,} answer)"
    return text + (f" ({difference:+,} vs tiktoken)" if difference is not None else "")


def _streaming(run: Run, next_run: bool) -> str:
    label = "on" if run.request.stream else "off"
    if run.request.stream != next_run:
        label += f" (next run: {'on' if next_run else 'off'})"
    return label


def _params(run: Run) -> str:
    request = run.request
    parts = []
    if request.temperature is not None:
        parts.append(f"temperature {request.temperature:g}")
    if request.seed is not None:
        parts.append(f"seed {request.seed}")
    if request.max_tokens is not None:
        parts.append(f"max {request.max_tokens:,} tokens")
    return ", ".join(parts)


def _comparison_rows(comparison: Comparison) -> Rows:
    """The pair side by side: when the first text showed with and without streaming, and tokens."""
    streamed, waited = comparison.streamed, comparison.waited
    rows: Rows = [
        ("", ""),
        (Text("Compare", style="bold underline"), f"#{streamed.number} streamed / #{waited.number} waited"),
    ]
    if comparison.running:  # a partial count against a whole one said "answers differ"
        rows.append(("", Text("measured once both runs have ended", style="dim")))
        return rows + _fairness_rows(streamed)
    rows.append(("First text", f"{fmt.seconds(comparison.first_text_streamed)} / {fmt.seconds(comparison.first_text_waited)}"))
    saved, speedup = comparison.time_saved, comparison.speedup
    if saved is not None:
        rows.append(("Saved", Text(f"{fmt.seconds(saved)} sooner" + (f" ({speedup:,.1f}×)" if speedup else ""), style="bold green")))
    tokens_s, tokens_w = comparison.tokens
    source = comparison.token_source
    if source is not None:
        rows.append(("Tokens", f"{fmt.count(tokens_s)} / {fmt.count(tokens_w)} ({SOURCE_NAMES[source]})"))
    if comparison.answers_differ:
        per_s, per_w = comparison.time_per_token
        rows.append(("", Text(f"answers differ: {fmt.count(tokens_s)} vs {fmt.count(tokens_w)} tokens", style="bold yellow")))
        rows.append(("Per token", f"{fmt.seconds(per_s)} / {fmt.seconds(per_w)} (E2E ÷ tokens)"))
    return rows + _fairness_rows(streamed)


def _fairness_rows(streamed: Run) -> Rows:
    """What both runs of the pair were sent with, and whether a warm-up came first."""
    rows: Rows = []
    fair = _params(streamed)
    if fair:
        rows.append(("Both sent", fair))
    if streamed.pair_id is not None:
        rows.append(("Warm-up", "one discarded request first: connection and prompt cache warm for both"))
    else:
        rows.append(("Warm-up", "none: the first sent may have paid for a cold start"))
    rows += [("", Text(note, style="yellow")) for note in streamed.pair_notes]
    return rows
