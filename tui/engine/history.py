"""Run history: every run in SQLite from the moment it is sent.

A run is inserted when it is sent (``start``), rewritten while it streams (``save``) and marked
final when it ends (``finish``). The app never calls these itself: ``HistoryWriter`` does, on
one thread, in that order. A run that fails, is cancelled, or is cut off by the process dying
keeps what had arrived by its last save; such a run has ``final`` false and its last running
state.

A run's id is its number everywhere (Runs table, Timeline, History): ``reserve_id`` takes
the next one in the database at the send (one small insert, off the event loop), so processes
sharing the file (``streamtui web`` runs one per browser tab) never hand out the same number,
and a number once shown, and linked to by pairs and conversations, never changes.

Where: ``platformdirs.user_data_dir("streamtui")/history.sqlite3``. ``STREAMTUI_HISTORY`` names
another file, or keeps history in memory with ``off`` or ``:memory:``. An explicit path wins.
The file is private to its owner (0600 in a 0700 folder; SQLite gives its WAL files the same
mode). When the file cannot be used, history is kept in memory and ``problem`` says why.

What is stored: the prompt, parameters, output, reasoning, every figure, the answer chunks'
arrival times and sizes (compact little-endian BLOBs), usage and error. Never a key or a
password: the endpoint is stored as ``Run.endpoint_label``, error messages are redacted.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .events import answer_tokens
from .private_files import private_file
from .run import Run

SCHEMA_VERSION = 2
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
    state TEXT NOT NULL,                -- connecting / waiting / streaming / done / cancelled / failed
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
CREATE INDEX runs_model ON runs (model, created DESC)
"""

#: Columns added by each schema version after 1 (new databases get them through migration too).
_MIGRATIONS: dict[int, list[str]] = {
    2: [
        "ALTER TABLE runs ADD COLUMN client_time REAL",       # request start → on the wire
        "ALTER TABLE runs ADD COLUMN headers_time REAL",      # on the wire → response headers
        "ALTER TABLE runs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE runs ADD COLUMN token_source TEXT",      # server / model / tiktoken
        "ALTER TABLE runs ADD COLUMN conversation_id INTEGER",  # the number of the conversation's first run
        "ALTER TABLE runs ADD COLUMN turn INTEGER",           # 1, 2, … within the conversation
        "CREATE INDEX runs_conversation ON runs (conversation_id, turn)",
    ],
}

#: A run's row from its send until ``start`` fills it in: numbered, and nothing else yet.
_RESERVE_SQL = "INSERT INTO runs (created, updated, state, endpoint, model, api, stream, params, prompt) VALUES (?, ?, 'connecting', '', '', '', 1, '{}', '')"

