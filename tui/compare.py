"""``streamtui compare``: the cookbook's experiment from the command line, without the TUI.

The same prompt is sent N times each way, streamed and not, through the same session logic as
the TUI's Compare: a discarded warm-up request first, the same temperature and seed in both
runs (0 and a fixed seed unless set), and the order alternating from one pair to the next.
Progress goes to stderr as it runs; the figures go to stdout as a table (or JSON).
"""

from __future__ import annotations

import json
import statistics
import sys
import textwrap
from dataclasses import dataclass
from typing import Any, TextIO

from .engine import format as fmt
from .engine.comparison import Comparison
from .engine.connection import Connection
from .engine.errors import Problem, internal_problem
from .engine.history import HistoryStore
from .engine.run import Run
from .engine.session import RunSession
from .engine.settings import Settings

#: What every error line starts with.
PROG = "streamtui compare"


@dataclass(frozen=True)
class Figure:
    """One figure across repeats: its median and spread."""

    values: list[float]

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def low(self) -> float | None:
        return min(self.values) if self.values else None

    @property
    def high(self) -> float | None:
        return max(self.values) if self.values else None

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.low, "max": self.high, "values": self.values}


class _Progress:
    """A RunListener that says on stderr what is happening, one line per run."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = total
        self.done = 0
        self.out = out

    def run_started(self, run: Run) -> None:
        way = "streamed" if run.request.stream else "waited"
        print(f"run {self.done + 1}/{self.total}: {way}…", end="", file=self.out, flush=True)

    def run_changed(self, run: Run) -> None:
        pass

    def run_ended(self, run: Run) -> None:
        self.done += 1
        metrics = run.metrics
        figure = f"TTFT {fmt.seconds(metrics.ttft)}, E2E {fmt.seconds(metrics.e2e)}" if run.request.stream else f"E2E {fmt.seconds(metrics.e2e)}"
        print(f" {metrics.state}, {figure}" if metrics.state == "done" else f" {metrics.state}", file=self.out, flush=True)


class CompareFailed(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


async def compare(session: RunSession, prompt: str, repeat: int, progress: TextIO | None = None) -> list[Comparison]:
    """Run the experiment; raises CompareFailed with a clear message when a run fails."""
    listener = _Progress(2 * repeat, progress or _Null())
    pairs = []
    for index in range(repeat):
        runs = await session.send(prompt, listener, compare=True)
        failed = next((run for run in runs if run.metrics.state != "done"), None)
        if failed is not None or len(runs) != 2:
            way = "streamed" if failed is None or failed.request.stream else "non-streamed"
            message = failed.metrics.error if failed is not None else "the pair did not complete"
            raise CompareFailed(Problem(failed.metrics.error_kind or "error" if failed else "error", f"the {way} run of pair {index + 1} failed: {message}"))
        pair = session.pair_of(runs[0])
        assert pair is not None
        pairs.append(pair)
    return pairs


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _values(pairs: list[Comparison], figure) -> list[float]:
    return [value for value in (figure(pair) for pair in pairs) if value is not None]


FIGURES = {
    "ttft_stream": lambda pair: pair.streamed.metrics.ttft,
    "e2e_stream": lambda pair: pair.streamed.metrics.e2e,
    "e2e_no_stream": lambda pair: pair.waited.metrics.e2e,
    "time_saved": lambda pair: pair.time_saved,
    "chunks_stream": lambda pair: pair.streamed.metrics.chunks,
    "tokens_stream": lambda pair: pair.tokens[0],
    "tokens_no_stream": lambda pair: pair.tokens[1],
    "tiktoken_tokens_stream": lambda pair: pair.streamed.metrics.tiktoken_tokens,
    "tiktoken_tokens_no_stream": lambda pair: pair.waited.metrics.tiktoken_tokens,
    "server_tokens_stream": lambda pair: pair.streamed.metrics.server_completion_tokens,
    "server_tokens_no_stream": lambda pair: pair.waited.metrics.server_completion_tokens,
    "decode_tokens_per_s": lambda pair: pair.streamed.metrics.decode_rate(pair.token_source),
    "time_per_token_stream": lambda pair: pair.time_per_token[0],
    "time_per_token_no_stream": lambda pair: pair.time_per_token[1],
}


def summary(pairs: list[Comparison]) -> dict[str, Figure]:
    return {name: Figure(_values(pairs, figure)) for name, figure in FIGURES.items()}


def _run_record(run: Run, pair: Comparison) -> dict[str, Any]:
    metrics = run.metrics
    gaps = metrics.gap_stats()
    return {
        "stream": run.request.stream,
        "number": run.number,
        "client_time": metrics.client_time,
        "ttft": metrics.ttft,
        "e2e": metrics.e2e,
        "chunks": metrics.chunks,
        "output_tokens": metrics.tokens_from(pair.token_source) if pair.token_source else None,
        "token_source": pair.token_source,
        "tiktoken_tokens": metrics.tiktoken_tokens,
        "encoding": metrics.encoding.name if metrics.encoding else None,
        "estimated": (not metrics.encoding.exact) if metrics.encoding else None,
        "server_completion_tokens": metrics.server_completion_tokens,
        "model_tokens": metrics.model_tokens,
        "usage_difference": metrics.usage_difference,
        "decode_tokens_per_s": metrics.decode_rate(pair.token_source),
        "gap_p50": gaps.p50 if gaps else None,
        "finish_reason": metrics.finish_reason,
        "temperature": run.request.temperature,
        "seed": run.request.seed,
        "output": run.text,
    }


def as_json(session: RunSession, settings: Settings, prompt: str, pairs: list[Comparison]) -> dict[str, Any]:
    connection = session.connection
    return {
        "profile": settings.profile,
        "endpoint": connection.endpoint.label,
        "model": connection.model,
        "api": settings.api,
        "prompt": prompt,
        "repeat": len(pairs),
        "fair": session.fair_overrides(),
        "warm_up": True,
        "answers_differ": any(pair.answers_differ for pair in pairs),
        "runs": [
            record | {"repeat": index + 1, "first": record["number"] == pair.streamed.pair_id}
            for index, pair in enumerate(pairs)
            for record in (_run_record(pair.streamed, pair), _run_record(pair.waited, pair))
        ],
        "summary": {name: figure.as_dict() for name, figure in summary(pairs).items()},
    }


#: (label, figure name, unit) in the order the table shows them; unit "s" is a time.
_ROWS = (
    ("TTFT, streamed", "ttft_stream", "s"),
    ("E2E, streamed", "e2e_stream", "s"),
    ("E2E, waited", "e2e_no_stream", "s"),
    ("First text sooner by", "time_saved", "s"),
    ("Chunks, streamed", "chunks_stream", ""),
    ("Tokens, streamed", "tokens_stream", ""),
    ("Tokens, waited", "tokens_no_stream", ""),
    ("Decode tok/s, streamed", "decode_tokens_per_s", ""),
)


def table_text(session: RunSession, settings: Settings, pairs: list[Comparison]) -> str:
    """A compact table that fits 80 columns: median and min–max of each figure."""
    from .engine.summary import SOURCE_NAMES

    def show(value: float | None, unit: str) -> str:
        if value is None:
            return fmt.NONE
        return fmt.seconds(value) if unit == "s" else fmt.count(round(value, 1))

    connection = session.connection
    figures = summary(pairs)
    title = f"{connection.endpoint.label} · {connection.model} · {settings.api} · {len(pairs)} pairs"
    title = (f"profile {settings.profile} · " if settings.profile else "") + title
    lines = [title if len(title) <= 80 else title[:79] + "…", ""]
    header = f"{'figure':<24} {'median':>12} {'min – max':>24}"
    lines += [header, "-" * len(header)]
    for label, name, unit in _ROWS:
        figure = figures[name]
        spread = f"{show(figure.low, unit)} – {show(figure.high, unit)}" if figure.values else fmt.NONE
        lines.append(f"{label:<24} {show(figure.median, unit):>12} {spread:>24}")
    source = pairs[0].token_source if pairs else None
    notes = []
    if source:
        notes.append(f"Tokens: {SOURCE_NAMES[source]}, the same source for both runs of each pair.")
    fair = session.fair_overrides()
    if fair:
        notes.append("Both runs sent " + ", ".join(f"{key} {value}" for key, value in fair.items()) + " (not set by you), after one discarded warm-up request.")
    differing = [index + 1 for index, pair in enumerate(pairs) if pair.answers_differ]
    if differing:
        per = [pair.time_per_token for pair in pairs if pair.answers_differ]
        notes.append(f"Answers differ by more than 5% in pairs {', '.join(map(str, differing))}: compare time per token "
                     f"({' / '.join(fmt.seconds(s) + ' vs ' + fmt.seconds(w) for s, w in per)}), not E2E.")
    wrapped = [textwrap.fill(note, 80, subsequent_indent="  ") for note in notes]
    return "\n".join(lines + [""] + wrapped) + "\n"


async def main(settings: Settings, connection: Connection, prompt: str, repeat: int, as_json_output: bool) -> int:
    """Run the experiment on an in-memory history; exit 1 with one line on stderr on failure."""
    history = HistoryStore.in_memory()
    session = RunSession(connection, history, params=settings.run_params())
    try:
        pairs = await compare(session, prompt, repeat, progress=sys.stderr)
    except CompareFailed as exc:
        print(f"\n{PROG}: error: {exc.problem.message}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one clear line, not a traceback
        print(f"\n{PROG}: error: {internal_problem(exc, 'compare').message}", file=sys.stderr)
        return 1
    finally:
        await session.close()
        session.writer.close()
        history.close()
    if as_json_output:
        print(json.dumps(as_json(session, settings, prompt, pairs), indent=2))
    else:
        sys.stdout.write(table_text(session, settings, pairs))
    return 0
