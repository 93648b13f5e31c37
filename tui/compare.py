"""``streamtui compare``: the cookbook's experiment from the command line, without the TUI.

The same prompt is sent N times each way, streamed and not, and the figures are printed as
a table (or JSON): when the first text arrived, when the whole answer did, and the tokens.
The order alternates between repeats (streamed first, then waited first), so neither way
always benefits from a warm connection or a server's prompt cache.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass
from typing import Any

from .engine.clock import monotonic_clock
from .engine.comparison import Comparison
from .engine.connection import Connection
from .engine.errors import describe_exception
from .engine.request import RunRequest
from .engine.run import Run
from .engine.settings import Settings
from .engine.stream import stream_batches


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


async def run_once(connection: Connection, settings: Settings, prompt: str, stream: bool) -> Run:
    request = RunRequest(
        prompt=prompt,
        model=await connection.resolve_model(),
        api=settings.api,
        stream=stream,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
    )
    run = Run.new(request, clock=monotonic_clock, encoding=settings.encoding, endpoint_label=connection.endpoint.label)
    async for batch in stream_batches(connection.client(), request, monotonic_clock):
        run.apply(batch)
    run.metrics.model_tokens = await connection.count_model_tokens(run.text)
    return run


async def compare(settings: Settings, connection: Connection, prompt: str, repeat: int) -> list[Comparison]:
    """Run the experiment; raises RuntimeError with a clear message when a run fails."""
    await connection.ready()
    pairs = []
    for index in range(repeat):
        order = (True, False) if index % 2 == 0 else (False, True)
        runs = {}
        for stream in order:
            run = await run_once(connection, settings, prompt, stream)
            if run.metrics.state != "done":
                raise RuntimeError(f"the {'streamed' if stream else 'non-streamed'} run {index + 1} failed: {run.metrics.error}")
            runs[stream] = run
        pairs.append(Comparison(runs[True], runs[False]))
    return pairs


def _values(pairs: list[Comparison], figure) -> list[float]:
    return [value for value in (figure(pair) for pair in pairs) if value is not None]


FIGURES = {
    "ttft_stream": lambda pair: pair.streamed.metrics.ttft,
    "e2e_stream": lambda pair: pair.streamed.metrics.e2e,
    "e2e_no_stream": lambda pair: pair.waited.metrics.e2e,
    "time_saved": lambda pair: pair.time_saved,
    "chunks_stream": lambda pair: pair.streamed.metrics.chunks,
    "tiktoken_tokens_stream": lambda pair: pair.streamed.metrics.tiktoken_tokens,
    "tiktoken_tokens_no_stream": lambda pair: pair.waited.metrics.tiktoken_tokens,
    "server_tokens_stream": lambda pair: pair.streamed.metrics.server_completion_tokens,
    "server_tokens_no_stream": lambda pair: pair.waited.metrics.server_completion_tokens,
    "decode_tokens_per_s": lambda pair: pair.streamed.metrics.decode_tokens_per_second,
}


def summary(pairs: list[Comparison]) -> dict[str, Figure]:
    return {name: Figure(_values(pairs, figure)) for name, figure in FIGURES.items()}


def _run_record(run: Run) -> dict[str, Any]:
    metrics = run.metrics
    return {
        "stream": run.request.stream,
        "ttft": metrics.ttft,
        "e2e": metrics.e2e,
        "chunks": metrics.chunks,
        "tiktoken_tokens": metrics.tiktoken_tokens,
        "encoding": metrics.encoding.label if metrics.encoding else None,
        "server_completion_tokens": metrics.server_completion_tokens,
        "model_tokens": metrics.model_tokens,
        "output_tokens": metrics.output_tokens,
        "usage_difference": metrics.usage_difference,
        "decode_tokens_per_s": metrics.decode_tokens_per_second,
        "gap_p50": gaps.p50 if (gaps := metrics.gap_stats()) else None,
        "output": run.text,
    }


def as_json(connection: Connection, settings: Settings, prompt: str, pairs: list[Comparison]) -> dict[str, Any]:
    return {
        "endpoint": connection.endpoint.label,
        "model": connection.model,
        "api": settings.api,
        "prompt": prompt,
        "repeat": len(pairs),
        "runs": [record | {"repeat": index + 1} for index, pair in enumerate(pairs) for record in (_run_record(pair.streamed), _run_record(pair.waited))],
        "summary": {name: figure.as_dict() for name, figure in summary(pairs).items()},
    }


#: (label, figure name, is a time) in the order the table shows them.
_ROWS = (
    ("TTFT streamed", "ttft_stream", True),
    ("E2E streamed", "e2e_stream", True),
    ("E2E waited", "e2e_no_stream", True),
    ("Sooner by", "time_saved", True),
    ("Chunks", "chunks_stream", False),
    ("tiktoken on", "tiktoken_tokens_stream", False),
    ("tiktoken off", "tiktoken_tokens_no_stream", False),
    ("Usage on", "server_tokens_stream", False),
    ("Usage off", "server_tokens_no_stream", False),
    ("Decode tok/s", "decode_tokens_per_s", False),
)


def print_table(connection: Connection, settings: Settings, pairs: list[Comparison]) -> None:
    from rich.console import Console
    from rich.table import Table

    from .widgets.metrics_panel import format_seconds

    def show(value: float | None, is_time: bool) -> str:
        if value is None:
            return "–"
        return format_seconds(value) if is_time else f"{value:,.1f}".removesuffix(".0")

    table = Table(title=f"{connection.endpoint.label} · {connection.model} · {settings.api}", title_justify="left")
    table.add_column("", no_wrap=True)
    for index in range(len(pairs)):
        table.add_column(f"run {index + 1}", justify="right")
    table.add_column("median", justify="right", style="bold")
    table.add_column("min – max", justify="right", no_wrap=True)
    figures = summary(pairs)
    for label, name, is_time in _ROWS:
        per_run = [show(FIGURES[name](pair), is_time) for pair in pairs]
        figure = figures[name]
        spread = f"{show(figure.low, is_time)}–{show(figure.high, is_time)}" if figure.values else "–"
        table.add_row(label, *per_run, show(figure.median, is_time), spread)
    console = Console()
    console.print(table)
    encoding = pairs[0].streamed.metrics.encoding if pairs else None
    if encoding is not None:
        console.print(
            "First text: TTFT when streamed, E2E when waited. Sooner by: their difference. "
            f"tiktoken: {encoding.label}; usage: the server's completion tokens ('–': none reported).",
            highlight=False,
        )


async def main(settings: Settings, connection: Connection, prompt: str, repeat: int, as_json_output: bool) -> int:
    try:
        pairs = await compare(settings, connection, prompt, repeat)
    except RuntimeError as exc:
        print(f"streamtui compare: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one clear line, not a traceback
        endpoint = connection.endpoint
        problem = describe_exception(exc, base_url=endpoint.base_url, model=connection.model or "?", api_key=endpoint.api_key, chunks=0)
        print(f"streamtui compare: {problem.message}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if as_json_output:
        print(json.dumps(as_json(connection, settings, prompt, pairs), indent=2))
    else:
        print_table(connection, settings, pairs)
    return 0
