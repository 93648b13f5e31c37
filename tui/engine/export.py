"""Export runs: JSONL (field names close to vLLM's and genai-perf's) and Markdown.

Files are private (0600) and never overwrite an existing file: a name already taken gets a
counter (``streamtui-runs-20261201-101500-2.jsonl``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from . import format as fmt
from .history import RunRecord
from .private_files import create_private


def to_jsonl_record(record: RunRecord) -> dict[str, Any]:
    """One run as a JSON object. Seconds as floats."""
    return {
        "id": record.id,
        "created": record.created_iso,
        "model": record.model,
        "api": record.api,
        "endpoint": record.endpoint,
        "stream": record.stream,
        "prompt": record.prompt,
        "output": record.output,
        "reasoning": record.reasoning,
        "outcome": record.outcome,
        "finish_reason": record.finish_reason,
        "error": record.error,
        "error_kind": record.error_kind,
        "client_time": record.client_time,
        "headers_time": record.headers_time,
        "ttft": record.ttft,
        "ttfr": record.ttfr,
        "e2e": record.e2e,
        "tpot": record.tpot,
        "itl": record.gaps,
        "chunk_times": list(record.arrivals),
        "chunks": record.chunk_count,
        "output_tokens": record.output_tokens,
        "token_source": record.token_source,
        "tiktoken_tokens": record.tiktoken_tokens,
        "encoding": (record.encoding or "").split(",")[0] or None,
        "estimated": bool(record.encoding and record.encoding.endswith("est.")),
        "model_tokens": record.model_tokens,
        "server_usage": {
            "prompt_tokens": record.server_prompt_tokens,
            "completion_tokens": record.server_completion_tokens,
            "reasoning_tokens": record.reasoning_tokens,
        },
        "usage_difference": record.usage_difference,
        "decode_tokens_per_s": record.decode_tps,
        "gap_p50": record.gap_p50,
        "gap_p95": record.gap_p95,
        "gap_max": record.gap_max,
        "retries": record.retries,
        "pair_id": record.pair_id,
        "conversation_id": record.conversation_id,
        "turn": record.turn,
        "params": record.params,
    }


def write_jsonl(records: Iterable[RunRecord], file: IO[str]) -> int:
    """One JSON object per line (UTF-8, non-ASCII kept). Returns the number of lines written."""
    written = 0
    for record in records:
        file.write(json.dumps(to_jsonl_record(record), ensure_ascii=False) + "\n")
        written += 1
    return written


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines() or [""])


def to_markdown(record: RunRecord) -> str:
    """The prompt as a quote, the reasoning (if any) as a quote, the answer as it is, then the figures."""
    lines = [f"## Run {record.id} · {record.model} · {record.created_iso}", "", _quote(record.prompt), ""]
    if record.reasoning:
        lines += ["**Reasoning**", "", _quote(record.reasoning), ""]
    lines += [record.output if record.output else "*(no answer text)*", ""]
    ttft = fmt.seconds(record.ttft) if record.stream else "n/a (not streamed)"
    tokens = fmt.count(record.tiktoken_tokens)
    if record.tiktoken_tokens is not None and record.encoding:
        tokens += f" ({record.encoding})"
    rows = [
        ("Outcome", record.outcome + (f": {record.error}" if record.error and record.state != "done" else "")),
        ("Endpoint", f"{record.endpoint or fmt.NONE} · {record.api} · {'streaming' if record.stream else 'not streaming'}"),
        ("Client (before the request was on the wire)", fmt.seconds(record.client_time)),
        ("TTFT", ttft),
        ("Time to first reasoning", fmt.seconds(record.ttfr)) if record.ttfr is not None else None,
        ("E2E latency", fmt.seconds(record.e2e)),
        ("TPOT", fmt.seconds(record.tpot)),
        ("Decode tok/s", fmt.rate(record.decode_tps)),
        ("Inter-chunk gap p50 / p95 / max", " / ".join(fmt.seconds(v) for v in (record.gap_p50, record.gap_p95, record.gap_max))),
        ("Chunks", fmt.count(record.chunk_count)),
        ("Output tokens (server)", fmt.count(record.server_completion_tokens) if record.server_completion_tokens is not None else "not reported"),
        ("Output tokens (tiktoken)", tokens),
        ("Reasoning tokens (server)", fmt.count(record.reasoning_tokens)) if record.reasoning_tokens is not None else None,
        ("Prompt tokens (server)", fmt.count(record.server_prompt_tokens)),
        ("Retries", fmt.count(record.retries)) if record.retries else None,
        ("max_tokens / temperature", f"{fmt.count(record.max_tokens)} / {fmt.NONE if record.temperature is None else record.temperature}"),
    ]
    lines += ["| Figure | Value |", "|---|---|"]
    lines += ["| " + name + " | " + value.replace("|", "\\|") + " |" for name, value in filter(None, rows)]
    return "\n".join(lines) + "\n"


def export_file(records: list[RunRecord], folder: Path, *, stem: str, markdown: bool = False) -> Path:
    """Write ``records`` to a new private file in ``folder``; returns its path. Raises OSError
    (the caller says why, in one line)."""
    suffix = ".md" if markdown else ".jsonl"
    base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    for attempt in range(1, 1000):
        path = folder / (base + (f"-{attempt}" if attempt > 1 else "") + suffix)
        try:
            with create_private(path) as handle:
                if markdown:
                    handle.write("\n".join(to_markdown(record) for record in records))
                else:
                    write_jsonl(records, handle)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free file name for {base}{suffix} in {folder}")
