"""One request in, normalized events out: the same events for every API, streaming or not.

The request goes through the openai SDK (``AsyncOpenAI``, ``create(stream=...)``) with
``with_streaming_response``, which keeps the SDK's request building, auth and status errors
but hands over the raw body. The body is decoded here (``sse.py`` and ``json``) rather than
into the SDK's typed chunk objects, which cost about 100 µs each (see benchmarks/).

Stamps: ``Started`` just before the SDK is called; ``RequestSent`` when httpcore starts
writing the request to the socket and ``ResponseHeaders`` when the headers are read (both
from httpcore's ``trace`` extension, set by the client's transport); every event of the body
carries the time of the network read that brought it.

Retries follow the SDK's policy, made visible: only before the first byte of an answer (408,
409, 429, 5xx, a refused or reset connection), after ``Retry-After`` when the server gives one
of at most :data:`MAX_RETRY_AFTER` seconds, else 0.5 s doubling up to 8 s (no jitter, so the
panel says the truth). Each wait is a ``Retrying`` event and can be cancelled.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .clock import Clock, monotonic_clock
from .endpoint import PLACEHOLDER_KEY
from .errors import (
    Problem,
    chunks_phrase,
    describe_error_payload,
    describe_exception,
    server_detail,
    server_text,
)
from .events import (
    Delta,
    Failed,
    Finished,
    RequestSent,
    ResponseHeaders,
    Retrying,
    RunEvent,
    Started,
    TokenCount,
    Usage,
)
from .request import RunRequest
from .sanitize import one_line
from .secrets import register_credentials
from .sse import SSEDecoder, SSEEvent
from .target import Target

if TYPE_CHECKING:
    from openai import APIStatusError, AsyncOpenAI

    from .counter import CounterProcess

Batch = list[RunEvent]

#: The longest Retry-After honoured; a server asking for more is not retried.
MAX_RETRY_AFTER = 60.0
_RETRY_STATUSES = {408, 409, 429}
_INITIAL_DELAY = 0.5
_MAX_DELAY = 8.0

#: The trace hook of the request being sent in this task (see make_client).
_trace_hook: contextvars.ContextVar[Callable[[str, dict], Awaitable[None]] | None] = contextvars.ContextVar("streamtui_trace", default=None)


def make_client(target: Target) -> AsyncOpenAI:
    """An SDK client for ``target`` that stamps each request's wire times.

    The stamps come from httpcore's ``trace`` extension, which an httpx request hook sets on
    the request being sent (not a transport of our own: that would turn off the proxies the
    environment asks for). No hidden retries (``max_retries=0``): :func:`stream_batches`
    retries visibly.
    """
    import httpx2
    from openai import AsyncOpenAI, DefaultAsyncHttpxClient

    async def install_trace(request) -> None:  # noqa: ANN001 - an httpx2.Request
        hook = _trace_hook.get()
        if hook is not None:
            request.extensions["trace"] = hook

    timeout = httpx2.Timeout(target.read_timeout, connect=target.connect_timeout)
    http_client = DefaultAsyncHttpxClient(timeout=timeout, event_hooks={"request": [install_trace]})
    # A query in the base URL (a proxy's ?key=…) goes on every request: the SDK would put the
    # route after it (…/v1?key=Xchat/completions).
    parts = urlsplit(target.base_url)
    base_url = urlunsplit(parts._replace(query="", fragment=""))
    query = dict(parse_qsl(parts.query, keep_blank_values=True)) or None
    return AsyncOpenAI(base_url=base_url, api_key=target.api_key, max_retries=0, timeout=timeout, http_client=http_client, default_query=query)


async def rehearse(api: str) -> RunEvent:
    """One streamed request of ``api`` made in memory, its answer an empty stream: nothing goes
    on any wire. The SDK's first request reads its parameter types (``get_type_hints``) and
    starts its thread pool, 10–15 ms of a first send right after launch; rehearsed, the first
    send costs what the tenth does (benchmarks/run.py --only launch, "a send the moment it is
    warm"). Returns how the rehearsal ended: ``Finished``, or ``Failed`` saying why."""
    import httpx2
    from openai import AsyncOpenAI, DefaultAsyncHttpxClient

    def empty_stream(request) -> httpx2.Response:  # noqa: ANN001 - an httpx2.Request
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=b"data: [DONE]\n\n")

    http_client = DefaultAsyncHttpxClient(transport=httpx2.MockTransport(empty_stream))
    client = AsyncOpenAI(base_url="http://rehearsal.invalid/v1", api_key="rehearsal", max_retries=0, http_client=http_client)
    ended: RunEvent | None = None
    try:
        async for batch in stream_batches(client, RunRequest("rehearsal", "rehearsal", api=api)):
            ended = next((event for event in batch if isinstance(event, (Finished, Failed))), ended)
    finally:
        await client.close()
    if ended is None:
        raise RuntimeError(f"the rehearsal of a {api} request ended without Finished or Failed")
    return ended


