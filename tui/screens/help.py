"""Help (F1, or ? when the prompt is not focused): every key, and what every figure means.

The key table is made from the screens' own bindings, so it cannot drift from them.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Markdown

from ..widgets.footer import Footer
from .watched import WatchedScreen

#: What each figure of the Run panel means, in the panel's order (README: "What the figures mean").
FIGURES: list[tuple[str, str]] = [
    ("State", "connecting (starting the embedded model, asking for the model) → waiting (request on the wire) → streaming → done, cut (stopped by max tokens or a filter), cancelled or failed."),
    ("TTFT", "Time to first token: from the request going on the wire to the first chunk with answer text. A role-only first chunk does not count. Not applicable without streaming."),
    ("E2E", "From the request on the wire to the last chunk of the answer (the trailing usage chunk is not answer text)."),
    ("Tokens", "The answer's tokens, and where the count comes from: the server's usage when it reports one (less its reasoning tokens), else the model's own tokenizer (the embedded model can count), else tiktoken (\"est.\" when the model's encoding is unknown and o200k_base stands in, or when a piece of over a million characters with no break in it is estimated at 4 bytes a token). While a run streams it is always tiktoken's, counted as the text arrives."),
    ("Tok/s", "Decode rate of the answer: (tokens − 1) / (E2E − TTFT); none for an answer that came in one burst (under 5 ms)."),
    ("Elapsed", "From pressing send until the run ends, ticking meanwhile: includes waiting for the embedded model or the streaming worker to start."),
    ("Client", "Client overhead: from the SDK starting the request to its first byte on the wire (building the request, opening a connection). Never part of TTFT."),
    ("Headers", "From the request on the wire to the response's headers (time to first byte)."),
    ("Chunks", "Answer chunks received. A chunk may carry several tokens."),
    ("Usage", "The server's completion tokens when it reports them (reasoning included, its share named), and the difference between its count of the answer and tiktoken's."),
    ("Gap p50 / p95", "Percentiles (nearest rank) of the gaps between consecutive answer chunks: per chunk, not per token. Chunks that arrive in one network read have gaps of 0."),
    ("First thought", "For reasoning models: from the request on the wire to the first reasoning text."),
    ("Retries", "Requests that failed before any byte of an answer (429, 5xx, a refused connection) and were tried again; TTFT counts from the request that answered."),
    ("Compare", "Ctrl+O sends the prompt streamed and not, after one discarded warm-up request of the same prompt (so both runs find the connection and any prompt cache warm), with temperature 0 and one seed when you set none (dropped, and said, if the model refuses them), alternating which goes first. First text: TTFT streamed against E2E waited. When the answers' lengths differ by more than 5%, it says so and compares time per token. The same prompt sent once each way by hand (Ctrl+T) is compared too, without a warm-up."),
]


#: Key names that do not read well capitalized.
KEY_NAMES = {"question_mark": "?", "pageup": "PageUp", "pagedown": "PageDown"}


def key_name(key: str) -> str:
    """"ctrl+o" as "Ctrl+O", "question_mark" as "?": one way of naming keys in the help (the
    footer's "^o" is Textual's, and short)."""
    *modifiers, last = key.split("+")
    name = KEY_NAMES.get(last) or (last.upper() if len(last) == 1 else last.capitalize())
    return "+".join([*(modifier.capitalize() for modifier in modifiers), name])


def key_rows(bindings: list[Binding]) -> list[tuple[str, str]]:
    return [(", ".join(key_name(key.strip()) for key in binding.key.split(",")), binding.description) for binding in bindings if binding.description]


class HelpScreen(WatchedScreen[None]):
    DEFAULT_CSS = """
    HelpScreen VerticalScroll { padding: 0 2; }
    """
    BINDINGS = [Binding("escape,q,f1", "app.pop_screen", "Back")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        lines = ["# streamtui", "", "## Keys", "", "| key | what it does |", "|---|---|"]
        lines += [f"| {key} | {what} |" for key, what in self.keys]
        lines += ["", "Drag the mouse over the output pane to select text; Ctrl+C copies it."]
        lines += ["", "## The figures", ""]
        for name, meaning in FIGURES:
            lines += [f"**{name}**: {meaning}", ""]
        lines += ["Every time is stamped when its bytes are read from the socket, in the streaming worker process.", ""]
        with VerticalScroll():
            yield Markdown("\n".join(lines))
        yield Footer()
