"""The engine's stream against a scripted server: real HTTP, the real openai SDK."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.scripted_server import (
    Script,
    chunk,
    drop,
    gate,
    raw,
    reasoning,
    stop,
    words,
)
from tui.engine.clock import ManualClock
from tui.engine.events import (
    Delta,
    Failed,
    Finished,
    RequestSent,
    ResponseHeaders,
    Started,
    Usage,
)
from tui.engine.request import RunRequest
from tui.engine.stream import make_client, rehearse, stream_events
from tui.engine.target import Target

TEXT = "Streaming shows the first words at once. Non-streaming waits for all of them."


async def collect(client, request):
    return [event async for event in stream_events(client, request)]


def texts(events, kind="answer"):
    return [e.text for e in events if isinstance(e, Delta) and e.kind == kind]


@pytest.mark.parametrize("api", ["chat", "completions", "responses"])
async def test_streaming_yields_every_chunk_in_order_then_finished(server, client, api):
    script = Script(words(TEXT), usage=(12, 17))
    server.push(script)
    events = await collect(client, RunRequest(TEXT, "m", api=api))
    assert isinstance(events[0], Started)
    assert texts(events) == [step.text for step in script.steps]
    assert isinstance(events[-1], Finished)
    assert events[-1].reason in ("stop", "completed")
    usage = [e for e in events if isinstance(e, Usage)]
    assert usage and usage[0].completion_tokens == 17 and usage[0].prompt_tokens == 12


@pytest.mark.parametrize("api", ["chat", "completions", "responses"])
async def test_non_streaming_yields_the_whole_text_at_once(server, client, api):
    server.push(Script(words(TEXT), usage=(5, 9)))
    events = await collect(client, RunRequest(TEXT, "m", api=api, stream=False))
    assert texts(events) == [TEXT]
    assert [type(e) for e in events] == [Started, RequestSent, ResponseHeaders, Delta, Usage, Finished]
    assert server.requests[-1]["stream"] is False


async def test_include_usage_is_asked_for_and_the_usage_chunk_counted(server, client):
    server.push(Script(words("a b c"), usage=(1, 3)))
    events = await collect(client, RunRequest("x", "m"))
    assert server.requests[-1]["stream_options"] == {"include_usage": True}
    assert [e.completion_tokens for e in events if isinstance(e, Usage)] == [3]


async def test_a_server_that_rejects_stream_options_is_asked_again_without(server, client):
    server.push(Script(words("still works"), reject_stream_options=True))
    events = await collect(client, RunRequest("x", "m"))
    assert "".join(texts(events)) == "still works"
    assert "stream_options" not in server.requests[-1]
    assert sum(isinstance(e, Started) for e in events) == 2
    assert isinstance(events[-1], Finished)


async def test_reasoning_is_kept_apart_from_the_answer(server, client):
    server.push(Script([reasoning("think "), reasoning("hard"), chunk("Answer")]))
    events = await collect(client, RunRequest("x", "m"))
    assert texts(events, "reasoning") == ["think ", "hard"]
    assert texts(events) == ["Answer"]


async def test_responses_reasoning_events(server, client):
    server.push(Script([reasoning("plan"), chunk("Done.")]))
    events = await collect(client, RunRequest("x", "m", api="responses"))
    assert texts(events, "reasoning") == ["plan"]
    assert texts(events) == ["Done."]


@pytest.mark.parametrize(
    ("status", "kind", "words_in_message"),
    [
        (401, "auth", ["401", "API key"]),
        (404, "not_found", ["404", "'m'"]),
        (429, "rate_limit", ["429"]),
        (500, "server", ["500"]),
        (503, "server", ["503"]),
    ],
)
async def test_status_errors_become_one_clear_failed_event(server, client, status, kind, words_in_message):
    server.push(Script(words("never sent"), status=status, error_message="scripted trouble"))
    events = await collect(client, RunRequest("x", "m"))
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.kind == kind
    assert "\n" not in failed.message
    for word in words_in_message:
        assert word in failed.message
    assert "scripted trouble" in failed.message


async def test_unreachable_server(refused_url):
    dead = make_client(Target(refused_url, "x"))
    events = await collect(dead, RunRequest("x", "m"))
    assert isinstance(events[-1], Failed) and events[-1].kind == "unreachable"
    assert f"Cannot reach {refused_url}" in events[-1].message


async def test_a_dropped_connection_keeps_what_arrived(server, client):
    server.push(Script([chunk("kept "), chunk("too"), drop()]))
    events = await collect(client, RunRequest("x", "m"))
    assert texts(events) == ["kept ", "too"]
    assert isinstance(events[-1], Failed) and events[-1].kind == "dropped"
    assert "after 2 chunks" in events[-1].message


async def test_a_malformed_chunk_keeps_what_arrived(server, client):
    server.push(Script([chunk("good "), raw(b"data: {not json\n\n"), chunk("never")]))
    events = await collect(client, RunRequest("x", "m"))
    assert texts(events) == ["good "]
    assert isinstance(events[-1], Failed) and events[-1].kind == "malformed"
    assert "{not json" in events[-1].message


async def test_an_error_object_inside_the_stream(server, client):
    payload = json.dumps({"error": {"message": "overloaded, try later", "type": "server_error"}}).encode()
    server.push(Script([chunk("part"), raw(b"data: " + payload + b"\n\n")]))
    events = await collect(client, RunRequest("x", "m"))
    assert texts(events) == ["part"]
    assert isinstance(events[-1], Failed) and "overloaded, try later" in events[-1].message


@pytest.mark.parametrize("api", ["chat", "completions", "responses"])
async def test_a_stream_that_ends_without_a_finish_is_truncated(server, client, api):
    server.push(Script([chunk("half "), chunk("an answer"), stop()]))
    events = await collect(client, RunRequest("x", "m", api=api))
    assert texts(events) == ["half ", "an answer"]
    assert isinstance(events[-1], Failed) and events[-1].kind == "truncated"


async def test_cancelling_closes_the_stream_and_the_server_serves_the_next(server, client):
    server.push(Script([chunk("first"), gate("never")]), Script(words("next one")))
    received: list[str] = []

    async def consume():
        async for event in stream_events(client, RunRequest("x", "m")):
            if isinstance(event, Delta):
                received.append(event.text)

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        while not received:
            await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert received == ["first"]
    events = await asyncio.wait_for(collect(client, RunRequest("x", "m")), 5)
    assert "".join(texts(events)) == "next one"


async def test_each_chunk_is_stamped_when_its_bytes_are_read(server, client):
    """The clock is read when a network read brings the chunk: a chunk held back until the
    clock says 1.25 s is stamped 1.25 s. The request is stamped when it goes on the wire."""
    server.push(Script([chunk("a"), gate("b"), chunk("b")]))
    clock = ManualClock(0.5)
    events: list = []

    async def consume():
        async for event in stream_events(client, RunRequest("x", "m"), clock):
            events.append(event)

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        while not any(isinstance(e, Delta) for e in events):
            await asyncio.sleep(0.002)
    clock.set(1.25)
    server.release("b")
    await asyncio.wait_for(task, 5)
    sent = next(e for e in events if isinstance(e, RequestSent))
    a, b = [e for e in events if isinstance(e, Delta)]
    assert (sent.at, a.at, b.at) == (0.5, 0.5, 1.25)


@pytest.mark.parametrize("api", ["chat", "completions", "responses"])
async def test_a_rehearsal_runs_the_sdks_request_path_in_memory(api):
    # Its address does not resolve: a rehearsal that reached for the network would fail.
    assert isinstance(await rehearse(api), Finished)
