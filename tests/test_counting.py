"""tiktoken's counts ride along with the stream (engine/counting.py), against a scripted server
through the real SDK: exact, never left behind by a stall, and never stalling the stream."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from tests.support.processes import child_pids
from tests.support.scripted_server import Script, chunk, gate, reasoning
from tui.engine.clock import monotonic_clock
from tui.engine.counter import CounterProcess
from tui.engine.counting import counted
from tui.engine.events import Delta, Deltas, Failed, Finished, TokenCount
from tui.engine.request import RunRequest
from tui.engine.stream import InProcessStreamer
from tui.engine.target import Target
from tui.engine.tokens import load_encoding
from tui.engine.worker_client import WorkerStreamer

needs_proc = pytest.mark.skipif(not os.path.isfile("/proc/self/stat"), reason="finds the token counter through /proc")


async def test_live_counts_catch_up_during_a_stall_and_the_last_is_exact(server):
    """With the encoding built, a count follows the text while it streams: when the stream
    stalls after a chunk, a count covering that chunk still arrives; the final one is exact."""
    encoding = load_encoding("o200k_base")
    server.push(Script([reasoning("Let me think. "), chunk("Hello there, "), gate("later"), chunk("and the rest of it.")]))
    streamer = InProcessStreamer()
    counts: list[TokenCount] = []
    seen_first = asyncio.Event()

    async def consume() -> None:
        async for batch in streamer.batches(RunRequest("x", "gpt-4o"), Target(server.base_url, "k"), monotonic_clock):
            for event in batch:
                if isinstance(event, TokenCount):
                    counts.append(event)
                    if event.answer_chars == len("Hello there, "):
                        seen_first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen_first.wait(), 10)  # the stream is held at the gate meanwhile
    assert counts[-1].answer == len(encoding.encode_ordinary("Hello there, ")) and not counts[-1].final
    server.release("later")
    await asyncio.wait_for(task, 10)
    final = counts[-1]
    assert final.final and final.encoding == "o200k_base" and final.exact
    assert final.answer == len(encoding.encode_ordinary("Hello there, and the rest of it."))
    assert final.reasoning == len(encoding.encode_ordinary("Let me think. "))
    await streamer.close()


async def test_the_final_count_comes_when_the_stream_ends_not_after_the_pause_between_counts():
    """Live counts come at most every COUNT_EVERY (50 ms): a stream that ended during that
    pause had its final count, and so its run's end, wait the pause out (40–50 ms every run).
    With a pause of an hour here, the final count must still come at once."""
    encoding = load_encoding("o200k_base")
    first_counted = asyncio.Event()

    async def stream():
        yield [Delta("Hello ", 0.0)]
        await first_counted.wait()  # the counter is in its pause now
        yield [Delta("world", 0.1), Finished("stop", 0.1)]

    async def consume() -> list[TokenCount]:
        counts = []
        async for batch in counted(stream(), "gpt-4o", None, count_every=3600):
            for event in batch:
                if isinstance(event, TokenCount):
                    counts.append(event)
                    first_counted.set()
        return counts

    counts = await asyncio.wait_for(consume(), 10)
    assert counts[-1].final and counts[-1].answer == len(encoding.encode_ordinary("Hello world"))


def token_counter_of(worker: WorkerStreamer, timeout: float = 15) -> int:
    """The pid of the worker's token counter (its one child), once it has started one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if children := child_pids(worker.pid):
            return children[0]
        time.sleep(0.01)
    raise AssertionError("the worker started no token counter")