#: The columns a save rewrites, in order (see _changing_values).
_CHANGING = (
    "updated", "state", "output", "reasoning", "ttft", "ttfr", "e2e", "elapsed", "tpot", "decode_tps",
    "chunks", "reasoning_chunks", "tiktoken_tokens", "reasoning_tiktoken_tokens", "encoding", "model_tokens",
    "server_prompt_tokens", "server_completion_tokens", "reasoning_tokens", "usage_difference",
    "gap_p50", "gap_p95", "gap_max", "finish_reason", "error", "error_kind", "arrivals", "chunk_sizes",
    "client_time", "headers_time", "retries", "token_source", "model", "params",
)
_SAVE_SQL = f"UPDATE runs SET {', '.join(f'{name} = ?' for name in _CHANGING)} WHERE id = ? AND final = 0"
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
    client_time: float | None = None
    headers_time: float | None = None
    retries: int = 0
    token_source: str | None = None
    conversation_id: int | None = None
    turn: int | None = None

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

    def tokens_from(self, source: str | None) -> int | None:
        """As ``RunMetrics.tokens_from``: the answer's tokens as ``source`` counts them."""
        if source == "server":
            return answer_tokens(self.server_completion_tokens, self.reasoning_tokens)
        return {"model": self.model_tokens, "tiktoken": self.tiktoken_tokens}.get(source or "")

    @property
    def output_tokens(self) -> int | None:
        """As ``RunMetrics.output_tokens``: the count from ``token_source``."""
        return self.tokens_from(self.token_source)

    @property
    def interrupted(self) -> bool:
        """Never finished: the process stopped mid-run (or another session is still running it)."""
        return not self.final and self.state in ("connecting", "waiting", "streaming")

    @property
    def outcome(self) -> str:
        """As ``Run.outcome``; "interrupted" for a run whose process stopped before it ended."""
        if self.interrupted:
            return "interrupted"
        from .metrics import CUT_REASONS

        if self.state == "done":
            if self.finish_reason in CUT_REASONS:
                return f"cut ({CUT_REASONS[self.finish_reason]})"
            return "done" if self.finish_reason in (None, "stop", "completed", "end_turn") else f"done ({self.finish_reason})"
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
    """SQLite history. Safe from several threads (a lock serializes). Every method does I/O:
    call them from a thread, never the event loop (HistoryWriter and the screens' workers do)."""

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
        self._next_id = self._db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM runs").fetchone()[0]

    @classmethod
    def in_memory(cls) -> HistoryStore:
        return cls(":memory:")

    @property
    def persistent(self) -> bool:
        return self.path is not None

    @staticmethod
    def _open(path: Path | None) -> sqlite3.Connection:
        if path is not None:
            private_file(path)
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
                    # Another process may have created or migrated it meanwhile: look again inside the lock.
                    version = db.execute("PRAGMA user_version").fetchone()[0]
                    if version == 0:
                        for statement in _SCHEMA.split(";\n"):
                            db.execute(statement)
                        version = 1
                    for step in range(version + 1, SCHEMA_VERSION + 1):
                        for statement in _MIGRATIONS[step]:
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

    # -- writing (HistoryWriter's thread) ---------------------------------------------------------
    def reserve_id(self) -> int:
        """The next run's number, taken in the database (an empty row that ``start`` fills in;
        AUTOINCREMENT never gives a number twice). If the write fails, a number from memory."""
        now = time.time()
        with self._lock:
            try:
                number = self._db.execute(_RESERVE_SQL, (now, now)).lastrowid
            except sqlite3.Error as exc:
                self.problem = f"History could not reserve a run number: {exc}."
                number = self._next_id
            self._next_id = max(self._next_id, number + 1)
            return number

    def start(self, run: Run) -> bool:
        """Fill in the row reserved for the run's number (insert it, if the reservation failed).
        False if the write failed."""
        request = run.request
        row = {
            "created": run.created,
            "updated": time.time(),
            "state": run.metrics.state,
            "pair_id": run.pair_id,
            "endpoint": run.endpoint_label,
            "model": request.model,
            "api": request.api,
            "stream": int(request.stream),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "params": json.dumps(request.describe(), sort_keys=True),
            "prompt": request.prompt,
            "conversation_id": run.conversation_id,
            "turn": run.turn,
        }
        update = f"UPDATE runs SET {', '.join(f'{column} = ?' for column in row)} WHERE id = ?"
        insert = f"INSERT INTO runs (id, {', '.join(row)}) VALUES ({', '.join('?' * (len(row) + 1))})"
        try:
            with self._lock:
                if self._db.execute(update, (*row.values(), run.number)).rowcount == 0:
                    self._db.execute(insert, (run.number, *row.values()))
        except sqlite3.Error as exc:
            self.problem = f"History could not save run #{run.number}: {exc}."
            return False
        return True

    def save(self, number: int, snapshot: tuple) -> bool:
        """Rewrite a running run's changing columns from a :func:`snapshot`; never a final row."""
        return self._write(_SAVE_SQL, (*snapshot, number))

    def finish(self, number: int, snapshot: tuple) -> bool:
        """The last write of a run: its final columns, marked final."""
        return self._write(_FINISH_SQL, (*snapshot, number))

    def delete(self, number: int) -> bool:
        return self._write("DELETE FROM runs WHERE id = ?", (number,))

    def _write(self, sql: str, parameters: tuple) -> bool:
        try:
            with self._lock:
                return self._db.execute(sql, parameters).rowcount > 0
        except sqlite3.Error as exc:
            self.problem = f"History could not save a run: {exc}."
            return False

    # -- reading ---------------------------------------------------------------------------------
    def list_runs(
        self, model: str | None = None, limit: int = 500, *, with_chunks: bool = False, search: str | None = None
    ) -> list[RunRecord]:
        """Newest first. Without ``with_chunks`` the arrivals and chunk sizes are empty lists
        (cheaper for a list of long runs; ``get()`` one to have them). ``search`` matches the
        prompt or the answer, case-insensitively."""
        columns = _SELECT_COLUMNS if with_chunks else _LIGHT_SELECT_COLUMNS
        clauses, parameters = [], []
        if model is not None:
            clauses.append("model = ?")
            parameters.append(model)
        if search:
            clauses.append("(prompt LIKE ? ESCAPE '\\' OR output LIKE ? ESCAPE '\\')")
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            parameters += [pattern, pattern]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {columns} FROM runs {where} ORDER BY created DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*parameters, limit)).fetchall()
        return [_record(row) for row in rows]

    def get(self, number: int) -> RunRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_SELECT_COLUMNS} FROM runs WHERE id = ?", (number,)).fetchone()
        return _record(row) if row is not None else None

    def get_many(self, numbers: list[int]) -> list[RunRecord]:
        """Whole records of these runs in one query, in the order given."""
        if not numbers:
            return []
        marks = ", ".join("?" * len(numbers))
        with self._lock:
            rows = self._db.execute(f"SELECT {_SELECT_COLUMNS} FROM runs WHERE id IN ({marks})", numbers).fetchall()
        by_id = {record.id: record for record in map(_record, rows)}
        return [by_id[number] for number in numbers if number in by_id]

    def conversation(self, conversation_id: int) -> list[RunRecord]:
        """A conversation's runs in turn order."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_LIGHT_SELECT_COLUMNS} FROM runs WHERE conversation_id = ? ORDER BY turn, id", (conversation_id,)).fetchall()
        return [_record(row) for row in rows]

    def recent_prompts(self, limit: int = 200) -> list[str]:
        """Distinct prompts, oldest first, the newest last (for Ctrl+↑ recall)."""
        with self._lock:
            rows = self._db.execute("SELECT prompt FROM runs GROUP BY prompt ORDER BY MAX(created) DESC LIMIT ?", (limit,)).fetchall()
        return [row[0] for row in reversed(rows)]

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
    # A live count lags the text: saved, it would read as the run's (a run whose app died kept
    # 25 tokens for more text than that). Until it covers the text, the run is saved uncounted.
    counted = run.counted_whole()
    rated = counted or metrics.token_source != "tiktoken"
    return {
        "updated": time.time(),
        "state": metrics.state,
        "output": run.text,
        "reasoning": run.reasoning,
        "ttft": metrics.ttft,
        "ttfr": metrics.ttfr,
        "e2e": metrics.e2e,
        "elapsed": metrics.elapsed,
        "tpot": metrics.tpot() if rated else None,
        "decode_tps": metrics.decode_rate() if rated else None,
        "chunks": metrics.chunks,
        "reasoning_chunks": metrics.reasoning_chunks,
        "tiktoken_tokens": metrics.tiktoken_tokens if counted else None,
        "reasoning_tiktoken_tokens": metrics.reasoning_tiktoken_tokens if counted else None,
        "encoding": metrics.encoding.label if metrics.encoding is not None and counted else None,
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
        "client_time": metrics.client_time,
        "headers_time": metrics.headers_time,
        "retries": len(metrics.retries),
        "token_source": metrics.token_source,
        "model": run.request.model,
    }


def snapshot(run: Run) -> tuple:
    """The run's changing columns as they are now, ready to write. Take it where the run
    changes (the event loop): its text, arrivals and counts then agree with each other."""
    figures = _changing_figures(run)
    figures["arrivals"] = _pack(figures["arrivals"], "d")
    figures["chunk_sizes"] = _pack(figures["chunk_sizes"], _U32)
    figures["params"] = json.dumps(run.request.describe(), sort_keys=True)  # the model may be learnt late
    return tuple(figures[name] for name in _CHANGING)


def record_of(run: Run) -> RunRecord:
    """A run of this session as a record, without the database: for the tables and the timeline."""
    request = run.request
    figures = _changing_figures(run)
    figures["chunk_count"] = figures.pop("chunks")
    figures["arrivals"] = list(figures["arrivals"])
    figures["chunk_sizes"] = list(figures["chunk_sizes"])
    return RunRecord(
        id=run.number,
        created=run.created,
        final=not run.metrics.running,
        pair_id=run.pair_id,
        endpoint=run.endpoint_label,
        api=request.api,
        stream=request.stream,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        params=request.describe(),
        prompt=request.prompt,
        conversation_id=run.conversation_id,
        turn=run.turn,
        **figures,
    )
