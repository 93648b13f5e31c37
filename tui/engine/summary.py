"""A run as a table shows it: the cells the Runs table, the History screen and exports share.

Token counts always say where they come from: the server's usage, the model's own tokenizer
(the embedded server can count), or tiktoken (with "est." when the model's encoding is unknown).
"""

from __future__ import annotations

from datetime import datetime

from . import format as fmt
from .history import RunRecord
from .metrics import MIN_DECODE_SPAN, TokenSource
from .sanitize import one_line

#: How a token source is named in a table cell.
SOURCE_LABELS: dict[str, str] = {"server": "usage", "model": "model", "tiktoken": "tiktoken"}
#: Its longer name, in the panel and the help.
SOURCE_NAMES: dict[str, str] = {"server": "the server's usage", "model": "the model's tokenizer", "tiktoken": "tiktoken"}

PROMPT_WIDTH = 40


def record_tokens(record: RunRecord, source: str | None = None) -> tuple[int | None, str | None]:
    """(count, source) from ``source`` if given, else the record's best."""
    source = source or record.token_source
    return record.tokens_from(source), source


def decode_rate(record: RunRecord, tokens: int | None) -> float | None:
    """(tokens − 1) / (E2E − TTFT) for a given token count, as ``RunMetrics.decode_rate``."""
    if tokens is None or tokens < 2 or record.ttft is None or record.e2e is None or record.e2e - record.ttft < MIN_DECODE_SPAN:
        return None
    return (tokens - 1) / (record.e2e - record.ttft)


def source_label(source: str, estimated: bool = False) -> str:
    """"usage", "model", "tiktoken", or "tiktoken est." (the model's encoding unknown)."""
    label = SOURCE_LABELS.get(source, source)
    return label + " est." if source == "tiktoken" and estimated else label


def tokens_cell(count: int | None, source: str | None, estimated: bool = False) -> str:
    if count is None or source is None:
        return fmt.NONE
    return f"{count:,} {source_label(source, estimated)}"


def prompt_cell(prompt: str, width: int = PROMPT_WIDTH) -> str:
    return one_line(prompt, width)


def how_it_ended(state: str, message: str) -> str:
    """"Failed: …", "Cancelled: …": the state once, even where the message names it."""
    return message if message.lower().startswith(state) else f"{state.capitalize()}: {message}"


def record_cells(record: RunRecord, *, token_source: TokenSource | None = None, pair_mark: str = "") -> dict[str, str]:
    """Every column a run table can show, by column name."""
    count, source = record_tokens(record, token_source)
    return {
        "#": f"{record.id}{pair_mark}",
        "When": datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S"),
        "Model": one_line(record.model, 40),
        "API": record.api,
        "Stream": "on" if record.stream else "off",
        "TTFT": fmt.seconds(record.ttft) if record.stream else "n/a",
        "E2E": fmt.seconds(record.e2e),
        "Chunks": fmt.count(record.chunk_count),
        "Tokens": tokens_cell(count, source, bool(record.encoding and record.encoding.endswith("est."))),
        "Tok/s": fmt.rate(decode_rate(record, count) if token_source else record.decode_tps),
        "Outcome": record.outcome,
        "Prompt": prompt_cell(record.prompt),
    }