@needs_proc
async def test_a_run_sent_while_the_encoding_builds_is_not_held_back_and_its_count_catches_up(server):
    """A run sent while the encoding it counts with is being built streams at once: it used
    to wait for the build (up to 0.6 s, the first send after launch). Here the token counter
    (started a second after warm-up) is stopped, so neither the build (if it is still going)
    nor any count can finish until the test lets it, and every chunk still arrives; once the
    counter goes on, the count is exact."""
    text = ["one ", "two ", "three ", "four"]
    server.push(Script([chunk(piece) for piece in text]))
    target = Target(server.base_url, "k")
    worker = WorkerStreamer.spawn(target, encoding="o200k_base")
    counter = None
    try:
        assert await worker.wait_ready()
        counter = token_counter_of(worker)
        os.kill(counter, signal.SIGSTOP)
        events: list = []
        all_text = asyncio.Event()

        async def run() -> None:
            async for batch in worker.batches(RunRequest("x", "gpt-4o"), target, monotonic_clock):
                events.extend(batch)
                if "".join(texts_of(events)) == "".join(text):
                    all_text.set()

        task = asyncio.create_task(run())
        await asyncio.wait_for(all_text.wait(), 15)
        assert not any(isinstance(event, TokenCount) for event in events)
        os.kill(counter, signal.SIGCONT)
        await asyncio.wait_for(task, 30)
        counts = [event for event in events if isinstance(event, TokenCount)]
        assert counts and counts[-1].final
        assert counts[-1].answer == len(load_encoding("o200k_base").encode_ordinary("".join(text)))
    finally:
        if counter is not None:
            os.kill(counter, signal.SIGCONT)
        worker.stop()


def texts_of(events: list) -> list[str]:
    return [t for event in events if isinstance(event, Deltas) for t in event.texts] + [e.text for e in events if isinstance(e, Delta)]


async def test_a_fresh_workers_first_run_counts_live_once_the_worker_is_warm(server):
    """A run sent the moment the worker says it is warm (before its counter has started)
    counts as its text arrives: its first text starts the counter and the build, and a count
    comes while the server still holds the rest of the answer. (Once, a first run sent before
    a deferred build showed no Tokens or Tok/s until its end.)"""
    server.push(Script([chunk("The first words of the answer, "), gate("rest"), chunk("and the rest.")]))
    target = Target(server.base_url, "k")
    worker = WorkerStreamer.spawn(target, encoding="o200k_base")
    try:
        assert await worker.wait_ready()

        async def first_count() -> TokenCount:
            async for batch in worker.batches(RunRequest("x", "gpt-4o"), target, monotonic_clock):
                for event in batch:
                    if isinstance(event, TokenCount):
                        return event
            raise AssertionError("the run ended without a count")

        count = await asyncio.wait_for(first_count(), 20)
        assert not count.final and count.answer > 0
    finally:
        server.release("rest")
        worker.stop()


async def stream_of(*batches: list):  # noqa: ANN201 - an async iterator of batches
    for batch in batches:
        yield batch


async def test_a_run_whose_counter_never_answers_still_ends_and_says_why(log):
    """The stream is over and the token counter does not answer (here it is stopped): the run
    still ends, with every event and without a final count, and the log says why. The next
    request goes to a new counter."""
    counter = CounterProcess()
    try:
        await counter.request("load", "o200k_base")
        pid = counter._process.pid
        os.kill(pid, signal.SIGSTOP)
        events = []
        stream = stream_of([Delta("one two ", 1.0, "answer")], [Finished("stop", 2.0)])
        async for batch in counted(stream, "gpt-4o", None, counter, final_within=0.5):
            events.extend(batch)
        assert [type(event) for event in events if not isinstance(event, TokenCount)] == [Delta, Finished]
        assert not any(isinstance(event, TokenCount) and event.final for event in events)
        assert "did not end within 0.5 s" in log.read_text()
        count = await asyncio.wait_for(counter.request("count", "one two", "", "gpt-4o", None), 30)
        assert count.answer == 2 and counter._process.pid != pid
    finally:
        counter.stop()


@needs_proc
async def test_a_run_that_brought_no_text_is_counted_without_asking_the_counter(log):
    """A run that failed before any text (a dead server) has nothing to count, and no count
    (a 0 read as a measured answer). It asked the token counter, which builds its encoding
    first: the failure showed about a quarter of a second after the state said "failed"; here
    the counter is stopped, and the stream must end all the same, at once."""
    counter = CounterProcess()
    try:
        await counter.request("load", "o200k_base")
        os.kill(counter._process.pid, signal.SIGSTOP)
        events = []
        stream = stream_of([Failed("Cannot reach the server", 1.0, "connection")])
        async for batch in counted(stream, "gpt-4o", None, counter, final_within=0.5):
            events.extend(batch)
        assert [type(event) for event in events] == [Failed]
        assert not log.exists() or "did not end" not in log.read_text()
    finally:
        counter.stop()