class InProcessStreamer:
    """Streams in this process: one SDK client per target, reused so connections are kept.
    Its runs are counted by ``counter`` (the streaming worker's), or in a thread here."""

    def __init__(self, counter: CounterProcess | None = None) -> None:
        self._clients: dict[Target, AsyncOpenAI] = {}
        self.counter = counter

    def client(self, target: Target) -> AsyncOpenAI:
        client = self._clients.get(target)
        if client is None:
            register_credentials(None if target.api_key == PLACEHOLDER_KEY else target.api_key, target.base_url)
            client = self._clients[target] = make_client(target)
        return client

    def batches(self, request: RunRequest, target: Target, clock: Clock) -> AsyncIterator[Batch]:
        """The request's events, with tiktoken's counts of its text among them."""
        from .counting import counted

        events = stream_batches(self.client(target), request, clock, max_retries=target.max_retries)
        return counted(events, request.model, request.count_encoding, self.counter)

    async def count_text(self, answer: str, reasoning: str, model: str, override: str | None = None) -> TokenCount:
        """tiktoken's count of a whole text, in a thread of this process: the one that streams
        and counts the runs here (``streamtui compare``), with no worker to do it."""
        from .tokens import count_text

        return await asyncio.to_thread(count_text, answer, reasoning, model, override)

    async def count_each(self, encoding: str, texts: list[str]) -> list[int]:
        """Each text's own count, in a thread of this process (see count_text)."""
        from .tokens import count_each

        return await asyncio.to_thread(count_each, encoding, texts)

    async def list_models(self, target: Target) -> list[str]:
        """The model ids the server lists; raises RequestFailed with one clear line."""
        try:
            page = await self.client(target).models.list()
            return [server_text(str(model.id)) for model in page.data]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified, never raw
            raise RequestFailed(describe_exception(exc, base_url=target.base_url, model="?", api_key=target.api_key, chunks=0)) from exc

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()


def _refuses_usage_option(exc: APIStatusError) -> bool:
    """The 400/422 names the field streamtui adds for usage (any other is the request's own)."""
    said = f"{exc.message} {exc.body}".lower()
    return "stream_options" in said or "include_usage" in said


