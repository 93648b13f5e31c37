"""Run history: every run in SQLite from the moment it starts, and export to JSONL and Markdown.

A run is written when it starts (``start``), rewritten while it streams (``update``, which the
app calls every ≤0.5 s) and marked final when it ends (``finish``). A run that fails, is
cancelled, or is cut off by the process dying keeps what had arrived by its last update; such a
run has ``final`` false and its last running state ("waiting"/"streaming").

Where: ``platformdirs.user_data_dir("streamtui")/history.sqlite3``. ``STREAMTUI_HISTORY`` names
another file, or turns persistence off with ``off`` or ``:memory:`` (an in-memory database).
An explicit ``HistoryStore(path)`` wins over both.

What is stored: the prompt, parameters, output, reasoning, every figure, the answer chunks'
arrival times and sizes (compact little-endian BLOBs), usage and error. Never a key or a header:
the endpoint is stored as ``Run.endpoint_label``, and error messages are already redacted by
``errors.py``.

History never stops a run: a failed write (disk full, locked database) is kept in
``store.problem`` and the write is skipped.

Figure names follow vLLM / genai-perf (see /work/shared/notes/metrics.md and ``metrics.py``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from .run import Run

SCHEMA_VERSION = 1
ENV_VAR = "STREAMTUI_HISTORY"
#: Values of STREAMTUI_HISTORY that keep history in memory only.
_OFF_VALUES = ("off", ":memory:")
_FILE_NAME = "history.sqlite3"

_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,              -- wall clock, Unix seconds (Run.created)
    updated REAL NOT NULL,              -- wall clock of the last write
    final INTEGER NOT NULL DEFAULT 0,   -- 1 once finish() wrote it
    state TEXT NOT NULL,                -- waiting / streaming / done / cancelled / failed
    pair_id INTEGER,                    -- runs of one Compare action share it
    endpoint TEXT NOT NULL,             -- Run.endpoint_label: host and path, never a key
    model TEXT NOT NULL,
    api TEXT NOT NULL,
    stream INTEGER NOT NULL,
    max_tokens INTEGER,
    temperature REAL,
    params TEXT NOT NULL,               -- JSON of RunRequest.describe()
    prompt TEXT NOT NULL,
    output TEXT NOT NULL DEFAULT '',
    reasoning TEXT NOT NULL DEFAULT '',
    ttft REAL,
    ttfr REAL,
    e2e REAL,
    elapsed REAL,
    tpot REAL,
    decode_tps REAL,
    chunks INTEGER NOT NULL DEFAULT 0,
    reasoning_chunks INTEGER NOT NULL DEFAULT 0,
    tiktoken_tokens INTEGER,
    reasoning_tiktoken_tokens INTEGER,
    encoding TEXT,                      -- EncodingChoice.label: "o200k_base" or "o200k_base, est."
    model_tokens INTEGER,
    server_prompt_tokens INTEGER,
    server_completion_tokens INTEGER,
    reasoning_tokens INTEGER,
    usage_difference INTEGER,
    gap_p50 REAL,
    gap_p95 REAL,
    gap_max REAL,
    finish_reason TEXT,
    error TEXT,
    error_kind TEXT,
    arrivals BLOB NOT NULL DEFAULT x'', -- float64 little-endian: answer chunk times since the request
    chunk_sizes BLOB NOT NULL DEFAULT x'' -- uint32 little-endian: answer chunk lengths in characters
);
CREATE INDEX runs_created ON runs (created DESC, id DESC);
CREATE INDEX runs_model ON runs (model, created DESC);
"""

#: The columns update() rewrites, in order (see _changing_values).
_CHANGING = (
    "updated", "state", "output", "reasoning", "ttft", "ttfr", "e2e", "elapsed", "tpot", "decode_tps",
    "chunks", "reasoning_chunks", "tiktoken_tokens", "reasoning_tiktoken_tokens", "encoding", "model_tokens",
    "server_prompt_tokens", "server_completion_tokens", "reasoning_tokens", "usage_difference",
    "gap_p50", "gap_p95", "gap_max", "finish_reason", "error", "error_kind", "arrivals", "chunk_sizes",
)
_UPDATE_SQL = f"UPDATE runs SET {', '.join(f'{name} = ?' for name in _CHANGING)} WHERE id = ?"
_FINISH_SQL = f"UPDATE runs SET {', '.join(f'{name} = ?' for name in _CHANGING)}, final = 1 WHERE id = ?"

