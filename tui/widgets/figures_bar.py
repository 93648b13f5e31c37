"""One line of the run's most important figures, for terminals too narrow for the Run panel:
state, TTFT, E2E, tokens and their source, tok/s, and what streaming saved when the run is
compared. The full panel opens as a drawer."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

from ..engine import format as fmt
from ..engine.comparison import Comparison
from ..engine.run import Run
from ..engine.summary import source_label
from .metrics_panel import STATE_STYLES

#: How long each piece of the line is kept as the width shrinks: the lowest goes first. The
#: run and its state are always shown; then what Compare is for, a cut, TTFT, E2E, and that
#: the next run will not stream.
_KEEP = {"hint": 0, "rate": 1, "tokens": 2, "next": 3, "e2e": 4, "ttft": 5, "cut": 6, "comparison": 7, "run": 9}


class FiguresBar(Static):
    DEFAULT_CSS = """
    FiguresBar { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self._shown: tuple = (None, None, "", None, True)

    def show(self, run: Run | None, comparison: Comparison | None = None, hint: str = "", activity: str | None = None, next_streams: bool = True) -> None:
        self._shown = (run, comparison, hint, activity, next_streams)
        self.update(figures_line(run, comparison, hint, activity, next_streams, width=self.content_size.width or None), layout=False)  # one row, always

    def on_resize(self) -> None:
        self.show(*self._shown)  # what fits changed


def figures_line(run: Run | None, comparison: Comparison | None = None, hint: str = "", activity: str | None = None, next_streams: bool = True, *, width: int | None = None) -> Text:
    """``activity``: what the session does that is not a run (a Compare warm-up): it is said
    first, over the figures of the run before. ``next_streams`` False: streaming is off for the
    next run, which the line says (the footer's "Stream" does not, nor the toast for long). Within ``width`` cells, the pieces that matter
    least are left out whole (see ``_KEEP``), rather than the line's end cut off."""
    pieces: list[tuple[str, str, str]] = []  # (kind, text, style)
    if activity:
        pieces.append(("run", activity, "bold yellow"))
    elif run is None:
        pieces.append(("run", "idle", "bold"))
    else:
        metrics = run.metrics
        pieces.append(("run", f"#{run.number} ", ""))
        pieces.append(("run", metrics.state, f"bold {STATE_STYLES.get(metrics.state, '')}"))
        if run.pair_id is not None and metrics.running:  # a Compare is under way, not a single run
            pieces.append(("cut", f" · compare {1 if run.pair_id == run.number else 2}/2", "bold"))
        if metrics.stream:
            pieces.append(("ttft", f" · TTFT {fmt.seconds(metrics.ttft)}", ""))
        retry = metrics.waiting_retry
        if retry is not None:  # said as the panel says it: a dead server is not "waiting"
            pieces.append(("cut", f" · {retry.reason}: retry {retry.attempt}/{retry.of} in {retry.delay:.1f} s", "yellow"))
        if metrics.running:  # the live figure: how long it has taken so far
            pieces.append(("e2e", f" · {fmt.seconds(metrics.elapsed)} elapsed", ""))
        else:
            pieces.append(("e2e", f" · E2E {fmt.seconds(metrics.e2e)}", ""))
        source = metrics.token_source
        if source is not None:
            # While streaming the count is always tiktoken's (usage comes at the end): the
            # source is named once the run has ended, which keeps the live line short.
            label = "" if metrics.running else f" ({source_label(source, metrics.encoding is not None and not metrics.encoding.exact)})"
            pieces.append(("tokens", f" · {metrics.output_tokens:,} tok{label}", ""))
        rate = metrics.decode_rate()
        if rate is not None:
            pieces.append(("rate", f" · {fmt.rate(rate)} tok/s", ""))
        if metrics.cut_short:
            pieces.append(("cut", f" · cut: {metrics.cut_short}", "yellow"))
        if comparison is not None and not comparison.running and comparison.time_saved is not None:
            pieces.append(("comparison", f" · streamed: text {fmt.seconds(comparison.time_saved)} sooner", "bold green"))
    if not next_streams:
        pieces.append(("next", " · next: streaming off", "yellow"))
    if hint:
        pieces.append(("hint", f"   {hint}", "dim"))
    if width is not None:
        for kind in sorted(_KEEP, key=_KEEP.get):
            if sum(cell_len(text) for _, text, _ in pieces) <= width:
                break
            if kind != "run":
                pieces = [piece for piece in pieces if piece[0] != kind]
    line = Text(no_wrap=True, overflow="ellipsis")
    for _, text, style in pieces:
        line.append(text, style=style)
    return line
