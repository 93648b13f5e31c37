"""The scripted server, checked through the real openai SDK over loopback (nothing mocked)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import pytest_asyncio
from openai import AsyncOpenAI

from tests.support.scripted_server import (
    Script,
    ScriptedServer,
    chunk,
    drop,
    firehose,
    gate,
    paced,
    raw,
    reasoning,
    stop,
    words,
)

REPO = Path(__file__).resolve().parents[1]
CHAT = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest_asyncio.fixture
async def client(server: ScriptedServer) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
        yield sdk


async def chat_chunks(client: AsyncOpenAI, **options: Any) -> list[Any]:
    stream = await client.chat.completions.create(model="m", messages=CHAT, stream=True, **options)
    return [event async for event in stream]


async def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def contents(chunks: list[Any]) -> list[str]:
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


async def test_chat_stream_replays_steps_in_order(server: ScriptedServer, client: AsyncOpenAI) -> None:
    server.push(Script([reasoning("hmm "), *words("Hello big world")], usage=(5, 3)))
    chunks = await chat_chunks(client)
    first = chunks[0].choices[0].delta
    assert (first.role, first.content) == ("assistant", "")
    assert chunks[1].choices[0].delta.model_extra == {"reasoning_content": "hmm "}
    assert contents(chunks) == ["Hello ", "big ", "world"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)  # usage was not asked for


async def test_chat_stream_usage_chunk_only_when_asked(server: ScriptedServer, client: AsyncOpenAI) -> None:
    server.push(Script(words("a b"), usage=(7, 2), role_chunk=False))
    chunks = await chat_chunks(client, stream_options={"include_usage": True})
    assert contents(chunks) == ["a ", "b"]
    assert chunks[0].choices[0].delta.role is None
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    usage = usage_chunk.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (7, 2, 9)
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])


async def test_completions_stream_skips_reasoning(server: ScriptedServer, client: AsyncOpenAI) -> None:
    server.push(Script([reasoning("secret"), chunk("one "), chunk("two")], finish_reason="length", usage=(1, 2)))
    stream = await client.completions.create(
        model="m", prompt="p", stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert [c.choices[0].text for c in chunks if c.choices and c.choices[0].text] == ["one ", "two"]
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2


async def test_responses_stream_has_the_real_event_sequence(server: ScriptedServer, client: AsyncOpenAI) -> None:
    server.push(Script([reasoning("think"), chunk("Hi "), chunk("there")], usage=(4, 3)))
    stream = await client.responses.create(model="m", input="hi", stream=True)
    events = [e async for e in stream]
    reasoning_item = ["response.output_item.added", "response.content_part.added", "response.reasoning_text.delta",
                      "response.reasoning_text.done", "response.content_part.done", "response.output_item.done"]
    message_item = ["response.output_item.added", "response.content_part.added", "response.output_text.delta",
                    "response.output_text.delta", "response.output_text.done", "response.content_part.done",
                    "response.output_item.done"]
    assert [e.type for e in events] == [
        "response.created", "response.in_progress", *reasoning_item, *message_item, "response.completed"
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.delta for e in events if e.type == "response.output_text.delta"] == ["Hi ", "there"]
    assert [e.output_index for e in events if e.type.endswith(".delta")] == [0, 1, 1]
    completed = events[-1].response
    assert completed.output_text == "Hi there"
    assert completed.usage is not None
    assert (completed.usage.input_tokens, completed.usage.output_tokens) == (4, 3)
    assert completed.usage.output_tokens_details.reasoning_tokens == 1


async def test_responses_length_finish_is_incomplete(server: ScriptedServer, client: AsyncOpenAI) -> None:
    server.push(Script([chunk("cut")], finish_reason="length"))
    stream = await client.responses.create(model="m", input="hi", stream=True)
    last = [e async for e in stream][-1]
    assert last.type == "response.incomplete"
    assert last.response.incomplete_details.reason == "max_output_tokens"


async def test_non_streaming_bodies_hold_the_whole_text(server: ScriptedServer, client: AsyncOpenAI) -> None:
    script = Script([reasoning("why "), *words("all of it", delay=0.01)], usage=(3, 4))
    server.push(script, script, script)
    chat = await client.chat.completions.create(model="m", messages=CHAT)
    assert chat.choices[0].message.content == "all of it"
    assert chat.choices[0].message.model_extra["reasoning_content"] == "why "
    assert chat.usage is not None and chat.usage.total_tokens == 7
    completion = await client.completions.create(model="m", prompt="p")
    assert completion.choices[0].text == "all of it"
    response = await client.responses.create(model="m", input="hi")
    assert response.output_text == "all of it"
    assert response.usage is not None and response.usage.output_tokens == 4


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, openai.AuthenticationError), (404, openai.NotFoundError), (429, openai.RateLimitError),
     (500, openai.InternalServerError)],
)
async def test_status_scripts_raise_the_sdk_error(
    server: ScriptedServer, client: AsyncOpenAI, status: int, error: type[openai.APIStatusError]
) -> None:
    server.push(Script(status=status, error_message="nope"))
    with pytest.raises(error) as raised:
        await client.chat.completions.create(model="m", messages=CHAT, stream=True)
    assert raised.value.status_code == status
    assert raised.value.body["message"] == "nope"


async def test_api_key_is_checked_when_configured() -> None:
    with ScriptedServer(api_key="right") as server:
        async with AsyncOpenAI(base_url=server.base_url, api_key="wrong", max_retries=0) as wrong:
            with pytest.raises(openai.AuthenticationError):
                await wrong.models.list()
        async with AsyncOpenAI(base_url=server.base_url, api_key="right", max_retries=0) as right:
            models = await right.models.list()
    assert [m.id for m in models.data] == ["scripted-model"]


async def test_unknown_path_is_404(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("anything")


async def test_strict_server_rejects_stream_options_until_retried_without(
    server: ScriptedServer, client: AsyncOpenAI
) -> None:
    server.push(Script(words("kept"), reject_stream_options=True))
    with pytest.raises(openai.BadRequestError, match="stream_options"):
        await chat_chunks(client, stream_options={"include_usage": True})
    assert contents(await chat_chunks(client)) == ["kept"]
    assert [("stream_options" in body, body["_path"]) for body in server.requests] == [
        (True, "/v1/chat/completions"), (False, "/v1/chat/completions")
    ]


async def test_drop_raises_connection_error_after_what_was_sent(
    server: ScriptedServer, client: AsyncOpenAI
) -> None:
    server.push(Script([chunk("a"), chunk("b"), drop(), chunk("never")]))
    received: list[str] = []
    stream = await client.chat.completions.create(model="m", messages=CHAT, stream=True)
    with pytest.raises(openai.APIConnectionError):
        async for event in stream:
            received += contents([event])
    assert received == ["a", "b"]


async def test_drop_in_non_streaming_mode_gives_no_response(server: ScriptedServer, client: AsyncOpenAI) -> None:
    server.push(Script([chunk("a"), drop()]))
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="m", messages=CHAT)


async def test_stop_truncates_silently_and_keeps_the_connection(
    server: ScriptedServer, client: AsyncOpenAI
) -> None:
    server.push(Script([chunk("half"), stop(), chunk("never")]), Script(words("next")))
    chunks = await chat_chunks(client)
    assert contents(chunks) == ["half"]
    assert all(c.choices[0].finish_reason is None for c in chunks)
    assert contents(await chat_chunks(client)) == ["next"]


async def test_malformed_data_raises_json_decode_error(server: ScriptedServer, client: AsyncOpenAI) -> None:
    server.push(Script([chunk("ok"), raw(b"data: {not json\n\n"), chunk("never")]))
    received: list[str] = []
    stream = await client.chat.completions.create(model="m", messages=CHAT, stream=True)
    with pytest.raises(json.JSONDecodeError):
        async for event in stream:
            received += contents([event])
    assert received == ["ok"]


async def test_gate_holds_the_stream_until_released(server: ScriptedServer, client: AsyncOpenAI) -> None:
    server.push(Script([chunk("before"), gate("g"), chunk("after")]))
    received: list[str] = []
    arrived = asyncio.Event()

    async def consume() -> None:
        stream = await client.chat.completions.create(model="m", messages=CHAT, stream=True)
        async for event in stream:
            received.extend(contents([event]))
            arrived.set()

    consumer = asyncio.create_task(consume())
    while received != ["before"]:
        await asyncio.wait_for(arrived.wait(), timeout=5)
        arrived.clear()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(consumer), timeout=0.2)
    assert received == ["before"]
    server.release("g")
    await asyncio.wait_for(consumer, timeout=5)
    assert received == ["before", "after"]


async def test_server_stop_closes_gated_connections() -> None:
    server = ScriptedServer(Script([gate("forever")])).start()
    async with AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
        pending = asyncio.create_task(sdk.chat.completions.create(model="m", messages=CHAT))
        await wait_until(lambda: server.requests)  # the request is now held at the gate
        await asyncio.to_thread(server.stop)
        with pytest.raises(openai.APIConnectionError):
            await asyncio.wait_for(pending, timeout=5)
    server.stop()  # idempotent


async def test_delays_and_headers_delay_are_honoured(server: ScriptedServer, client: AsyncOpenAI) -> None:
    server.push(Script([chunk("a", delay=0.1)], headers_delay=0.1), paced("w " * 10, tokens_per_s=100))
    started = time.perf_counter()
    stream = await client.chat.completions.create(model="m", messages=CHAT, stream=True)
    assert time.perf_counter() - started >= 0.1
    assert contents([c async for c in stream]) == ["a"]
    assert time.perf_counter() - started >= 0.2
    started = time.perf_counter()
    assert len(contents(await chat_chunks(client))) == 10
    assert 0.1 <= time.perf_counter() - started < 1.0


async def test_firehose_delivers_every_chunk(server: ScriptedServer, client: AsyncOpenAI) -> None:
    server.push(firehose(20_000))
    texts = contents(await chat_chunks(client))
    assert len(texts) == 20_000
    assert texts[0] == "tok0 " and texts[-1] == "tok19999 "


async def test_requests_are_recorded_and_default_serves_when_queue_is_empty(
    server: ScriptedServer, client: AsyncOpenAI
) -> None:
    server.push(Script(words("queued")))
    assert contents(await chat_chunks(client)) == ["queued"]
    assert "".join(contents(await chat_chunks(client))) == server.default.text()
    assert [body["_path"] for body in server.requests] == ["/v1/chat/completions"] * 2
    assert server.requests[0]["messages"] == CHAT


def test_script_helpers_split_text() -> None:
    assert [c.text for c in words("Hi  there\nyou")] == ["Hi  ", "there\n", "you"]
    assert [c.text for c in Script.from_text("abcdefg", chunk_size_chars=3).steps] == ["abc", "def", "g"]
    assert Script.from_text("a b", delay=0.5).steps[1].delay == 0.5


async def test_cli_serves_until_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.scripted_server", "--port", "0", "--text", "from the cli",
        cwd=REPO, stdout=asyncio.subprocess.PIPE,
    )
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=10)).decode()
        assert line.startswith("READY http://127.0.0.1:")
        async with AsyncOpenAI(base_url=line.split()[1], api_key="x", max_retries=0) as sdk:
            stream = await sdk.chat.completions.create(model="m", messages=CHAT, stream=True)
            assert "".join(contents([c async for c in stream])) == "from the cli"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
    finally:
        if process.returncode is None:
            process.kill()
