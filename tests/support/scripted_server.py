"""An OpenAI-compatible server on loopback that replays a script of chunks with chosen timings.

Tests and benchmarks need a real HTTP peer (the real openai SDK, real sockets) whose output
and timing are exactly known: this is it. Stdlib only. One asyncio loop in a background thread
serves every connection; runs of steps without a delay are rendered into one large write, so a
firehose of 200,000 chunks is limited by the client, not by this server.

    with ScriptedServer(Script([chunk("Hel"), gate("g"), chunk("lo", delay=0.05)])) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        ...
        server.release("g")

Run it in another process: ``python -m tests.support.scripted_server --firehose 20000`` prints
``READY http://127.0.0.1:PORT/v1`` once listening and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http import HTTPStatus
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, Literal, Union

__all__ = [
    "Chunk",
    "Drop",
    "Fin",
    "Gate",
    "Raw",
    "Script",
    "ScriptedServer",
    "Step",
    "Stop",
    "chunk",
    "comment",
    "drop",
    "fin",
    "firehose",
    "gate",
    "paced",
    "raw",
    "reasoning",
    "responses_error",
    "responses_failed",
    "stop",
    "stream_error",
    "words",
]

# --------------------------------------------------------------------------- script model

ChunkKind = Literal["answer", "reasoning"]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A text delta, sent ``delay`` seconds after the previous step.

    The JSON string literal is encoded once here, so a script replayed many times (or a
    firehose of 200k chunks) costs only byte joins per request.
    """

    text: str
    delay: float = 0.0
    kind: ChunkKind = "answer"
    json_text: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "json_text", encode_basestring_ascii(self.text).encode("ascii"))


@dataclass(frozen=True, slots=True)
class Gate:
    """Hold the response here until ``ScriptedServer.release(name)``; an opened gate stays open."""

    name: str


@dataclass(frozen=True, slots=True)
class Raw:
    """Bytes written verbatim into the stream body (ignored by non-streaming responses)."""

    data: bytes
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Drop:
    """Abort the connection here with a TCP RST, after what was already sent has arrived."""


@dataclass(frozen=True, slots=True)
class Stop:
    """End the body cleanly here, without a finish reason or ``[DONE]``: a silent truncation."""


@dataclass(frozen=True, slots=True)
class Fin:
    """Close the connection here with a TCP FIN (an orderly close) in the middle of the chunked
    body: no terminating chunk, so the client sees a body cut off, not a clean end."""


Step = Union[Chunk, Gate, Raw, Drop, Stop, Fin]


def chunk(text: str, delay: float = 0.0) -> Chunk:
    """An answer delta."""
    return Chunk(text, delay)


def reasoning(text: str, delay: float = 0.0) -> Chunk:
    """A reasoning delta: chat ``delta.reasoning_content``, responses ``response.reasoning_text.delta``,
    dropped by the legacy completions API."""
    return Chunk(text, delay, "reasoning")


def gate(name: str) -> Gate:
    return Gate(name)


def raw(data: bytes, delay: float = 0.0) -> Raw:
    return Raw(data, delay)


def drop() -> Drop:
    return Drop()


def stop() -> Stop:
    return Stop()


def fin() -> Fin:
    return Fin()


def comment(text: str = "keep-alive", delay: float = 0.0) -> Raw:
    """An SSE comment line (``: keep-alive``), which clients must ignore."""
    return Raw(b": " + text.encode() + b"\n\n", delay)


def stream_error(message: str, **fields: Any) -> Raw:
    """A chat/completions-style ``data: {"error": {...}}`` event inside a 200 stream."""
    return Raw(b"data: " + _dumps({"error": {"message": message, "type": "server_error", **fields}}) + b"\n\n")


def responses_error(message: str, code: str = "server_error") -> Raw:
    """The Responses API's ``error`` event."""
    payload = {"type": "error", "code": code, "message": message, "param": None, "sequence_number": 99}
    return Raw(b"event: error\ndata: " + _dumps(payload) + b"\n\n")


def responses_failed(message: str, code: str = "server_error") -> Raw:
    """The Responses API's ``response.failed`` event (the response's ``error`` says why)."""
    response = {"id": "resp_failed", "object": "response", "status": "failed", "error": {"code": code, "message": message}, "output": []}
    payload = {"type": "response.failed", "sequence_number": 99, "response": response}
    return Raw(b"event: response.failed\ndata: " + _dumps(payload) + b"\n\n")