# -- blobs ------------------------------------------------------------------------------------------

_BIG_ENDIAN = sys.byteorder == "big"
#: A 4-byte unsigned typecode ("I" on every common platform).
_U32 = next(code for code in ("I", "L") if array(code).itemsize == 4)


def _pack(values: array, typecode: str) -> bytes:
    if values.typecode != typecode:
        values = array(typecode, values)
    if _BIG_ENDIAN:
        values = array(typecode, values)
        values.byteswap()
    return values.tobytes()


def _unpack(blob: bytes | None, typecode: str) -> list:
    values = array(typecode)
    if blob:
        values.frombytes(blob)
        if _BIG_ENDIAN:
            values.byteswap()
    return values.tolist()


# -- where ------------------------------------------------------------------------------------------


def default_history_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("streamtui")) / _FILE_NAME


def resolve_history_path(path: Path | str | None = None, environ: Mapping[str, str] = os.environ) -> Path | None:
    """The database file: ``path`` if given, else STREAMTUI_HISTORY, else the user data dir.
    None means in memory (STREAMTUI_HISTORY=off or :memory:)."""
    if path is not None:
        chosen = str(path)
    else:
        chosen = environ.get(ENV_VAR, "").strip()
        if not chosen:
            return default_history_path()
    if chosen.lower() in _OFF_VALUES:
        return None
    return Path(chosen).expanduser()


# -- records ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """One stored run. Times are seconds (floats); None where a figure does not apply.

    The chunk count is ``chunk_count`` (column ``chunks``), since ``chunks()`` gives the chunk texts.
    """

    id: int
    created: float
    updated: float
    final: bool
    state: str
    pair_id: int | None
    endpoint: str
    model: str
    api: str
    stream: bool
    max_tokens: int | None
    temperature: float | None
    params: dict[str, Any]
    prompt: str
    output: str
    reasoning: str
    ttft: float | None
    ttfr: float | None
    e2e: float | None
    elapsed: float | None
    tpot: float | None
    decode_tps: float | None
    chunk_count: int
    reasoning_chunks: int
    tiktoken_tokens: int | None
    reasoning_tiktoken_tokens: int | None
    encoding: str | None
    model_tokens: int | None
    server_prompt_tokens: int | None
    server_completion_tokens: int | None
    reasoning_tokens: int | None
    usage_difference: int | None
    gap_p50: float | None
    gap_p95: float | None
    gap_max: float | None
    finish_reason: str | None
    error: str | None
    error_kind: str | None
    #: Answer chunks' arrival times, seconds since the request.
    arrivals: list[float] = field(default_factory=list)
    #: Answer chunks' lengths in characters (Python str length), in arrival order.
    chunk_sizes: list[int] = field(default_factory=list)

    def chunks(self) -> list[str]:
        """The answer chunks' texts, sliced from the output by the stored sizes."""
        if sum(self.chunk_sizes) != len(self.output):
            raise ValueError(f"run {self.id}: chunk sizes add up to {sum(self.chunk_sizes)}, the output has {len(self.output)} characters")
        texts, start = [], 0
        for size in self.chunk_sizes:
            texts.append(self.output[start : start + size])
            start += size
        return texts

    @property
    def gaps(self) -> list[float]:
        """Inter-chunk gaps (vLLM's ITL list), seconds."""
        arrivals = self.arrivals
        return [arrivals[i] - arrivals[i - 1] for i in range(1, len(arrivals))]

    @property
    def output_tokens(self) -> int | None:
        """As ``RunMetrics.output_tokens``: the server's usage, else the model's tokenizer, else tiktoken's."""
        for count in (self.server_completion_tokens, self.model_tokens):
            if count is not None:
                return count
        return self.tiktoken_tokens

    @property
    def interrupted(self) -> bool:
        """Never finished: the process stopped mid-run (or another session is still running it)."""
        return not self.final and self.state in ("idle", "waiting", "streaming")

    @property
    def outcome(self) -> str:
        """As ``Run.outcome``; "interrupted" for a run whose process stopped before it ended."""
        if self.interrupted:
            return "interrupted"
        if self.state == "done":
            return f"done ({self.finish_reason})" if self.finish_reason not in (None, "stop", "completed") else "done"
        return self.state

    @property
    def created_iso(self) -> str:
        return iso_utc(self.created)


