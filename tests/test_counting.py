"""tiktoken's counts ride along with the stream (engine/counting.py), against a scripted server
through the real SDK: exact, never left behind by a stall, and never stalling the stream."""

from __future__ import annotations

import asyncio

from tests.support.scripted_server import Script, chunk, gate, reasoning
from tui.engine.clock import monotonic_clock
from tui.engine.events import Delta, Deltas, TokenCount
from tui.engine.request import RunRequest
from tui.engine.stream import InProcessStreamer
from tui.engine.target import Target
from tui.engine.tokens import load_encoding
from tui.engine.worker_client import WorkerStreamer


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


async def test_a_run_that_starts_before_the_encoding_is_built_is_counted_at_its_end(server):
    """In a fresh worker (nothing preloaded), the first run gets no live count: building the
    encoding would hold the interpreter for a quarter second mid-stream. It is counted once,
    exactly, after its last chunk."""
    encoding = load_encoding("o200k_base")
    text = ["one ", "two ", "three ", "four"]
    server.push(Script([chunk(piece) for piece in text]))
    worker = WorkerStreamer.spawn(encoding=None)
    try:
        events = []
        async for batch in worker.batches(RunRequest("x", "gpt-4o"), Target(server.base_url, "k"), monotonic_clock):
            events += batch
        counts = [event for event in events if isinstance(event, TokenCount)]
        texts = [t for event in events if isinstance(event, Deltas) for t in event.texts] + [e.text for e in events if isinstance(e, Delta)]
        assert "".join(texts) == "".join(text)
        assert len(counts) == 1 and counts[0].final
        assert counts[0].answer == len(encoding.encode_ordinary("".join(text)))
        assert events.index(counts[0]) > max(i for i, event in enumerate(events) if isinstance(event, (Delta, Deltas)))
    finally:
        worker.stop()


async def test_a_fresh_workers_first_run_counts_live_once_the_worker_is_warm(server):
    """The worker builds the encoding as soon as it is warm (it waited for a second of idle
    time first, and on a slow machine a person's first run began before that: it showed no
    Tokens or Tok/s until its end). A run sent once the worker says it is warm counts as its
    text arrives: a count comes while the server still holds the rest of the answer."""
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
