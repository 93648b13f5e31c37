"""Run history (SQLite) and export: real runs from the scripted server, exact figures from a manual clock."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from tests.support.scripted_server import (
    Script,
    ScriptedServer,
    chunk,
    gate,
    reasoning,
    words,
)
from tui.engine.clock import ManualClock, monotonic_clock
from tui.engine.counting import counted
from tui.engine.events import Delta, Failed, Finished, Started, TokenCount, Usage
from tui.engine.export import export_file, to_jsonl_record, to_markdown, write_jsonl
from tui.engine.history import (
    SCHEMA_VERSION,
    HistoryStore,
    default_history_path,
    resolve_history_path,
    snapshot,
)
from tui.engine.metrics import RunMetrics
from tui.engine.request import RunRequest
from tui.engine.run import Run
from tui.engine.stream import stream_batches
from tui.engine.tokens import encoding_for_model, load_encoding

REPO = Path(__file__).resolve().parent.parent
SECRET = "sk-test-SECRET-1234567890abcdef"


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "history.sqlite3"


@pytest.fixture
def store(db_path):
    with HistoryStore(db_path) as opened:
        yield opened


def feed(run: Run, batch) -> None:
    """What the session does with a batch of events."""
    run.apply(list(batch))


def real_run(prompt: str, model: str, endpoint: str, *, pair_id: int | None = None, **request_options) -> Run:
    return Run.new(RunRequest(prompt, model, **request_options), clock=monotonic_clock, endpoint_label=endpoint, pair_id=pair_id)


def counted_stream(client, run: Run):
    """The run's events as the streamer gives them: with tiktoken's counts among them."""
    return counted(stream_batches(client, run.request, monotonic_clock), run.request.model, None)


def manual_run(events, *, model="m", prompt="Say hello.", created=1_700_000_000.0, stream=True, clock=None, **run_options) -> Run:
    """A run fed hand-built events (exact times), created at clock time 0."""
    clock = clock or ManualClock()
    run = Run(RunRequest(prompt, model, stream=stream, max_tokens=64, temperature=0.5), RunMetrics(clock, stream=stream), endpoint_label="host:1/v1", created=created, **run_options)
    feed(run, events)
    if events:
        clock.set(max(getattr(e, "at", 0.0) for e in events))
    return run


def start(store: HistoryStore, run: Run) -> int:
    """Number the run as the session does, and insert it."""
    run.number = store.reserve_id()
    assert store.start(run)
    return run.number


def save(store: HistoryStore, run: Run) -> bool:
    return store.save(run.number, snapshot(run))


def finish(store: HistoryStore, run: Run) -> bool:
    return store.finish(run.number, snapshot(run))


def db_bytes(path: Path) -> bytes:
    """The database and its WAL/shm side files, as bytes."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


# -- a real run, stage by stage ------------------------------------------------------------------


