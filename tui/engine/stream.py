"""One request in, normalized events out: the same events for every API, streaming or not.

The request goes through the openai SDK (``AsyncOpenAI``, ``create(stream=...)``) with
``with_streaming_response``, which keeps the SDK's request building, auth and status errors
but hands over the raw body. The body is decoded here (``sse.py`` and ``json``) rather than
into the SDK's typed chunk objects, which cost about 100 µs each (see benchmarks/).

Events come in batches, one batch per network read, all stamped with the time of that read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .clock import Clock, monotonic_clock
from .errors import describe_error_payload, describe_exception
from .events import Delta, Failed, Finished, RunEvent, Started, Usage
from .request import RunRequest
from .sse import SSEDecoder, SSEEvent

if TYPE_CHECKING:
    from openai import AsyncOpenAI

Batch = list[RunEvent]


async def stream_events(client: AsyncOpenAI, request: RunRequest, clock: Clock = monotonic_clock) -> AsyncIterator[RunEvent]:
    """Events one by one: convenient where speed does not matter."""
    async for batch in stream_batches(client, request, clock):
        for event in batch:
            yield event


async def stream_batches(client: AsyncOpenAI, request: RunRequest, clock: Clock = monotonic_clock) -> AsyncIterator[Batch]:
    """Run ``request`` and yield its events. Never raises for a failed run: it ends in ``Failed``.

    Cancelling the consumer closes the HTTP response at once (the ``async with`` below).
    """
    import openai

    attempt = request
    while True:
        parser = _PARSERS[attempt.api](client.api_key)
        yield [Started(clock())]
        try:
            async with _create(client, attempt) as response:
                if attempt.stream:
                    decoder = SSEDecoder()
                    async for data in response.http_response.aiter_bytes():
                        batch = parser.on_events(decoder.feed(data), clock())
                        if batch:
                            yield batch
                        if parser.ended:
                            break
                    yield parser.close(clock())
                else:
                    body = await response.http_response.aread()
                    yield parser.on_body(body, clock())
            return
        except asyncio.CancelledError:
            raise
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if attempt.stream and attempt.include_usage and attempt.api != "responses":
                # Some servers reject the unknown stream_options field: ask once more without it.
                attempt = attempt.without_usage_option()
                continue
            yield [_failure(exc, client, attempt, parser.chunks, clock())]
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes a Failed event
            yield [_failure(exc, client, attempt, parser.chunks, clock())]
            return


def _failure(exc: BaseException, client: AsyncOpenAI, request: RunRequest, chunks: int, at: float) -> Failed:
    problem = describe_exception(
        exc, base_url=str(client.base_url).rstrip("/"), model=request.model, api_key=client.api_key, chunks=chunks
    )
    return Failed(problem.message, at, problem.kind)


def _create(client: AsyncOpenAI, request: RunRequest):
    resource = {"chat": lambda: client.chat.completions, "completions": lambda: client.completions, "responses": lambda: client.responses}[request.api]()
    extra = {"extra_body": request.extra} if request.extra else {}
    return resource.with_streaming_response.create(**request.body(), **extra)


def _usage(usage: dict[str, Any], prompt_key: str, completion_key: str, details_key: str) -> Usage:
    details = usage.get(details_key) or {}
    return Usage(usage.get(prompt_key), usage.get(completion_key), details.get("reasoning_tokens"))


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
                    raise ValueError(f"expected a JSON object, got {event.data[:60]!r}")
                if "error" in payload and payload["error"]:
                    self._fail(out, describe_error_payload(payload, self.api_key).message, at, "server")
                    break
                self.on_payload(event.event, payload, at, out)
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
                snippet = event.data[:60].decode("utf-8", "replace")
                self._fail(out, f"Malformed chunk from the server after {self.chunks} chunks: {snippet!r} ({exc})", at, "malformed")
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
            out.append(Delta(text, at, kind))  # type: ignore[arg-type]
            if kind == "answer":
                self.chunks += 1

    def close(self, at: float) -> Batch:
        """The body ended: a finish, or a truncation if the server never said it was done."""
        if self.failure:
            return []
        if self.finished or self.finish_reason:
            return [Finished(self.finish_reason, at)]
        return [Failed(f"The stream ended before the server said it was finished, after {self.chunks} chunks.", at, "truncated")]

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
            out = [Failed(f"Malformed response from the server: {exc}", at, "malformed")]
            return out
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
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]

    @staticmethod
    def _usage(payload: dict[str, Any], out: Batch) -> None:
        if payload.get("usage"):
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
            if response.get("usage"):
                out.append(_usage(response["usage"], "input_tokens", "output_tokens", "output_tokens_details"))
            details = response.get("incomplete_details") or {}
            self.finish_reason = details.get("reason") or response.get("status") or "completed"
            self.finished = True
            self.ended = True
        elif kind == "response.failed":
            error = (payload.get("response") or {}).get("error") or {}
            self._fail(out, f"The server failed the response: {error.get('message', 'no reason given')}", at, "server")
        elif kind == "error":
            self._fail(out, f"The server sent an error: {payload.get('message', 'no message')}", at, "server")

    def on_complete_body(self, payload: dict[str, Any], at: float, out: Batch) -> None:
        for item in payload.get("output") or []:
            if item.get("type") == "reasoning":
                for part in (item.get("content") or []) + (item.get("summary") or []):
                    self._delta(out, part.get("text"), at, "reasoning")
            elif item.get("type") == "message":
                for part in item.get("content") or []:
                    self._delta(out, part.get("text") or part.get("refusal"), at)
        if payload.get("usage"):
            out.append(_usage(payload["usage"], "input_tokens", "output_tokens", "output_tokens_details"))
        details = payload.get("incomplete_details") or {}
        self.finish_reason = details.get("reason") or payload.get("status") or "completed"


_PARSERS: dict[str, type[_Parser]] = {"chat": _ChatParser, "completions": _CompletionsParser, "responses": _ResponsesParser}