class RequestFailed(Exception):
    """A request failed for a reason already written for a person (``problem.message``)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


async def stream_events(client: AsyncOpenAI, request: RunRequest, clock: Clock = monotonic_clock, **options: Any) -> AsyncIterator[RunEvent]:
    """Events one by one: convenient where speed does not matter."""
    async for batch in stream_batches(client, request, clock, **options):
        for event in batch:
            yield event


async def stream_batches(client: AsyncOpenAI, request: RunRequest, clock: Clock = monotonic_clock, *, max_retries: int = 0) -> AsyncIterator[Batch]:
    """Run ``request`` and yield its events. Never raises for a failed run: it ends in ``Failed``.

    Cancelling the consumer closes the HTTP response at once (the ``finally`` below).
    """
    import openai

    attempt = request
    retries = 0
    while True:
        parser = _PARSERS[attempt.api](client.api_key)
        yield [Started(clock())]
        stamps = _WireStamps(clock)
        manager = _create(client, attempt)
        opening = _open(manager, stamps)
        written = asyncio.ensure_future(stamps.written.wait())
        try:
            # Say the request is on the wire as soon as it is, not only once the headers are back.
            await asyncio.wait([opening, written], return_when=asyncio.FIRST_COMPLETED)
            if stamps.sent is not None:
                yield [RequestSent(stamps.sent)]
            response = await opening
        except asyncio.CancelledError:
            opening.cancel()
            raise
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if attempt.stream and attempt.include_usage and attempt.api != "responses" and _refuses_usage_option(exc):
                # Some servers reject the unknown stream_options field: ask once more without it.
                attempt = attempt.without_usage_option()
                continue
            yield [_failure(exc, client, attempt, 0, clock())]
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes an event
            delay = _retry_delay(exc, retries) if retries < max_retries else None
            if delay is None:
                yield [_failure(exc, client, attempt, 0, clock())]
                return
            retries += 1
            reason = _retry_reason(exc)
            yield [Retrying(retries, max_retries, delay, reason, clock())]
            await asyncio.sleep(delay)
            continue
        finally:
            written.cancel()
            if not opening.done():  # the consumer stopped (or was cancelled) before the headers
                opening.cancel()
        try:
            headers = ResponseHeaders(stamps.headers or clock(), response.http_response.status_code)
            yield [headers] if stamps.sent is not None else [RequestSent(stamps.started), headers]
            if attempt.stream:
                decoder = SSEDecoder()
                async for data in response.http_response.aiter_bytes():
                    at = clock()  # when the bytes arrived, not when their decoding ended
                    batch = parser.on_events(decoder.feed(data), at)
                    if batch:
                        yield batch
                    if parser.ended:
                        break
                yield parser.close(clock())
            else:
                body = await response.http_response.aread()
                yield parser.on_body(body, clock())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failure mid-body: what arrived is kept
            yield [_failure(exc, client, attempt, parser.chunks, clock(), after_headers=True)]
        finally:
            await manager.__aexit__(None, None, None)
        return


class _WireStamps:
    """When the request went on the wire and when its headers came back, from httpcore's trace."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.started = clock()
        self.sent: float | None = None
        self.headers: float | None = None
        #: Set once the request's first byte is written: the run knows it is on the wire.
        self.written = asyncio.Event()

    async def hook(self, name: str, info: dict) -> None:
        if name.endswith("send_request_headers.started"):
            self.sent = self.clock()
            self.written.set()
        elif name.endswith("receive_response_headers.complete"):
            self.headers = self.clock()


def _open(manager, stamps: _WireStamps) -> asyncio.Task:  # noqa: ANN001
    """Open the response (the task ends at its headers), tracing only this request: the hook is
    set in the task's own context, so it never leaks into other requests of the same client."""
    context = contextvars.copy_context()
    context.run(_trace_hook.set, stamps.hook)
    return asyncio.create_task(manager.__aenter__(), context=context)


def _failure(exc: BaseException, client: AsyncOpenAI, request: RunRequest, chunks: int, at: float, *, after_headers: bool = False) -> Failed:
    problem = describe_exception(
        exc, base_url=str(client.base_url).rstrip("/"), model=request.model, api_key=client.api_key, chunks=chunks, after_headers=after_headers
    )
    return Failed(problem.message, at, problem.kind)


def _retry_delay(exc: BaseException, retries: int) -> float | None:
    """How long to wait before the next attempt, or None when ``exc`` is not worth a retry."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        headers = exc.response.headers
        should = headers.get("x-should-retry")
        if should == "false" or (should != "true" and exc.status_code not in _RETRY_STATUSES and exc.status_code < 500):
            return None
        after = retry_after_seconds(headers)
        if after is not None:
            return after if 0 <= after <= MAX_RETRY_AFTER else None
    elif not isinstance(exc, openai.APIConnectionError):
        return None  # timeouts, internal errors: never retried
    elif isinstance(exc, openai.APITimeoutError):
        return None
    return min(_INITIAL_DELAY * 2**retries, _MAX_DELAY)


def _retry_reason(exc: BaseException) -> str:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return str(exc.status_code)
    return "connection"


def retry_after_seconds(headers) -> float | None:  # headers: a case-insensitive mapping
    """The server's ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), or None."""
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value) / divisor
        except ValueError:
            when = email.utils.parsedate_tz(value)
            if when is None:
                continue
            delay = email.utils.mktime_tz(when) - time.time()
        return delay if math.isfinite(delay) else None
    return None