_RECORD_FIELDS = [f.name for f in fields(RunRecord)]
#: Columns in RunRecord field order (the chunk count's column is "chunks").
_SELECT_COLUMNS = ", ".join("chunks" if name == "chunk_count" else name for name in _RECORD_FIELDS)
_LIGHT_SELECT_COLUMNS = _SELECT_COLUMNS.replace("arrivals", "x''").replace("chunk_sizes", "x''")


def iso_utc(timestamp: float) -> str:
    """ISO 8601 in UTC to the millisecond: ``2025-01-31T12:00:00.123Z``."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _record(row: tuple) -> RunRecord:
    values = dict(zip(_RECORD_FIELDS, row))
    values["final"] = bool(values["final"])
    values["stream"] = bool(values["stream"])
    values["params"] = json.loads(values["params"])
    values["arrivals"] = _unpack(values["arrivals"], "d")
    values["chunk_sizes"] = _unpack(values["chunk_sizes"], _U32)
    return RunRecord(**values)


# -- the store --------------------------------------------------------------------------------------


class HistoryStore:
    """SQLite history. Safe to call from one thread at a time or several (a lock serializes)."""

    def __init__(self, path: Path | str | None = None, *, environ: Mapping[str, str] = os.environ) -> None:
        #: The database file, or None when history is in memory only.
        self.path: Path | None = resolve_history_path(path, environ)
        #: Why history is not being kept on disk (or why a write was skipped); None when all is well.
        self.problem: str | None = None
        self._lock = threading.Lock()
        try:
            self._db = self._open(self.path)
        except (sqlite3.Error, OSError, _NewerSchema) as exc:
            self.problem = f"History is kept in memory only: cannot use {self.path} ({exc})."
            self.path = None
            self._db = self._open(None)

    @property
    def persistent(self) -> bool:
        return self.path is not None

    @staticmethod
    def _open(path: Path | None) -> sqlite3.Connection:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: each write is its own transaction, committed when the statement ends.
        db = sqlite3.connect(":memory:" if path is None else str(path), timeout=2.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise _NewerSchema(f"its schema version {version} is newer than this streamtui's {SCHEMA_VERSION}")
            if version < SCHEMA_VERSION:
                db.execute("BEGIN IMMEDIATE")
                try:
                    # Another process may have created it meanwhile: look again inside the lock.
                    if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                        for statement in _SCHEMA.split(";\n"):
                            if statement.strip():
                                db.execute(statement)
                        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------
    def start(self, run: Run) -> int | None:
        """Insert the run as it starts; returns its id (None if the write failed: see ``problem``)."""
        request = run.request
        row = {
            "created": run.created,
            "updated": time.time(),
            "state": run.metrics.state if run.metrics.state != "idle" else "waiting",
            "pair_id": run.pair_id,
            "endpoint": run.endpoint_label,
            "model": request.model,
            "api": request.api,
            "stream": int(request.stream),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "params": json.dumps(request.describe(), sort_keys=True),
            "prompt": request.prompt,
        }
        sql = f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
        run_id = self._write(sql, tuple(row.values()))
        if run_id is None:
            return None
        # Whatever arrived before start() was called is stored too.
        self.update(run_id, run)
        return run_id

    def update(self, run_id: int | None, run: Run) -> bool:
        """Rewrite the run's changing columns. False if nothing was written (unknown id or a failed write)."""
        return self.write_snapshot(run_id, self.snapshot(run))

    @staticmethod
    def snapshot(run: Run) -> tuple:
        """The run's changing columns as they are now. Take it where the run is updated (the
        event loop): its text, arrivals and counts then agree with each other."""
        return _changing_values(run)

    def write_snapshot(self, run_id: int | None, snapshot: tuple) -> bool:
        """Write a :meth:`snapshot`; safe from another thread (the write is the slow part)."""
        if run_id is None:
            return False
        return bool(self._write(_UPDATE_SQL, (*snapshot, run_id), rowcount=True))

    def finish(self, run_id: int | None, run: Run) -> bool:
        """The last update: marks the run final."""
        if run_id is None:
            return False
        return bool(self._write(_FINISH_SQL, (*_changing_values(run), run_id), rowcount=True))

    def delete(self, run_id: int) -> bool:
        return bool(self._write("DELETE FROM runs WHERE id = ?", (run_id,), rowcount=True))

    def _write(self, sql: str, parameters: tuple, rowcount: bool = False) -> int | None:
        try:
            with self._lock:
                cursor = self._db.execute(sql, parameters)
                return cursor.rowcount if rowcount else cursor.lastrowid
        except sqlite3.Error as exc:
            self.problem = f"History could not save a run: {exc}."
            return None

    # -- reading ---------------------------------------------------------------------------------
    def list_runs(self, model: str | None = None, limit: int = 500, *, with_chunks: bool = True) -> list[RunRecord]:
        """Newest first. ``with_chunks=False`` skips the arrivals and chunk sizes (empty lists):
        cheaper for a list of long runs; ``get()`` one to have them."""
        columns = _SELECT_COLUMNS if with_chunks else _LIGHT_SELECT_COLUMNS
        where, parameters = ("WHERE model = ?", (model,)) if model is not None else ("", ())
        sql = f"SELECT {columns} FROM runs {where} ORDER BY created DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*parameters, limit)).fetchall()
        return [_record(row) for row in rows]

    def get(self, run_id: int) -> RunRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_SELECT_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _record(row) if row is not None else None

    def models(self) -> list[str]:
        """Every model with a stored run, sorted."""
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT DISTINCT model FROM runs ORDER BY model")]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