_WORD = re.compile(r"\S+\s*|\s+")


def words(text: str, delay: float = 0.0) -> list[Chunk]:
    """Word-ish answer chunks with their trailing whitespace, each ``delay`` after the last."""
    return [Chunk(piece, delay) for piece in _WORD.findall(text)]


@dataclass
class Script:
    """What one request gets back: the steps, how the stream ends, and how the server behaves."""

    steps: list[Step] = field(default_factory=list)
    #: Sent in the final chunk after all steps, unless a drop()/stop() step ended the stream.
    finish_reason: str = "stop"
    #: (prompt_tokens, completion_tokens). Chat/completions streams send it only when the request
    #: asked ``stream_options.include_usage``; responses and non-streaming bodies always do.
    #: A dict is sent as the usage object exactly as it is (for servers that send nonsense).
    usage: tuple[int, int] | dict[str, Any] | None = None
    #: Anything but 200 answers with this status and an OpenAI-style error body, no stream.
    status: int = 200
    error_message: str = "scripted error"
    #: Answer 400 to requests carrying ``stream_options`` (a strict server). A rejected request
    #: does not consume the script: the retry without the option gets it.
    reject_stream_options: bool = False
    #: Chat streams open with a role-only chunk, as OpenAI's do.
    role_chunk: bool = True
    #: Seconds before the response headers (time to first byte of a slow server).
    headers_delay: float = 0.0
    model: str = "scripted-model"
    #: Write each SSE event on its own and flush it, as llama.cpp's and vLLM's servers do
    #: (one event per write, TCP_NODELAY), instead of batching runs of events into one write.
    write_each: bool = False
    #: Extra response headers of an error answer (``{"retry-after": "2"}``).
    error_headers: dict[str, str] = field(default_factory=dict)
    #: Hold the response (any status) before its headers until this gate is released: a
    #: server that accepted the request and says nothing, for as long as a test wants.
    headers_gate: str | None = None
    #: End every SSE line with CRLF instead of LF (both are valid SSE).
    crlf: bool = False

    @classmethod
    def from_text(
        cls, text: str, chunk_size_chars: int | None = None, delay: float = 0.0, **options: Any
    ) -> Script:
        """``text`` in word-ish chunks, or in pieces of ``chunk_size_chars`` characters."""
        if chunk_size_chars is None:
            steps: list[Step] = list(words(text, delay))
        else:
            steps = [
                Chunk(text[start : start + chunk_size_chars], delay)
                for start in range(0, len(text), chunk_size_chars)
            ]
        return cls(steps, **options)

    def text(self, kind: ChunkKind = "answer") -> str:
        """The whole text of one kind, as a client should reassemble it."""
        return "".join(step.text for step in self.steps if isinstance(step, Chunk) and step.kind == kind)


def firehose(n: int, **options: Any) -> Script:
    """``n`` small varied answer chunks with no delay: measures the client, not the server."""
    return Script([Chunk(f"tok{i} ") for i in range(n)], **options)


def paced(text: str, tokens_per_s: float, **options: Any) -> Script:
    """``text`` in word-ish chunks arriving steadily at ``tokens_per_s`` (rate kept over the run)."""
    return Script(words(text, 1.0 / tokens_per_s), **options)


# --------------------------------------------------------------------------- gates