def _create(client: AsyncOpenAI, request: RunRequest):
    resource = {"chat": lambda: client.chat.completions, "completions": lambda: client.completions, "responses": lambda: client.responses}[request.api]()
    extra = {"extra_body": request.extra} if request.extra else {}
    return resource.with_streaming_response.create(**request.body(), **extra)


def _usage(usage: dict[str, Any], prompt_key: str, completion_key: str, details_key: str) -> Usage:
    details = usage.get(details_key)
    if not isinstance(details, dict):
        details = {}
    return Usage(_whole(usage.get(prompt_key)), _whole(usage.get(completion_key)), _whole(details.get("reasoning_tokens")))


#: The largest token count believed (JSON's exact integers; SQLite stores at most 2**63 - 1).
_MAX_COUNT = 2**53


def _whole(value: Any) -> int | None:
    """A token count as the server sent it, if it is one (a server's text is never trusted):
    a string, a float, a boolean, a negative or an absurd number is no count at all."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_COUNT else None


class _Parser:
    """Turns one API's decoded JSON into events. Subclasses know their API's shape."""

    def __init__(self, api_key: str | None) -> None:
        self.api_key = api_key
        self.chunks = 0
        self.finish_reason: str | None = None
        self.finished = False
        self.ended = False
        self.failure: Failed | None = None

    def on_events(self, events: list[SSEEvent], at: float) -> Batch:
        out: Batch = []
        for event in events:
            if event.data == b"[DONE]":
                self.finished = True
                self.ended = True
                break
            try:
                payload = json.loads(event.data)
                if not isinstance(payload, dict):
                    raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
                if "error" in payload and payload["error"]:
                    self._fail(out, describe_error_payload(payload, self.api_key).message, at, "server")
                    break
                self.on_payload(event.event, payload, at, out)
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
                snippet = server_detail(event.data[:60].decode("utf-8", "replace"), self.api_key)
                self._fail(out, f"Malformed chunk from the server after {chunks_phrase(self.chunks)}: {snippet!r} ({server_detail(exc, self.api_key)})", at, "malformed")
                break
            if self.ended:
                break
        return out

    def _fail(self, out: Batch, message: str, at: float, kind: str) -> None:
        self.failure = Failed(message, at, kind)
        out.append(self.failure)
        self.ended = True

    def _delta(self, out: Batch, text: Any, at: float, kind: str = "answer") -> None:
        if text:
            if not isinstance(text, str):
                raise TypeError(f"text is {type(text).__name__}, not a string")
            # Made safe where it enters, so it is safe wherever it goes: drawn, stored, exported
            # (the same length: chunk sizes and offsets do not change).
            out.append(Delta(server_text(text), at, kind))  # type: ignore[arg-type]
            if kind == "answer":
                self.chunks += 1

    def _finish_reason(self, value: Any) -> None:
        if value:
            self.finish_reason = one_line(str(value), 40)

    def close(self, at: float) -> Batch:
        """The body ended: a finish, or a truncation if the server never said it was done."""
        if self.failure:
            return []
        if self.finished or self.finish_reason:
            return [Finished(self.finish_reason, at)]
        return [Failed(f"The stream ended before the server said it was finished, after {chunks_phrase(self.chunks)}.", at, "truncated")]

    def on_body(self, body: bytes, at: float) -> Batch:
        out: Batch = []
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object")
            if payload.get("error"):
                self._fail(out, describe_error_payload(payload, self.api_key).message, at, "server")
                return out
            self.on_complete_body(payload, at, out)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            return [Failed(f"Malformed response from the server: {server_detail(exc, self.api_key)}", at, "malformed")]
        out.append(Finished(self.finish_reason, at))
        return out

    def on_payload(self, event: str, payload: dict[str, Any], at: float, out: Batch) -> None:
        raise NotImplementedError

    def on_complete_body(self, payload: dict[str, Any], at: float, out: Batch) -> None:
        raise NotImplementedError


class _ChoicesParser(_Parser):
    """Chat and completions: the text is in ``choices[0]``, usage in a ``usage`` object."""

    def texts(self, choice: dict[str, Any], complete: bool) -> tuple[Any, Any]:
        """(reasoning, answer) of a choice: a streamed one, or a complete body's."""
        raise NotImplementedError

    def on_payload(self, event: str, payload: dict[str, Any], at: float, out: Batch) -> None:
        if payload.get("choices"):
            self._choice(payload["choices"][0], at, out, complete=False)
        self._usage(payload, out)

    def on_complete_body(self, payload: dict[str, Any], at: float, out: Batch) -> None:
        self._choice(payload["choices"][0], at, out, complete=True)
        self._usage(payload, out)

    def _choice(self, choice: dict[str, Any], at: float, out: Batch, complete: bool) -> None:
        reasoning, answer = self.texts(choice, complete)
        self._delta(out, reasoning, at, "reasoning")
        self._delta(out, answer, at)
        self._finish_reason(choice.get("finish_reason"))

    @staticmethod
    def _usage(payload: dict[str, Any], out: Batch) -> None:
        if isinstance(payload.get("usage"), dict):
            out.append(_usage(payload["usage"], "prompt_tokens", "completion_tokens", "completion_tokens_details"))