async def test_real_stream_round_trips_at_start_midway_and_finish(server, client, store):
    first, second = words("The first half arrives. ", delay=0.003), words("Then the rest of it.", delay=0.003)
    script = Script([reasoning("Let me think. "), *first, gate("half"), *second], usage=(11, 9))
    server.push(script)
    run = real_run("Tell me something.", "gpt-4o-mini", server.base_url.removeprefix("http://"), max_tokens=100, temperature=0.2, pair_id=7)

    run_id = start(store, run)
    started = store.get(run_id)
    assert started.state == "connecting" and not started.final and started.interrupted
    assert started.prompt == "Tell me something." and started.output == "" and started.arrivals == []
    assert started.params == {"api": "chat", "model": "gpt-4o-mini", "stream": True, "max_tokens": 100, "temperature": 0.2, "seed": None, "system_prompt": None, "turns": 0}
    assert (started.model, started.api, started.stream, started.max_tokens, started.temperature, started.pair_id) == ("gpt-4o-mini", "chat", True, 100, 0.2, 7)
    assert started.endpoint == server.base_url.removeprefix("http://")

    checked_midway = False
    async for batch in counted_stream(client, run):
        feed(run, batch)
        if not checked_midway and run.metrics.chunks >= len(first):
            assert save(store, run)
            midway = store.get(run_id)
            assert midway.state == "streaming" and not midway.final
            assert midway.output == script.text()[: len("The first half arrives. ")]
            assert midway.chunks() == [step.text for step in first]
            assert midway.reasoning == "Let me think. "
            assert midway.arrivals == list(run.metrics.arrivals) and len(midway.arrivals) == len(first)
            assert midway.ttft == run.metrics.ttft and midway.ttfr == run.metrics.ttfr
            assert midway.server_completion_tokens is None and midway.finish_reason is None
            checked_midway = True
            server.release("half")
    assert checked_midway
    assert finish(store, run)

    record = store.get(run_id)
    metrics = run.metrics
    assert record.final and record.state == "done" and record.outcome == "done" and record.finish_reason == "stop"
    assert record.output == script.text() and record.reasoning == script.text("reasoning")
    assert record.chunks() == [step.text for step in (*first, *second)]
    assert record.arrivals == list(metrics.arrivals) and record.chunk_sizes == list(metrics.chunk_sizes)
    assert record.gaps == metrics.gaps
    # Every figure exactly as the metrics computed it (REAL and float64 blobs are lossless).
    assert (record.ttft, record.ttfr, record.e2e, record.tpot, record.decode_tps) == (
        metrics.ttft, metrics.ttfr, metrics.e2e, metrics.tpot(), metrics.decode_rate())
    gaps = metrics.gap_stats()
    assert (record.gap_p50, record.gap_p95, record.gap_max) == (gaps.p50, gaps.p95, gaps.max)
    assert record.chunk_count == metrics.chunks == len(first) + len(second)
    assert (record.server_prompt_tokens, record.server_completion_tokens) == (11, 9)
    assert record.tiktoken_tokens == metrics.tiktoken_tokens and record.tiktoken_tokens > 0
    assert record.reasoning_tiktoken_tokens == metrics.reasoning_tiktoken_tokens > 0
    assert record.usage_difference == 9 - metrics.tiktoken_tokens
    assert record.encoding == "o200k_base" and record.output_tokens == 9
    assert record.ttft is not None and 0 < record.ttfr < record.ttft < record.e2e <= record.elapsed
    # Latencies count from the request on the wire; the client's time before it is its own figure.
    assert record.client_time is not None and record.client_time >= 0 and record.headers_time is not None
    assert record.token_source == "server"


# -- exact figures -----------------------------------------------------------------------------------


EXACT_EVENTS = [
    Started(10.0),
    Delta("", 10.01),  # role-only chunk: no TTFT
    Delta("Hmm.", 10.05, "reasoning"),
    Delta("Hel", 10.2),
    Delta("lo", 10.25),
    Delta(" world", 10.4),
    Usage(5, 3, 1),
    Finished("length", 10.45),
]


def test_exact_figures_round_trip(store):
    run = manual_run(EXACT_EVENTS, pair_id=3)
    run_id = start(store, run)
    finish(store, run)
    record = store.get(run_id)
    assert record.arrivals == [10.2 - 10.0, 10.25 - 10.0, 10.4 - 10.0]
    assert record.chunk_sizes == [3, 2, 6] and record.chunks() == ["Hel", "lo", " world"]
    assert record.ttft == 10.2 - 10.0 and record.ttfr == 10.05 - 10.0 and record.e2e == 10.4 - 10.0
    assert record.tpot == ((10.4 - 10.0) - (10.2 - 10.0)) / 1  # server said 3 tokens, 1 of them reasoning
    assert record.decode_tps == run.metrics.decode_rate()
    assert record.gap_max == run.metrics.gap_stats().max
    assert (record.server_prompt_tokens, record.server_completion_tokens, record.reasoning_tokens) == (5, 3, 1)
    assert record.tiktoken_tokens is None and record.usage_difference is None and record.output_tokens == 2
    assert record.outcome == "cut (max tokens)" and record.pair_id == 3
    assert record.elapsed == 10.45  # from the send (the run was created at clock 0)


def test_a_failed_run_keeps_its_partial_answer_and_error(store):
    run = manual_run([Started(0.0), Delta("partial ", 0.1), Delta("answer", 0.2), Failed("Connection dropped mid-stream after 2 chunks.", 0.3, "dropped")])
    run_id = start(store, run)
    finish(store, run)
    record = store.get(run_id)
    assert record.final and record.state == "failed" and record.outcome == "failed" and not record.interrupted
    assert record.output == "partial answer" and record.chunk_count == 2
    assert record.error_kind == "dropped" and "dropped" in record.error
    assert record.server_completion_tokens is None and record.finish_reason is None


