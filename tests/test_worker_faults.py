"""Faults of the streaming worker itself and of counting (engine/worker.py, worker_client.py,
counting.py): whatever goes wrong there, every run ends, says why in one line, and the next
request works.

Real parts throughout: the scripted server on loopback, a real worker process, real signals
on its real pid. Where a test needs the worker's pipes (a torn frame, bytes on its fd 1, a
writer that keeps its frames open past its death), it opens them through ``/proc/PID/fd``,
as any process of the same user could.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import stat
import struct

import pytest

from tests.driving import counted_up, make_app, send, settle
from tests.support.scripted_server import Script, chunk, gate, words
from tui.engine.clock import ManualClock, monotonic_clock
from tui.engine.counting import counted
from tui.engine.events import Delta, Deltas, Failed, Finished, TokenCount
from tui.engine.history import HistoryStore
from tui.engine.request import RunRequest
from tui.engine.secrets import register_secret
from tui.engine.target import Target
from tui.engine.tokens import load_encoding
from tui.engine.worker_client import CountFailed, WorkerStreamer
from tui.engine.worker_protocol import JOIN_BELOW, write_frame

needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reaches the worker's pipes through /proc")

#: A lone surrogate (JSON "\ud800") inside an answer long enough for the counter to commit.
SURROGATE_TEXT = "lone \ud800 surrogate, then one two three four five six seven eight nine ten"
REPLACED_TEXT = SURROGATE_TEXT.replace("\ud800", "\ufffd")


# -- helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def workers():
    """Starts workers (each warm before it is handed over) and stops them all afterwards."""
    started: list[WorkerStreamer] = []

    async def start() -> WorkerStreamer:
        # A worker killed by a fatal signal leaves no core file behind.
        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
        try:
            worker = WorkerStreamer.spawn(encoding=None)
        finally:
            resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))
        started.append(worker)
        assert await worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


async def events_of(batches) -> list:
    return [event async for batch in batches for event in batch]


def run_of(worker: WorkerStreamer, server, clock=monotonic_clock) -> asyncio.Task:
    """A run through ``worker`` in a task of its own: its events, once it ends."""
    return asyncio.create_task(events_of(worker.batches(RunRequest("x", "gpt-4o"), Target(server.base_url, "k"), clock)))


def answer_of(events: list) -> str:
    texts = []
    for event in events:
        if isinstance(event, Deltas) and event.kind == "answer":
            texts += event.texts
        elif isinstance(event, Delta) and event.kind == "answer":
            texts.append(event.text)
    return "".join(texts)


async def ended(task: asyncio.Task, timeout: float = 15.0) -> list:
    """The run's events once it ends; a run that never ends fails the test."""
    return await asyncio.wait_for(task, timeout)


async def held_run(worker: WorkerStreamer, server) -> asyncio.Task:
    """A run whose first chunk has reached the app, and whose rest the server holds (at a
    gate) until the test ends; the task's result is the run's events."""
    server.push(Script([chunk("partial "), gate("held"), chunk("never sent")]))
    first_chunk = asyncio.Event()

    async def run() -> list:
        events = []
        async for batch in worker.batches(RunRequest("x", "gpt-4o"), Target(server.base_url, "k"), monotonic_clock):
            events += batch
            if answer_of(events):
                first_chunk.set()
        return events

    task = asyncio.create_task(run())
    await asyncio.wait_for(first_chunk.wait(), 15)
    return task


@contextlib.asynccontextmanager
async def killed_mid_run(workers, server):  # noqa: ANN001
    """A worker SIGKILLed with a run in flight, while another writer holds its frames' pipe open
    (so the app cannot read its end yet): yields (worker, the run's task, the dead pid)."""
    worker = await workers()
    run = await held_run(worker, server)
    old = worker.pid
    with frames_held_open(worker):
        os.kill(old, signal.SIGKILL)
        await dead(old)
        yield worker, run, old


def finished(events: list) -> bool:
    """The run ended as the server finished it."""
    return any(isinstance(event, Finished) for event in events) and not any(isinstance(event, Failed) for event in events)


async def dead(pid: int) -> None:
    """Wait until the worker has died, leaving it for its parent to collect."""
    await asyncio.wait_for(asyncio.to_thread(os.waitid, os.P_PID, pid, os.WEXITED | os.WNOWAIT), 15)