class _ChatParser(_ChoicesParser):
    def texts(self, choice: dict[str, Any], complete: bool) -> tuple[Any, Any]:
        part = choice.get("message" if complete else "delta") or {}
        return part.get("reasoning_content") or part.get("reasoning"), part.get("content")


class _CompletionsParser(_ChoicesParser):
    def texts(self, choice: dict[str, Any], complete: bool) -> tuple[Any, Any]:
        return None, choice.get("text")


class _ResponsesParser(_Parser):
    """The Responses API: typed events, usage only in the terminal event, no ``[DONE]``."""

    _REASONING = ("response.reasoning_text.delta", "response.reasoning_summary_text.delta")

    def on_payload(self, event: str, payload: dict[str, Any], at: float, out: Batch) -> None:
        kind = payload.get("type") or event
        if kind == "response.output_text.delta" or kind == "response.refusal.delta":
            self._delta(out, payload.get("delta"), at)
        elif kind in self._REASONING:
            self._delta(out, payload.get("delta"), at, "reasoning")
        elif kind in ("response.completed", "response.incomplete"):
            response = payload.get("response") or {}
            if isinstance(response.get("usage"), dict):
                out.append(_usage(response["usage"], "input_tokens", "output_tokens", "output_tokens_details"))
            details = response.get("incomplete_details") or {}
            self._finish_reason(details.get("reason") or response.get("status") or "completed")
            self.finished = True
            self.ended = True
        elif kind == "response.failed":
            error = (payload.get("response") or {}).get("error") or {}
            message = error.get("message", "no reason given") if isinstance(error, dict) else error
            self._fail(out, f"The server failed the response: {server_detail(message, self.api_key)}", at, "server")
        elif kind == "error":
            self._fail(out, f"The server sent an error: {server_detail(payload.get('message', 'no message'), self.api_key)}", at, "server")

    def on_complete_body(self, payload: dict[str, Any], at: float, out: Batch) -> None:
        for item in payload.get("output") or []:
            if item.get("type") == "reasoning":
                for part in (item.get("content") or []) + (item.get("summary") or []):
                    self._delta(out, part.get("text"), at, "reasoning")
            elif item.get("type") == "message":
                for part in item.get("content") or []:
                    self._delta(out, part.get("text") or part.get("refusal"), at)
        if isinstance(payload.get("usage"), dict):
            out.append(_usage(payload["usage"], "input_tokens", "output_tokens", "output_tokens_details"))
        details = payload.get("incomplete_details") or {}
        self._finish_reason(details.get("reason") or payload.get("status") or "completed")


_PARSERS: dict[str, type[_Parser]] = {"chat": _ChatParser, "completions": _CompletionsParser, "responses": _ResponsesParser}