def test_a_cancelled_run_is_stored_as_cancelled(store):
    clock = ManualClock()
    run = manual_run([Started(0.0), Delta("so far", 0.1)], clock=clock)
    run_id = start(store, run)
    clock.set(0.5)
    run.metrics.cancel()
    finish(store, run)
    record = store.get(run_id)
    assert record.state == "cancelled" and record.final and record.output == "so far" and record.elapsed == 0.5


def test_non_streaming_run_has_no_ttft(store):
    run = manual_run([Started(0.0), Delta("All at once.", 1.5), Usage(3, 4), Finished("stop", 1.5)], stream=False)
    run_id = start(store, run)
    finish(store, run)
    record = store.get(run_id)
    assert record.stream is False and record.ttft is None and record.e2e == 1.5
    assert "n/a (not streamed)" in to_markdown(record)
    assert to_jsonl_record(record)["ttft"] is None


# -- listing ---------------------------------------------------------------------------------------


def test_list_is_newest_first_filters_by_model_and_get_unknown_is_none(store):
    ids = {}
    for created, model in ((1000.0, "alpha"), (3000.0, "beta"), (2000.0, "alpha"), (4000.0, "alpha")):
        ids[created] = start(store, manual_run([Started(0.0)], model=model, created=created))
    assert [r.created for r in store.list_runs()] == [4000.0, 3000.0, 2000.0, 1000.0]
    assert [r.id for r in store.list_runs("alpha")] == [ids[4000.0], ids[2000.0], ids[1000.0]]
    assert [r.id for r in store.list_runs(limit=2)] == [ids[4000.0], ids[3000.0]]
    assert store.list_runs("gamma") == []
    assert store.models() == ["alpha", "beta"]
    assert store.get(999_999) is None
    assert store.delete(ids[3000.0]) and store.get(ids[3000.0]) is None
    assert store.models() == ["alpha"]
    ghost = manual_run([Started(0.0)])
    ghost.number = ids[3000.0]
    assert not save(store, ghost)  # a deleted run is not recreated


def test_light_listing_skips_chunk_arrays(store):
    run = manual_run(EXACT_EVENTS)
    run_id = start(store, run)
    finish(store, run)
    light = store.list_runs()[0]
    assert light.id == run_id and light.arrivals == [] and light.chunk_count == 3 and light.output == "Hello world"
    assert store.list_runs(with_chunks=True)[0].arrivals == store.get(run_id).arrivals != []


# -- the database --------------------------------------------------------------------------------------