def _link(path: str) -> str | None:
    """Where a descriptor of another process leads, or None if it closed meanwhile (the worker
    opens and closes sockets and pipes of its own as it goes)."""
    try:
        return os.readlink(path)
    except FileNotFoundError:
        return None


def frames_path(worker) -> str:  # noqa: ANN001
    """The worker's descriptor its frames to the app go out on: the one on the pipe the app
    reads (the worker's others are its token counter's)."""
    pid = worker.pid
    wanted = f"pipe:[{os.fstat(worker._process.stdout.fileno()).st_ino}]"
    fds = [fd for fd in os.listdir(f"/proc/{pid}/fd") if _link(f"/proc/{pid}/fd/{fd}") == wanted]
    assert len(fds) == 1, fds
    return f"/proc/{pid}/fd/{fds[0]}"


@contextlib.contextmanager
def frames_held_open(worker):  # noqa: ANN001
    """Another writer on the worker's frame pipe: the app reads no end of it until this closes,
    however the worker ended meanwhile."""
    holder = os.open(frames_path(worker), os.O_WRONLY | os.O_NONBLOCK)
    try:
        yield
    finally:
        os.close(holder)


# -- 1. a counting failure never wedges a run -----------------------------------------------------------


async def test_a_lone_surrogate_in_the_answer_is_replaced_and_the_run_counted_and_saved(server, tmp_path):
    """JSON ``"\\ud800"`` decodes to a lone surrogate, which neither UTF-8 (the counter, SQLite)
    nor a terminal takes: it becomes U+FFFD where it enters, the run ends done, its tokens
    are counted and it is saved."""
    encoding = load_encoding("o200k_base")
    server.push(Script([chunk("lone \ud800 surrogate, "), *words("then one two three four five six seven eight nine ten")]))
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store, retries=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "send a surrogate")
        await settle(pilot)
        run = app.session.runs[-1]
        assert run.metrics.state == "done", run.metrics.error
        assert run.text == REPLACED_TEXT and app.main_screen.output.text == REPLACED_TEXT
        await counted_up(pilot, run)
        count = run.metrics.token_count
        assert count.final and count.answer == len(encoding.encode_ordinary(REPLACED_TEXT))
        record = store.get(run.number)
        assert record.final and record.state == "done" and record.output == REPLACED_TEXT
        assert record.tiktoken_tokens == count.answer
    store.close()


async def test_counting_that_fails_is_logged_and_the_stream_still_ends(log):
    """Whatever counting raises (here the text no encoder takes, were it ever to get past the
    sanitizer), the stream still ends with all of its events, without a count, and the log
    says why."""
    load_encoding("o200k_base")

    async def batches():
        yield [Delta("\ud800 " + "word " * 20, 1.0, "answer")]
        yield [Finished("stop", 2.0)]

    events = await asyncio.wait_for(events_of(counted(batches(), "gpt-4o", None)), 15)
    assert [type(event) for event in events if not isinstance(event, TokenCount)] == [Delta, Finished]
    assert not any(isinstance(event, TokenCount) and event.final for event in events)
    logged = log.read_text()
    assert "Token counting" in logged and "UnicodeEncodeError" in logged


# -- 2. a death is told to the runs it was sent, whoever started the next worker --------------------------


@needs_proc
async def test_a_run_fails_when_its_worker_dies_even_after_another_request_started_a_new_one(server, workers):
    """The worker dies with a run in flight; a model listing starts a new worker before the
    app has read the old one's end. The run still fails, and says so in one line."""
    async with killed_mid_run(workers, server) as (worker, run, old):
        assert await worker.list_models(Target(server.base_url, "k")) == ["scripted-model"]
        assert worker.pid != old
    events = await ended(run)
    assert answer_of(events) == "partial "
    failure = events[-1]
    assert isinstance(failure, Failed) and failure.kind == "internal"
    assert "stopped unexpectedly" in failure.message and "SIGKILL" in failure.message and "\n" not in failure.message


# -- 3. a frame that cannot be read --------------------------------------------------------------------------