class _NewerSchema(Exception):
    """The file was written by a newer streamtui: leave it alone."""


def _changing_figures(run: Run) -> dict[str, Any]:
    """The columns that change while a run goes on (see ``_CHANGING``), arrivals and sizes as arrays."""
    metrics = run.metrics
    usage = metrics.usage
    gaps = metrics.gap_stats()
    return {
        "updated": time.time(),
        "state": metrics.state if metrics.state != "idle" else "waiting",
        "output": run.text,
        "reasoning": run.reasoning,
        "ttft": metrics.ttft,
        "ttfr": metrics.ttfr,
        "e2e": metrics.e2e,
        "elapsed": metrics.elapsed,
        "tpot": metrics.tpot,
        "decode_tps": metrics.decode_tokens_per_second,
        "chunks": metrics.chunks,
        "reasoning_chunks": metrics.reasoning_chunks,
        "tiktoken_tokens": metrics.tiktoken_tokens,
        "reasoning_tiktoken_tokens": metrics.reasoning_tiktoken_tokens,
        "encoding": metrics.encoding.label if metrics.encoding is not None else None,
        "model_tokens": metrics.model_tokens,
        "server_prompt_tokens": usage.prompt_tokens if usage else None,
        "server_completion_tokens": usage.completion_tokens if usage else None,
        "reasoning_tokens": usage.reasoning_tokens if usage else None,
        "usage_difference": metrics.usage_difference,
        "gap_p50": gaps.p50 if gaps else None,
        "gap_p95": gaps.p95 if gaps else None,
        "gap_max": gaps.max if gaps else None,
        "finish_reason": metrics.finish_reason,
        "error": metrics.error,
        "error_kind": metrics.error_kind,
        "arrivals": metrics.arrivals,
        "chunk_sizes": metrics.chunk_sizes,
    }


def _changing_values(run: Run) -> tuple:
    figures = _changing_figures(run)
    figures["arrivals"] = _pack(figures["arrivals"], "d")
    figures["chunk_sizes"] = _pack(figures["chunk_sizes"], _U32)
    return tuple(figures[name] for name in _CHANGING)