class _Gates:
    """Named one-shot latches that threads open and asyncio handlers wait on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._opened: set[str] = set()
        self._all_open = False
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = (
            collections.defaultdict(list)
        )

    def release(self, name: str) -> None:
        with self._lock:
            self._opened.add(name)
            waiters = self._waiters.pop(name, [])
        for loop, waiter in waiters:
            loop.call_soon_threadsafe(_resolve, waiter)

    def waiting(self, name: str) -> int:
        with self._lock:
            return len(self._waiters.get(name, ()))

    def release_all(self) -> None:
        """Open every gate, present and future, so nothing hangs once the server stops."""
        with self._lock:
            self._all_open = True
            names = list(self._waiters)
        for name in names:
            self.release(name)

    async def wait(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._all_open or name in self._opened:
                return
            entry = (loop, loop.create_future())
            self._waiters[name].append(entry)
        try:
            await entry[1]
        finally:  # a cancelled wait (connection closed) must not be woken on a dead loop later
            with self._lock:
                if entry in self._waiters.get(name, []):
                    self._waiters[name].remove(entry)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


# --------------------------------------------------------------------------- rendering

_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_DONE = b"data: [DONE]\n\n"
_ids = itertools.count(1)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = _ERROR_KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _envelope(prefix: str, object_name: str, model: str) -> dict[str, Any]:
    """The fields every chat/completions chunk and body starts with."""
    return {"id": f"{prefix}-{next(_ids)}", "object": object_name, "created": int(time.time()), "model": model}


def _event_head(envelope: dict[str, Any]) -> bytes:
    """``data: {...envelope`` left open, so chunk bytes are this + choices + a fixed tail."""
    return b"data: " + _dumps(envelope)[:-1]


class _ChatRenderer:
    """chat.completion.chunk events; per chunk, the bytes are a fixed prefix + text literal + suffix."""

    def __init__(self, script: Script, include_usage: bool) -> None:
        self.script = script
        self.include_usage = include_usage
        self.envelope = _envelope("chatcmpl", "chat.completion.chunk", script.model)
        self.head = _event_head(self.envelope)
        self.tail = (b',"usage":null' if include_usage else b"") + b"}\n\n"
        delta_open = self.head + b',"choices":[{"index":0,"delta":{'
        self.prefix = {"answer": delta_open + b'"content":', "reasoning": delta_open + b'"reasoning_content":'}
        self.suffix = b'},"logprobs":null,"finish_reason":null}]' + self.tail
        self.role_chunk = delta_open + b'"role":"assistant","content":""' + self.suffix

    def opening(self) -> list[bytes]:
        return [self.role_chunk] if self.script.role_chunk else []

    def delta(self, step: Chunk, out: list[bytes]) -> None:
        out += (self.prefix[step.kind], step.json_text, self.suffix)

    def closing(self, out: list[bytes]) -> None:
        finish = _dumps(self.script.finish_reason)
        choices = b',"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":' + finish + b"}]"
        out.append(self.head + choices + self.tail)
        _append_usage_chunk(self, out)
        out.append(_DONE)

    def body(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.script.text()}
        if self.script.text("reasoning"):
            message["reasoning_content"] = self.script.text("reasoning")
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self.script.finish_reason}
        usage = _chat_usage(self.script.usage)
        return {**self.envelope, "object": "chat.completion", "choices": [choice], "usage": usage}


class _CompletionsRenderer:
    """Legacy text_completion events; reasoning steps are not part of this API and are skipped."""

    def __init__(self, script: Script, include_usage: bool) -> None:
        self.script = script
        self.include_usage = include_usage
        self.envelope = _envelope("cmpl", "text_completion", script.model)
        self.head = _event_head(self.envelope)
        self.tail = (b',"usage":null' if include_usage else b"") + b"}\n\n"
        self.prefix = self.head + b',"choices":[{"index":0,"text":'
        self.suffix = b',"logprobs":null,"finish_reason":null}]' + self.tail

    def opening(self) -> list[bytes]:
        return []

    def delta(self, step: Chunk, out: list[bytes]) -> None:
        if step.kind == "answer":
            out += (self.prefix, step.json_text, self.suffix)

    def closing(self, out: list[bytes]) -> None:
        finish = _dumps(self.script.finish_reason)
        out.append(self.prefix + b'"","logprobs":null,"finish_reason":' + finish + b"}]" + self.tail)
        _append_usage_chunk(self, out)
        out.append(_DONE)

    def body(self) -> dict[str, Any]:
        choice = {
            "index": 0, "text": self.script.text(), "logprobs": None, "finish_reason": self.script.finish_reason
        }
        return {**self.envelope, "choices": [choice], "usage": _chat_usage(self.script.usage)}


def _append_usage_chunk(renderer: _ChatRenderer | _CompletionsRenderer, out: list[bytes]) -> None:
    """The extra ``"choices": []`` chunk OpenAI sends last when include_usage was asked for."""
    if renderer.include_usage and renderer.script.usage is not None:
        usage = _dumps(_chat_usage(renderer.script.usage))
        out.append(renderer.head + b',"choices":[],"usage":' + usage + b"}\n\n")


def _chat_usage(usage: tuple[int, int] | dict[str, Any] | None) -> dict[str, Any] | None:
    if usage is None or isinstance(usage, dict):
        return usage
    prompt, completion = usage
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


#: finish_reason -> the Responses API's incomplete_details.reason (anything else completes).
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


class _ResponsesRenderer:
    """Responses API events. Each run of same-kind chunks becomes one output item (a reasoning
    item or an assistant message), opened and closed with the events the real API sends."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.response_id = f"resp_{next(_ids)}"
        self.created_at = int(time.time())
        self.sequence = itertools.count()
        self.output: list[dict[str, Any]] = []
        self.open_kind: ChunkKind | None = None
        self.open_texts: list[str] = []
        self.delta_prefix = b""

    def _event(self, kind: str, payload: dict[str, Any]) -> bytes:
        data = {"type": kind, "sequence_number": next(self.sequence), **payload}
        return b"event: " + kind.encode() + b"\ndata: " + _dumps(data) + b"\n\n"

    def _open_item(self, done: bool) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The open item, its content part and their position: empty when added, full when done."""
        text = "".join(self.open_texts) if done else ""
        status = "completed" if done else "in_progress"
        index = len(self.output)
        where = {"item_id": f"{'rs' if self.open_kind == 'reasoning' else 'msg'}_{index}_{self.response_id}",
                 "output_index": index, "content_index": 0}
        if self.open_kind == "reasoning":
            part: dict[str, Any] = {"type": "reasoning_text", "text": text}
            item = {"id": where["item_id"], "type": "reasoning", "summary": [], "status": status,
                    "content": [part] if done else []}
        else:
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            item = {"id": where["item_id"], "type": "message", "role": "assistant", "status": status,
                    "content": [part] if done else []}
        return item, part, where

    def _open(self, kind: ChunkKind, out: list[bytes]) -> None:
        self.open_kind, self.open_texts = kind, []
        item, part, where = self._open_item(done=False)
        output_index = where["output_index"]
        out.append(self._event("response.output_item.added", {"output_index": output_index, "item": item}))
        out.append(self._event("response.content_part.added", {**where, "part": part}))
        event = b"response.reasoning_text.delta" if kind == "reasoning" else b"response.output_text.delta"
        logprobs = b"" if kind == "reasoning" else b',"logprobs":[]'
        self.delta_prefix = (
            b"event: " + event + b'\ndata: {"type":"' + event + b'",' + _dumps(where)[1:-1] + logprobs
            + b',"sequence_number":'
        )

    def _close(self, out: list[bytes]) -> None:
        if self.open_kind is None:
            return
        item, part, where = self._open_item(done=True)
        if self.open_kind == "reasoning":
            out.append(self._event("response.reasoning_text.done", {**where, "text": part["text"]}))
        else:
            out.append(self._event("response.output_text.done", {**where, "text": part["text"], "logprobs": []}))
        out.append(self._event("response.content_part.done", {**where, "part": part}))
        out.append(self._event("response.output_item.done", {"output_index": where["output_index"], "item": item}))
        self.output.append(item)
        self.open_kind = None

    def _response(self, final: bool) -> dict[str, Any]:
        """The response object: empty while in progress; finished with output, status and usage."""
        incomplete = _INCOMPLETE_REASONS.get(self.script.finish_reason) if final else None
        status = "incomplete" if incomplete else "completed" if final else "in_progress"
        usage = None
        if final and isinstance(self.script.usage, dict):
            usage = self.script.usage
        elif final and self.script.usage is not None:
            prompt, completion = self.script.usage
            reasoning_chunks = sum(1 for s in self.script.steps if isinstance(s, Chunk) and s.kind == "reasoning")
            usage = {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": reasoning_chunks},
                "total_tokens": prompt + completion,
            }
        return {
            "id": self.response_id, "object": "response", "created_at": self.created_at, "status": status,
            "error": None, "incomplete_details": {"reason": incomplete} if incomplete else None,
            "instructions": None, "max_output_tokens": None, "model": self.script.model,
            "output": list(self.output) if final else [], "parallel_tool_calls": True,
            "previous_response_id": None, "reasoning": {"effort": None, "summary": None}, "store": True,
            "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
            "top_p": 1.0, "truncation": "disabled", "usage": usage, "user": None, "metadata": {},
        }

    def opening(self) -> list[bytes]:
        in_progress = self._response(final=False)
        return [
            self._event("response.created", {"response": in_progress}),
            self._event("response.in_progress", {"response": in_progress}),
        ]

    def delta(self, step: Chunk, out: list[bytes]) -> None:
        if step.kind != self.open_kind:
            self._close(out)
            self._open(step.kind, out)
        self.open_texts.append(step.text)
        out += (self.delta_prefix, b"%d" % next(self.sequence), b',"delta":', step.json_text, b"}\n\n")

    def closing(self, out: list[bytes]) -> None:
        if not self.output and self.open_kind is None:
            self._open("answer", out)  # even an empty answer has its message item
        self._close(out)
        final = self._response(final=True)
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        out.append(self._event(kind, {"response": final}))

    def body(self) -> dict[str, Any]:
        """The non-streaming response: the stream's final object (its events are discarded)."""
        discarded: list[bytes] = []
        for step in self.script.steps:
            if isinstance(step, Chunk):
                self.delta(step, discarded)
        self.closing(discarded)
        return self._response(final=True)


Renderer = Union[_ChatRenderer, _CompletionsRenderer, _ResponsesRenderer]
_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/responses")


def _renderer(path: str, script: Script, include_usage: bool) -> Renderer:
    if path == "/v1/chat/completions":
        return _ChatRenderer(script, include_usage)
    if path == "/v1/completions":
        return _CompletionsRenderer(script, include_usage)
    return _ResponsesRenderer(script)


# --------------------------------------------------------------------------- HTTP


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str]