def test_database_is_wal_with_a_schema_version(store, db_path):
    assert store.persistent and store.path == db_path
    other = sqlite3.connect(db_path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        columns = {row[1] for row in other.execute("PRAGMA table_info(runs)")}
    finally:
        other.close()
    assert {"ttft", "e2e", "tpot", "decode_tps", "chunks", "tiktoken_tokens", "encoding", "server_prompt_tokens",
            "server_completion_tokens", "reasoning_tokens", "usage_difference", "gap_p50", "gap_p95", "gap_max", "ttfr",
            "finish_reason", "error", "error_kind", "pair_id", "model", "api", "stream", "max_tokens", "temperature",
            "arrivals", "chunk_sizes", "prompt", "output", "reasoning", "endpoint", "state", "created", "client_time",
            "headers_time", "retries", "token_source", "conversation_id", "turn"} <= columns


def test_runs_survive_reopening_and_two_sessions_share_the_file(db_path):
    """Two streamtui processes on one file (browser tabs) never hand out the same number, and a
    number once given is never changed afterwards (pairs and conversations link by it)."""
    with HistoryStore(db_path) as first, HistoryStore(db_path) as second:
        one, two = manual_run(EXACT_EVENTS, created=1.0), manual_run(EXACT_EVENTS, created=2.0)
        one.number = first.reserve_id()
        two.number = second.reserve_id()
        given = (one.number, two.number)
        assert one.number != two.number
        assert first.start(one) and second.start(two)
        assert (one.number, two.number) == given
        finish(first, one)
        assert [r.id for r in first.list_runs()] == [two.number, one.number]
        assert second.reserve_id() > max(given) and first.reserve_id() > max(given)
    with HistoryStore(db_path) as reopened:
        assert reopened.get(one.number).output == "Hello world"
        assert reopened.reserve_id() > max(given)


def test_path_comes_from_argument_then_env_then_user_data_dir(tmp_path):
    import platformdirs

    env_file = tmp_path / "from-env.sqlite3"
    assert default_history_path() == Path(platformdirs.user_data_dir("streamtui")) / "history.sqlite3"
    assert resolve_history_path(environ={}) == default_history_path()
    assert resolve_history_path(environ={"STREAMTUI_HISTORY": str(env_file)}) == env_file
    assert resolve_history_path(tmp_path / "arg.sqlite3", environ={"STREAMTUI_HISTORY": str(env_file)}) == tmp_path / "arg.sqlite3"
    for off in ("off", "OFF", ":memory:"):
        assert resolve_history_path(environ={"STREAMTUI_HISTORY": off}) is None
    with HistoryStore(environ={"STREAMTUI_HISTORY": str(env_file)}) as store:
        start(store, manual_run(EXACT_EVENTS))
    assert env_file.exists()
    with HistoryStore(environ={"STREAMTUI_HISTORY": "off"}) as memory:
        assert not memory.persistent and memory.problem is None
        run = manual_run(EXACT_EVENTS)
        run_id = start(memory, run)
        finish(memory, run)
        assert memory.get(run_id).output == "Hello world"


def test_a_newer_schema_is_left_alone_and_history_falls_back_to_memory(db_path):
    newer = sqlite3.connect(db_path)
    newer.execute("PRAGMA user_version = 99")
    newer.close()
    with HistoryStore(db_path) as store:
        assert not store.persistent and "newer" in store.problem
        assert start(store, manual_run(EXACT_EVENTS))
    check = sqlite3.connect(db_path)
    try:
        assert check.execute("PRAGMA user_version").fetchone()[0] == 99
        assert check.execute("SELECT name FROM sqlite_master").fetchall() == []
    finally:
        check.close()


def test_an_unusable_path_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with HistoryStore(blocker / "history.sqlite3") as store:
        assert not store.persistent and "in memory" in store.problem
        run = manual_run(EXACT_EVENTS)
        start(store, run)
        finish(store, run)
        assert store.get(run.number).output == "Hello world"


def test_a_failed_write_is_reported_not_raised(store):
    run = manual_run(EXACT_EVENTS)
    start(store, run)
    store._db.execute("PRAGMA query_only = ON")  # every write now fails, as on a full disk
    assert save(store, run) is False and finish(store, run) is False
    run.number = store.reserve_id()
    assert store.start(run) is False and "could not save" in store.problem


def test_engine_history_does_not_import_textual():
    code = "import sys, tui.engine.history; assert 'textual' not in sys.modules, 'textual imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# -- secrets ----------------------------------------------------------------------------------------


async def test_no_api_key_in_the_database_or_exports(tmp_path):
    db_path = tmp_path / "keyed.sqlite3"
    with ScriptedServer(api_key=SECRET) as server, HistoryStore(db_path) as store:
        client = AsyncOpenAI(base_url=server.base_url, api_key=SECRET, max_retries=0, timeout=10)
        # One that succeeds, and one whose error message echoes the key, as some servers do.
        server.push(Script(words("Keys stay out of history."), usage=(4, 5)), Script(status=401, error_message=f"Incorrect API key provided: {SECRET}"))
        ids = []
        for prompt in ("first", "second"):
            run = real_run(prompt, "gpt-4o-mini", server.base_url.removeprefix("http://"))
            ids.append(start(store, run))
            async for batch in counted_stream(client, run):
                feed(run, batch)
                save(store, run)
            finish(store, run)
        ok, failed = store.get(ids[0]), store.get(ids[1])
        assert ok.output == "Keys stay out of history." and ok.state == "done"
        assert failed.state == "failed" and failed.error_kind == "auth"
        buffer = io.StringIO()
        write_jsonl(store.list_runs(with_chunks=True), buffer)
        markdown = "".join(to_markdown(r) for r in store.list_runs())
        stored = db_bytes(db_path)
    stored += db_bytes(db_path)  # after close (checkpointed)
    for text in (stored, buffer.getvalue().encode(), markdown.encode()):
        assert SECRET.encode() not in text
        assert b"1234567890abcdef" not in text and b"SECRET-123" not in text
    assert b"Keys stay out of history." in stored  # the search did look at the data


# -- export -------------------------------------------------------------------------------------------


def test_jsonl_export(store, tmp_path):
    exact = manual_run(EXACT_EVENTS, pair_id=5, created=1_700_000_000.25)
    start(store, exact)
    finish(store, exact)
    interrupted_run = manual_run([Started(0.0), Delta("x", 0.1)], model="other", created=1_700_000_100.0)
    start(store, interrupted_run)
    save(store, interrupted_run)
    path = export_file(store.get_many([run.id for run in store.list_runs()]), tmp_path, stem="runs")
    assert path.parent == tmp_path and path.suffix == ".jsonl" and (path.stat().st_mode & 0o777) == 0o600
    second = export_file(store.list_runs(), tmp_path, stem="runs")
    assert second != path and path.exists()  # never overwritten
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    objects = [json.loads(line) for line in lines]
    expected_fields = {"id", "created", "model", "api", "endpoint", "stream", "prompt", "output", "reasoning", "outcome",
                       "finish_reason", "error", "ttft", "e2e", "tpot", "itl", "chunk_times", "chunks", "output_tokens",
                       "tiktoken_tokens", "encoding", "estimated", "server_usage", "decode_tokens_per_s", "gap_p50",
                       "gap_p95", "pair_id", "params", "token_source", "client_time", "retries"}
    for obj in objects:
        assert expected_fields <= obj.keys()
        times = obj["chunk_times"]
        assert obj["itl"] == [b - a for a, b in zip(times, times[1:])]
        assert obj["chunks"] == len(times)
    interrupted, done = objects
    assert interrupted["outcome"] == "interrupted" and interrupted["model"] == "other" and interrupted["itl"] == []
    assert done["created"] == "2023-11-14T22:13:20.250Z"
    assert datetime.fromisoformat(done["created"]).utcoffset().total_seconds() == 0
    assert done["chunk_times"] == [10.2 - 10.0, 10.25 - 10.0, 10.4 - 10.0]
    assert done["ttft"] == 10.2 - 10.0 and done["e2e"] == 10.4 - 10.0 and done["output"] == "Hello world"
    assert done["server_usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "reasoning_tokens": 1}
    assert done["output_tokens"] == 2 and done["tiktoken_tokens"] is None
    assert done["params"]["max_tokens"] == 64 and done["params"]["temperature"] == 0.5 and done["pair_id"] == 5
    assert done["outcome"] == "cut (max tokens)" and done["finish_reason"] == "length"


def test_output_tokens_fall_back_to_tiktoken_without_server_usage(store):
    clock = ManualClock()
    run = Run(RunRequest("p", "gpt-4o-mini"), RunMetrics(clock), endpoint_label="h")
    choice = encoding_for_model("gpt-4o-mini")
    tokens = len(load_encoding(choice.name).encode_ordinary("Hello there"))
    feed(run, [Started(0.0), Delta("Hello", 0.1), Delta(" there", 0.2), Finished("stop", 0.2), TokenCount(tokens, 0, choice.name, choice.exact, 11, 0, True)])
    start(store, run)
    finish(store, run)
    exported = to_jsonl_record(store.get(run.number))
    assert exported["server_usage"]["completion_tokens"] is None
    assert exported["output_tokens"] == exported["tiktoken_tokens"] == 2 and exported["encoding"] == "o200k_base"
    assert exported["estimated"] is False and exported["token_source"] == "tiktoken"


def test_markdown_export(store):
    run = manual_run(EXACT_EVENTS, prompt="Say hello.\nPlease.")
    start(store, run)
    finish(store, run)
    record = store.get(run.number)
    markdown = to_markdown(record)
    assert "> Say hello.\n> Please." in markdown
    assert "\nHello world\n" in markdown
    assert "> Hmm." in markdown  # reasoning, quoted
    assert "| TTFT | 200.0 ms |" in markdown
    assert "| E2E latency | 400.0 ms |" in markdown
    assert "| Output tokens (server) | 3 |" in markdown


# -- a long run ------------------------------------------------------------------------------------


def test_a_20k_chunk_run_round_trips_exactly(store):
    """Saves of a long run keep every chunk's text and time (what save costs is in benchmarks/)."""
    clock = ManualClock()
    run = Run(RunRequest("p", "m"), RunMetrics(clock), endpoint_label="h")
    run.metrics.on_event(Started(0.0))
    start(store, run)
    for i in range(20_000):
        feed(run, [Delta(f"tok{i} ", 0.05 + i * 0.001)])
        if i % 5000 == 4999:
            clock.set(0.05 + i * 0.001)
            assert save(store, run)
    record = store.get(run.number)
    assert record.chunk_count == 20_000 and record.arrivals == list(run.metrics.arrivals)
    assert "".join(record.chunks()) == run.text and record.chunks()[12_345] == "tok12345 "


# -- a killed process ---------------------------------------------------------------------------------


def test_a_killed_process_leaves_its_partial_run(db_path):
    wanted = 8
    answer = [chunk(f"piece{i} ", delay=0.02) for i in range(12)]
    script = Script([reasoning("Thinking first. "), *answer[:wanted + 2], gate("never"), *answer[wanted + 2 :]])
    with ScriptedServer(script) as server:
        child = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "history_child.py"), server.base_url, str(db_path), str(wanted)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={k: v for k, v in os.environ.items() if k != "STREAMTUI_HISTORY"},
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in child.stdout], daemon=True).start()
        seen = []
        try:
            deadline = time.monotonic() + 30
            while not any(line.startswith("RECEIVED") for line in seen):
                try:
                    seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
                except queue.Empty:
                    child.kill()
                    pytest.fail(f"child never reported {wanted} chunks; stdout {seen}, stderr {child.stderr.read()}")
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout=10) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert "FINISHED" not in seen
    run_id = int(seen[0].split()[1])
    received = int(seen[-1].split()[1])
    assert received >= wanted

    check = sqlite3.connect(db_path)
    try:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        check.close()
    with HistoryStore(db_path) as store:
        record = store.get(run_id)
        assert [r.id for r in store.list_runs()] == [run_id]
    assert record.state == "streaming" and not record.final and record.interrupted and record.outcome == "interrupted"
    first_texts = [step.text for step in answer[:wanted]]
    assert record.output.startswith("".join(first_texts))
    assert record.chunks()[:wanted] == first_texts
    assert record.chunk_count == len(record.arrivals) >= received >= wanted
    assert all(b > a for a, b in zip(record.arrivals, record.arrivals[1:])) and record.arrivals[0] > 0
    assert record.reasoning == "Thinking first. " and record.ttft == record.arrivals[0]
    assert record.finish_reason is None and record.error is None