@needs_proc
async def test_a_frame_that_cannot_be_read_fails_the_waiting_run_and_the_next_request_works(server, workers, log):
    worker = await workers()
    run = await held_run(worker, server)
    old = worker.pid
    with open(frames_path(worker), "wb", buffering=0) as frames:
        frames.write(struct.pack("<I", 5) + b"junk!")
    events = await ended(run)
    failure = events[-1]
    assert isinstance(failure, Failed) and "could not be read" in failure.message and "\n" not in failure.message
    assert "UnpicklingError" in log.read_text()
    server.push(Script(words("a new worker answers")))
    events = await ended(run_of(worker, server))
    assert answer_of(events) == "a new worker answers" and finished(events)
    assert worker.pid != old


# -- 4. bytes on the worker's fd 1 -----------------------------------------------------------------------------


@needs_proc
async def test_bytes_written_to_the_workers_fd_1_never_reach_its_frames(server, workers):
    """A C library printing to fd 1 in the worker (here: the same open file, from outside)
    must not tear the frame stream."""
    worker = await workers()
    pid = worker.pid
    fd_1 = os.open(f"/proc/{pid}/fd/1", os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
    try:
        os.write(fd_1, b"printed by a C library straight to fd 1\n")
    finally:
        os.close(fd_1)
    server.push(Script(words("still framed")))
    events = await ended(run_of(worker, server))
    assert answer_of(events) == "still framed" and finished(events)
    assert worker.pid == pid


# -- 5. a command the worker fails on ends only that command ---------------------------------------------


async def test_a_target_the_worker_cannot_build_a_client_for_does_not_end_it(server, workers):
    """Warming a target the SDK rejects (a URL with a broken port) fails that target's runs,
    not the worker: a run to a good target is served by the same process."""
    worker = await workers()
    pid = worker.pid
    broken = Target("http://[::1/v1", "k")
    worker.warm(broken, "chat")
    events = await ended(asyncio.create_task(events_of(worker.batches(RunRequest("x", "gpt-4o"), broken, monotonic_clock))))
    assert isinstance(events[-1], Failed) and events[-1].kind == "internal", events
    server.push(Script(words("after a broken target")))
    events = await ended(run_of(worker, server))
    assert answer_of(events) == "after a broken target" and finished(events)
    assert worker.pid == pid


async def test_a_run_whose_clock_cannot_be_read_fails_and_the_worker_goes_on(server, workers):
    """A ManualClock whose shared file is gone: that run fails (it cannot be stamped), the
    worker serves the next."""
    worker = await workers()
    pid = worker.pid
    clock = ManualClock(5.0)
    os.unlink(clock.shared_path())
    events = await ended(run_of(worker, server, clock))
    assert isinstance(events[-1], Failed) and events[-1].kind == "internal", events
    server.push(Script(words("stamped again")))
    events = await ended(run_of(worker, server))
    assert answer_of(events) == "stamped again" and finished(events)
    assert worker.pid == pid


@needs_proc
async def test_malformed_commands_do_not_end_the_worker(server, workers):
    worker = await workers()
    pid = worker.pid
    with open(f"/proc/{pid}/fd/0", "wb", buffering=0) as commands:
        for command in [("stream", 99), ("models",), ("count", 98), 7, ("no-such-command", 1)]:
            write_frame(commands, command)
    server.push(Script(words("still serving")))
    events = await ended(run_of(worker, server))
    assert answer_of(events) == "still serving" and finished(events)
    assert worker.pid == pid


async def test_a_count_the_worker_cannot_make_fails_in_one_line_and_the_worker_goes_on(workers):
    """The worker counts a cut-off run's text for the app (``count``): one it cannot make is
    answered with its problem in one line, never left waiting, and the next count works."""
    worker = await workers()
    pid = worker.pid
    with pytest.raises(CountFailed) as failure:
        await asyncio.wait_for(worker.count_text("some text", "", "gpt-4o", "no_such_base"), 15)
    assert "no_such_base" in str(failure.value) and "\n" not in str(failure.value)
    count = await asyncio.wait_for(worker.count_text("partial answer, ", "", "gpt-4o"), 30)
    assert (count.answer, count.reasoning, count.encoding, count.answer_chars, count.final) == (4, 0, "o200k_base", 16, True)
    # A text whose frame goes out as its length, then its data (see JOIN_BELOW).
    long_text = "many words, " * (JOIN_BELOW // 10)
    count = await asyncio.wait_for(worker.count_text(long_text, "thought", "gpt-4o"), 60)
    assert (count.answer, count.reasoning, count.answer_chars) == (len(load_encoding("o200k_base").encode_ordinary(long_text)), 1, len(long_text))
    assert worker.pid == pid


# -- 6. a crash leaves a trace -----------------------------------------------------------------------------------


@needs_proc
async def test_a_crash_is_explained_by_what_the_worker_wrote_last(server, workers, log, monkeypatch):
    """The worker's stderr goes to a private file with no name; when it crashes (a segfault,
    reported by Python's fault handler), the run's one line says what it wrote last, the log
    keeps it, and the app no longer holds the file."""
    monkeypatch.setenv("PYTHONFAULTHANDLER", "1")
    worker = await workers()
    pid = worker.pid
    stderr_file = os.stat(f"/proc/{pid}/fd/2")
    assert os.readlink(f"/proc/{pid}/fd/2").endswith(" (deleted)") and stat.S_IMODE(stderr_file.st_mode) == 0o600
    run = await held_run(worker, server)
    os.kill(pid, signal.SIGSEGV)
    events = await ended(run)
    failure = events[-1]
    assert isinstance(failure, Failed) and "\n" not in failure.message
    assert "SIGSEGV" in failure.message and "Segmentation fault" in failure.message, failure.message
    assert "Fatal Python error: Segmentation fault" in log.read_text()
    assert not [fd for fd in os.listdir("/proc/self/fd") if _same_file(f"/proc/self/fd/{fd}", stderr_file)]


@needs_proc
async def test_what_the_worker_wrote_last_is_shown_and_logged_without_secrets(server, workers, log):
    key = "sk-worker-faults-7Qm2Xv9Lp4Rt8Zk3Wn"
    register_secret(key)
    worker = await workers()
    pid = worker.pid
    run = await held_run(worker, server)
    with open(f"/proc/{pid}/fd/2", "ab") as stderr:
        stderr.write(f'Traceback (most recent call last):\n  File "worker.py", line 1, in <module>\nRuntimeError: the server refused {key}\n'.encode())
    os.kill(pid, signal.SIGKILL)
    message = (await ended(run))[-1].message
    assert "RuntimeError: the server refused" in message and "SIGKILL" in message, message
    logged = log.read_text()
    assert "Traceback (most recent call last):" in logged and "RuntimeError: the server refused" in logged
    for shown in (message, logged):
        assert key not in shown and key[3:15] not in shown and key[-12:-4] not in shown


# -- 7. no new worker just to cancel ---------------------------------------------------------------------------------


@needs_proc
async def test_a_run_cancelled_after_its_worker_died_starts_no_new_worker(server, workers):
    async with killed_mid_run(workers, server) as (worker, run, old):
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
        assert worker.pid == old


# -- 8. the warm-up target is no secret ------------------------------------------------------------------------------


async def test_the_warm_up_target_registers_no_secret_in_the_worker(server, workers):
    """The worker warms up with a placeholder key before the real target is known: a
    placeholder is no secret, so text that happens to share a fragment with it (here a port
    typed as "warm-up") is shown as it is."""
    worker = await workers()
    events = await ended(asyncio.create_task(events_of(worker.batches(RunRequest("x", "gpt-4o"), Target("http://127.0.0.1:warm-up/v1", "k"), monotonic_clock))))
    failure = events[-1]
    assert isinstance(failure, Failed) and "Invalid port: 'warm-up'" in failure.message, failure.message


def test_a_frame_length_no_frame_can_have_is_refused_at_once():
    """Garbage where a length should be: refused, not waited on for gigabytes that never come."""
    import io

    from tui.engine.worker_protocol import CorruptFrame, read_frame, write_frame

    good = io.BytesIO()
    write_frame(good, ("end", 1))
    good.seek(0)
    assert read_frame(good) == ("end", 1)
    with pytest.raises(CorruptFrame):
        read_frame(io.BytesIO(b"\xff\xff\xff\xff" + b"x" * 10))


def _same_file(path: str, seen: os.stat_result) -> bool:
    try:
        now = os.stat(path)
    except OSError:  # the descriptor that listed the folder, closed since
        return False
    return (now.st_dev, now.st_ino) == (seen.st_dev, seen.st_ino)