async def test_counted_here_a_run_that_starts_before_the_encoding_is_built_is_counted_at_its_end(encodings_built_here):
    """Counted in this process (``streamtui compare``), a run that finds its encoding not built
    yet gets one count, exact, after its last chunk: building it mid-stream would stall the
    stamps of the chunks behind it."""
    stream = stream_of([Delta("one ", 1.0, "answer")], [Delta("two", 2.0, "answer")], [Finished("stop", 3.0)])
    events = [event async for batch in counted(stream, "gpt-4o", None) for event in batch]
    counts = [index for index, event in enumerate(events) if isinstance(event, TokenCount)]
    assert len(counts) == 1 and events[counts[0]].final and events[counts[0]].answer == 2
    assert counts[0] > max(index for index, event in enumerate(events) if isinstance(event, Delta))


async def test_warming_up_the_worker_sends_nothing_to_the_server(server):
    """The warm-up builds the client and rehearses a request in memory (the SDK's first request
    reads its parameter types): the server hears only the prompt the person sends."""
    server.push(Script([chunk("Only this.")]))
    target = Target(server.base_url, "k")
    worker = WorkerStreamer.spawn(target, encoding="o200k_base")
    try:
        assert await worker.wait_ready()
        assert server.requests == []
        events = [event async for batch in worker.batches(RunRequest("x", "gpt-4o"), target, monotonic_clock) for event in batch]
        assert "".join(texts_of(events)) == "Only this."
        assert len(server.requests) == 1
    finally:
        worker.stop()


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGHUP])
def test_a_counter_ended_while_it_builds_an_encoding_leaves_no_folder(tmp_path, signal_number):
    """tiktoken finds the bundled rank file through a temporary folder made for the build (see
    tokens.load_encoding). A counter ended meanwhile (a closed terminal hangs up the whole
    process group; the worker stops its counter as it ends) left the folder behind: 15 of them
    were in /tmp after a day of benchmarks. It ends only once the folder is gone."""
    import subprocess
    import sys

    from tui.engine.worker_protocol import write_frame

    environ = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=os.pathsep.join(filter(None, (os.getcwd(), os.environ.get("PYTHONPATH")))))
    counter = subprocess.Popen([sys.executable, "-P", "-m", "tui.engine.counter"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environ)
    try:
        write_frame(counter.stdin, ("load", "o200k_base"))
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("streamtui-tiktoken-*")) and time.monotonic() < deadline and counter.poll() is None:
            time.sleep(0.0005)
        assert list(tmp_path.glob("streamtui-tiktoken-*")), "the build's folder never appeared"
        counter.send_signal(signal_number)
        assert counter.wait(30) == -signal_number
    finally:
        counter.kill()
        counter.wait()
    assert list(tmp_path.iterdir()) == []


@needs_proc
async def test_a_run_cut_off_as_the_app_closes_keeps_no_count_that_is_behind_its_text(server, tmp_path):
    """Quit while a run streamed and its count lagged: the run was saved with its last live
    count, 2 tokens for 23 chunks (a try-out's History). A count that does not cover the text
    is no figure of the run: it is saved uncounted."""
    from tests.driving import make_app, send, shared_worker, wait_for
    from tui.engine.history import HistoryStore

    worker = shared_worker()
    await asyncio.wait_for(asyncio.to_thread(worker.ready.wait), 60)
    server.push(Script([chunk("one "), gate("more"), chunk("two three four five six "), gate("held"), chunk("never")]))
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store)
    stopped: list[int] = []
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            main = app.main_screen
            await send(pilot, "count me")
            await wait_for(pilot, lambda: main.current is not None and (count := main.current.metrics.token_count) is not None and count.answer_chars == 4, timeout=60)
            stopped = child_pids(worker.pid)  # its token counter: no count comes any more
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            server.release("more")
            run = main.current
            await wait_for(pilot, lambda: run.text == "one two three four five six ")
        record = store.get(run.number)
        assert record is not None and record.chunk_count == 2
        assert record.tiktoken_tokens is None, record.tiktoken_tokens
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        server.release("held")