def record_of(run: Run) -> RunRecord:
    """A run of this session as a record, without the database: for the timeline and export."""
    request = run.request
    figures = _changing_figures(run)
    figures["chunk_count"] = figures.pop("chunks")
    figures["arrivals"] = list(figures["arrivals"])
    figures["chunk_sizes"] = list(figures["chunk_sizes"])
    return RunRecord(
        id=run.history_id or 0,
        created=run.created,
        final=not run.metrics.running,
        pair_id=run.pair_id,
        endpoint=run.endpoint_label,
        model=request.model,
        api=request.api,
        stream=request.stream,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        params=request.describe(),
        prompt=request.prompt,
        **figures,
    )


# -- export -----------------------------------------------------------------------------------------


def to_jsonl_record(record: RunRecord) -> dict[str, Any]:
    """One run as a JSON object, with field names close to vLLM's and genai-perf's. Seconds as floats."""
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
        "ttft": record.ttft,
        "ttfr": record.ttfr,
        "e2e": record.e2e,
        "tpot": record.tpot,
        "itl": record.gaps,
        "chunk_times": list(record.arrivals),
        "chunks": record.chunk_count,
        "output_tokens": record.output_tokens,
        "tiktoken_tokens": record.tiktoken_tokens,
        "encoding": record.encoding,
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
        "pair_id": record.pair_id,
        "params": {"max_tokens": record.max_tokens, "temperature": record.temperature},
    }


def export_jsonl(records: Iterable[RunRecord], file: IO[str] | Path | str) -> int:
    """One JSON object per line (UTF-8, non-ASCII kept). Returns the number of lines written."""
    if isinstance(file, (str, Path)):
        with open(file, "w", encoding="utf-8") as handle:
            return export_jsonl(records, handle)
    written = 0
    for record in records:
        file.write(json.dumps(to_jsonl_record(record), ensure_ascii=False) + "\n")
        written += 1
    return written


def _seconds(value: float | None) -> str:
    """As the side panel shows them: "123.4 ms" below a second, "2.224 s" above."""
    if value is None:
        return "–"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:,.3f} s"


def _count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines() or [""])


def to_markdown(record: RunRecord) -> str:
    """The prompt as a quote, the reasoning (if any) as a quote, the answer as it is, then the figures."""
    lines = [f"## Run {record.id} · {record.model} · {record.created_iso}", "", _quote(record.prompt), ""]
    if record.reasoning:
        lines += ["**Reasoning**", "", _quote(record.reasoning), ""]
    lines += [record.output if record.output else "*(no answer text)*", ""]
    ttft = _seconds(record.ttft) if record.stream else "n/a (not streamed)"
    tokens = _count(record.tiktoken_tokens)
    if record.tiktoken_tokens is not None and record.encoding:
        tokens += f" ({record.encoding})"
    rows = [
        ("Outcome", record.outcome + (f": {record.error}" if record.error and record.state != "done" else "")),
        ("Endpoint", f"{record.endpoint or '–'} · {record.api} · {'streaming' if record.stream else 'not streaming'}"),
        ("TTFT", ttft),
        ("Time to first reasoning", _seconds(record.ttfr)) if record.ttfr is not None else None,
        ("E2E latency", _seconds(record.e2e)),
        ("TPOT", _seconds(record.tpot)),
        ("Decode tok/s", "–" if record.decode_tps is None else f"{record.decode_tps:,.1f}"),
        ("Inter-chunk gap p50 / p95 / max", " / ".join(_seconds(v) for v in (record.gap_p50, record.gap_p95, record.gap_max))),
        ("Chunks", _count(record.chunk_count)),
        ("Output tokens (server)", _count(record.server_completion_tokens) if record.server_completion_tokens is not None else "not reported"),
        ("Output tokens (tiktoken)", tokens),
        ("Reasoning tokens (server)", _count(record.reasoning_tokens)) if record.reasoning_tokens is not None else None,
        ("Prompt tokens (server)", _count(record.server_prompt_tokens)),
        ("max_tokens / temperature", f"{_count(record.max_tokens)} / {'–' if record.temperature is None else record.temperature}"),
    ]
    lines += ["| Figure | Value |", "|---|---|"]
    lines += ["| " + name + " | " + value.replace("|", "\\|") + " |" for name, value in filter(None, rows)]
    return "\n".join(lines) + "\n"