def test_live_saves_of_a_long_answer_come_less_often_but_at_least_every_few_seconds():
    from tui.engine.session import SAVE_AT_MOST, SAVE_EVERY, save_interval

    assert save_interval(0) == save_interval(100_000) == SAVE_EVERY
    assert SAVE_EVERY < save_interval(1_000_000) < save_interval(4_000_000) <= SAVE_AT_MOST
    assert save_interval(100_000_000) == SAVE_AT_MOST


def test_a_model_learnt_after_the_send_reaches_the_stored_params(store):
    """No --model: the server names it after the row was started; exports read params.model."""
    run = manual_run(EXACT_EVENTS, model="")
    number = start(store, run)
    run.with_model("learnt-model")
    finish(store, run)
    record = store.get(number)
    assert record.model == "learnt-model" and record.params["model"] == "learnt-model"


def test_a_live_count_behind_the_text_is_saved_as_no_count(store):
    """A live save stored tiktoken's last count, which lags the text: a run whose app was killed
    kept "25 tiktoken" and a tok/s for more text than 25 tokens (a try-out's History). Until the
    count covers the text, the run is saved uncounted; once it does, with the count."""
    clock = ManualClock()
    run = Run(RunRequest("p", "gpt-4o-mini"), RunMetrics(clock), endpoint_label="h")
    feed(run, [Started(0.0), Delta("Hello", 0.1), TokenCount(1, 0, "o200k_base", True, 5, 0), Delta(" there, and more", 0.2)])
    start(store, run)
    save(store, run)
    record = store.get(run.number)
    assert (record.tiktoken_tokens, record.decode_tps, record.encoding) == (None, None, None)
    feed(run, [TokenCount(5, 0, "o200k_base", True, 21, 0), Finished("stop", 0.3)])
    finish(store, run)
    record = store.get(run.number)
    assert record.tiktoken_tokens == 5 and record.decode_tps == pytest.approx(4 / 0.1) and record.encoding == "o200k_base"