class _CloseConnection(Exception):
    """Close the connection without (further) response: a malformed request or a drop()/stop() step."""


#: Steps rendered per write when nothing delays them (a few tens of KB per send()).
_BATCH_PARTS = 1024
#: Linux ioctl: bytes in a socket's send queue not yet transmitted (loopback delivers on transmit).
_SIOCOUTQNSD = 0x894B if sys.platform == "linux" else None


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One HTTP/1.1 request, or None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as error:
        raise _CloseConnection from error
    request_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    try:
        method, target, _version = request_line.split(" ", 2)
        length = int(headers.get("content-length", "0"))
    except ValueError as error:
        raise _CloseConnection from error
    body = await reader.readexactly(length) if length else b""
    path, _, query = target.partition("?")
    if "://" in path:  # absolute form, as a client sends it to a proxy: the path is what counts
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return _Request(method, path, headers, body, dict(urllib.parse.parse_qsl(query, keep_blank_values=True)))


class _Connection:
    """Writes one response at a time onto a client connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        #: SSE lines end with CRLF (the event bytes are rendered with LF; JSON never holds one raw).
        self.crlf = False

    async def send_json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        body = _dumps(value)
        extra = "".join(f"{name}: {text}\r\n" for name, text in (headers or {}).items())
        head = (
            f"HTTP/1.1 {status} {_reason(status)}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()

    def start_stream(self) -> None:
        self.writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )

    async def send_chunk(self, parts: list[bytes]) -> None:
        """Send the pending parts as one HTTP chunk and empty the list."""
        data = b"".join(parts)
        parts.clear()
        if self.crlf:
            data = data.replace(b"\n", b"\r\n")
        if data:
            self.writer.write(b"%x\r\n%b\r\n" % (len(data), data))
        await self.writer.drain()

    async def end_stream(self) -> None:
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()

    async def finish_tcp(self) -> None:
        """An orderly close (FIN) once what was written has been handed to the kernel."""
        await self.writer.drain()
        if self.writer.can_write_eof():
            self.writer.write_eof()
        self.writer.close()

    async def reset(self) -> None:
        """RST the connection, but only once everything already written has left the kernel
        (an RST discards unsent data), so a test knows exactly which chunks came before the drop.
        Gives up waiting after 2 s, for a client that stopped reading."""
        transport = self.writer.transport
        transport.set_write_buffer_limits(high=0)
        await self.writer.drain()
        sock = self.writer.get_extra_info("socket")
        if _SIOCOUTQNSD is not None:
            import fcntl  # Linux only, like the ioctl
        deadline = time.monotonic() + 2.0
        while _SIOCOUTQNSD is not None and time.monotonic() < deadline:
            unsent = struct.unpack("i", fcntl.ioctl(sock.fileno(), _SIOCOUTQNSD, b"\0\0\0\0"))[0]
            if not unsent:
                break
            await asyncio.sleep(0.001)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


# --------------------------------------------------------------------------- server


class ScriptedServer:
    """The server. Each POST to a completion route consumes the next pushed script, else the default."""

    def __init__(self, default: Script | None = None, *, api_key: str | None = None, port: int = 0) -> None:
        self.default = default if default is not None else Script(words("Hello from the scripted server."))
        self.api_key = api_key
        #: Every JSON body received on a completion route, with its path under ``"_path"`` (its query under ``"_query"``),
        #: when it arrived (``perf_counter``) under ``"_received"`` and, for a stream, when its
        #: headers went out under ``"_streaming"`` (so a test can subtract the server's own
        #: lateness from a figure).
        self.requests: list[dict[str, Any]] = []
        #: Called with each such body as it arrives (in the server's thread).
        self.on_request: Any = None
        #: The model ids ``GET /v1/models`` lists (None: the default script's model).
        self.models: list[str] | None = None
        self._requested_port = port
        self._port: int | None = None
        self._queue: collections.deque[Script] = collections.deque()
        self._lock = threading.Lock()
        self._gates = _Gates()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # -- lifecycle

    def start(self) -> ScriptedServer:
        """Listen on 127.0.0.1 (a free port unless one was given) and serve in a background thread."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="scripted-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error
        return self

    def stop(self) -> None:
        """Close the listener and every connection (gated ones too: their clients see a closed
        connection), then open all gates so nothing can wait on them any more."""
        if self._thread is not None and self._loop is not None and self._shutdown is not None:
            if self._loop.is_running():
                self._loop.call_soon_threadsafe(self._shutdown.set)
            self._thread.join(timeout=5)
        self._gates.release_all()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- test controls

    def push(self, *scripts: Script) -> None:
        """Queue scripts: each completion request takes the next one; the default when none is left."""
        with self._lock:
            self._queue.extend(scripts)

    def release(self, name: str) -> None:
        """Open gate ``name`` (now or before any request reaches it); callable from any thread."""
        self._gates.release(name)

    def waiting_at(self, name: str) -> int:
        """How many responses are held at gate ``name`` right now (nothing of theirs is sent)."""
        return self._gates.waiting(name)

    # -- serving

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # surfaced by start(), which is waiting on _ready
            self._startup_error = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._shutdown = asyncio.Event()
        handlers: set[asyncio.Task[None]] = set()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            if sock is not None:  # as uvicorn does: a small write leaves at once
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            try:
                await self._handle_connection(reader, writer)
            except asyncio.CancelledError:
                pass  # stop(): the connection is closed on the way out
            finally:
                handlers.discard(task)

        server = await asyncio.start_server(on_connect, "127.0.0.1", self._requested_port, limit=1 << 20)
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._shutdown.wait()
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
        await asyncio.sleep(0)  # let the closed transports release their sockets

    def _next_script(self, body: dict[str, Any]) -> Script:
        """The script for this request; a strict script rejecting stream_options stays queued."""
        with self._lock:
            script = self._queue[0] if self._queue else self.default
            if not (script.reject_stream_options and "stream_options" in body) and self._queue:
                self._queue.popleft()
        return script

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(writer)
        try:
            while (request := await _read_request(reader)) is not None:
                await self._respond(request, connection)
                if request.headers.get("connection", "").lower() == "close":
                    break
        except (_CloseConnection, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _respond(self, request: _Request, connection: _Connection) -> None:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            await connection.send_json(401, _error_body(401, "Incorrect API key provided."))
        elif request.method == "GET" and request.path == "/v1/models":
            names = self.models if self.models is not None else [self.default.model]
            listed = [{"id": name, "object": "model", "created": 0, "owned_by": "scripted"} for name in names]
            await connection.send_json(200, {"object": "list", "data": listed})
        elif request.method == "POST" and request.path in _ROUTES:
            await self._complete(request, connection)
        else:
            message = f"Unknown request URL: {request.method} {request.path}."
            await connection.send_json(404, _error_body(404, message))

    async def _complete(self, request: _Request, connection: _Connection) -> None:
        try:
            body = json.loads(request.body or b"{}")
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            await connection.send_json(400, _error_body(400, "The request body is not a JSON object."))
            return
        body["_path"] = request.path
        body["_query"] = dict(request.query)
        body["_received"] = time.perf_counter()
        self.requests.append(body)
        if self.on_request is not None:
            self.on_request(body)
        script = self._next_script(body)
        if script.headers_delay:
            await asyncio.sleep(script.headers_delay)
        if script.headers_gate is not None:
            await self._gates.wait(script.headers_gate)
        if script.reject_stream_options and "stream_options" in body:
            message = "Unrecognized request argument supplied: stream_options"
            await connection.send_json(400, _error_body(400, message))
        elif script.status != 200:
            await connection.send_json(script.status, _error_body(script.status, script.error_message), script.error_headers)
        else:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            renderer = _renderer(request.path, script, include_usage)
            if body.get("stream") is True:
                connection.crlf = script.crlf
                body["_streaming"] = time.perf_counter()
                connection.start_stream()
                await self._replay(script, connection, renderer)
            elif await self._replay(script, connection, None):
                await connection.send_json(200, renderer.body())

    async def _replay(self, script: Script, connection: _Connection, renderer: Renderer | None) -> bool:
        """Walk the steps on schedule; with a renderer (streaming), send each step's bytes, batched
        between delays. Returns False when a stop() step ended the stream early.

        Delays accumulate on a deadline, so a long paced run keeps its rate instead of drifting
        by the loop's wake-up latency; a gate restarts the schedule at its release.
        """
        loop = asyncio.get_running_loop()
        pending = renderer.opening() if renderer else []

        async def flush() -> None:
            if renderer:
                await connection.send_chunk(pending)

        await flush()
        due = loop.time()
        for step in script.steps:
            if isinstance(step, (Chunk, Raw)):
                if step.delay > 0:
                    await flush()
                    due += step.delay
                    if due > loop.time():
                        await asyncio.sleep(due - loop.time())
                if not renderer:
                    continue
                if isinstance(step, Chunk):
                    renderer.delta(step, pending)
                else:
                    pending.append(step.data)
                if len(pending) >= _BATCH_PARTS or script.write_each:
                    await flush()
            elif isinstance(step, Gate):
                await flush()
                await self._gates.wait(step.name)
                due = loop.time()
            elif isinstance(step, Drop):
                await flush()
                await connection.reset()
                raise _CloseConnection
            elif isinstance(step, Fin):
                await flush()
                await connection.finish_tcp()
                raise _CloseConnection
            elif renderer:  # stop(): a clean end of the chunked body, no finish
                await flush()
                await connection.end_stream()
                return False
            else:  # stop() without a stream: no response at all
                raise _CloseConnection
        if renderer:
            renderer.closing(pending)
            await flush()
            await connection.end_stream()
        return True


# --------------------------------------------------------------------------- CLI


def _script_from_args(args: argparse.Namespace) -> Script:
    options = {"write_each": args.write_each, "headers_delay": args.headers_delay}
    if args.firehose is not None:
        return firehose(args.firehose, **options)
    if args.one_chunk_of is not None:
        return Script([Chunk("x" * args.one_chunk_of)], **options)
    if args.paced_file is not None:
        return paced(Path(args.paced_file).read_text(encoding="utf-8"), args.rate, **options)
    return Script(words(args.text, args.delay), **options)


def main(argv: list[str] | None = None) -> None:
    """Serve one script to every request until SIGTERM/SIGINT (for benchmarks in another process)."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.scripted_server", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY'")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--firehose", type=int, metavar="N", help="N small chunks with no delay")
    source.add_argument("--paced-file", metavar="FILE", help="stream FILE's words at --rate")
    source.add_argument("--text", default="Hello from the scripted server.", help="stream this text")
    source.add_argument("--one-chunk-of", type=int, metavar="N", help="one chunk of N characters")
    parser.add_argument("--rate", type=float, default=50.0, help="tokens per second for --paced-file")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each word of --text")
    parser.add_argument("--write-each", action="store_true", help="one SSE event per write, flushed (as llama.cpp and vLLM)")
    parser.add_argument("--headers-delay", type=float, default=0.0, help="seconds before the response headers")
    parser.add_argument("--print-requests", action="store_true", help="print 'REQUEST <perf_counter>' as each completion request arrives")
    args = parser.parse_args(argv)

    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    with ScriptedServer(_script_from_args(args), api_key=args.api_key, port=args.port) as server:
        if args.print_requests:
            server.on_request = lambda body: print(f"REQUEST {body['_received']!r}", flush=True)
        print(f"READY {server.base_url}", flush=True)
        stopped.wait()


if __name__ == "__main__":
    sys.exit(main())
