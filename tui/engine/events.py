"""The normalized events of one run, the same for every API, streaming or not.

Times are seconds on the run's injected clock (see ``tui.engine.clock``). A request's life:
``Started`` (the client begins: the SDK builds the request, a connection is made or reused),
``RequestSent`` (the request's first byte is written to the socket), ``ResponseHeaders``,
then ``Delta`` and ``Usage`` as the body arrives, and ``Finished`` or ``Failed``. A retry
before the first byte is ``Retrying`` followed by a new ``Started``. ``TokenCount`` events
come along as tiktoken catches up with the text, the last one after the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

DeltaKind = Literal["answer", "reasoning"]


@dataclass(frozen=True, slots=True)
class Started:
    """The client begins the request (just before the SDK is called)."""

    at: float


@dataclass(frozen=True, slots=True)
class RequestSent:
    """The request is on the wire: its first byte was written to the connection."""

    at: float


@dataclass(frozen=True, slots=True)
class ResponseHeaders:
    """The response's status line and headers arrived."""

    at: float
    status: int


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of text arrived. ``kind`` keeps reasoning apart from the answer."""

    text: str
    at: float
    kind: DeltaKind = "answer"


@dataclass(frozen=True, slots=True)
class Deltas:
    """Several pieces of text of one kind that arrived in one network read, in order: how the
    streaming worker sends a read's chunks (each one still a chunk of its own for the figures)."""

    texts: tuple[str, ...]
    at: float
    kind: DeltaKind = "answer"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage as the server reported it (None where it did not say)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None = None

    @property
    def answer_tokens(self) -> int | None:
        """The answer's tokens: servers that report reasoning (OpenAI, vLLM, DeepSeek) count
        it inside ``completion_tokens``, and the answer is what Tok/s and tiktoken measure."""
        return answer_tokens(self.completion_tokens, self.reasoning_tokens)


def answer_tokens(completion_tokens: int | None, reasoning_tokens: int | None) -> int | None:
    """``completion_tokens`` less the reasoning tokens within it (for runs and stored records)."""
    if completion_tokens is None:
        return None
    return max(completion_tokens - (reasoning_tokens or 0), 0)


@dataclass(frozen=True, slots=True)
class TokenCount:
    """tiktoken's count of the text so far (``final`` once the stream ended): always equal to
    encoding the whole text with ``encoding`` (``exact`` False: not the model's own encoding)."""

    answer: int
    reasoning: int
    encoding: str
    exact: bool
    #: How much text the counts cover (characters), so a reader can tell a count is current.
    answer_chars: int = 0
    reasoning_chars: int = 0
    final: bool = False


@dataclass(frozen=True, slots=True)
class Retrying:
    """The request failed before any byte of an answer and is tried again after ``delay``."""

    attempt: int
    of: int
    delay: float
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class Finished:
    """The server said the answer is complete (``reason`` is its finish reason)."""

    reason: str | None
    at: float


@dataclass(frozen=True, slots=True)
class Failed:
    """The run ended without a complete answer; ``message`` is one line a person can act on."""

    message: str
    at: float
    kind: str = "error"


RunEvent = Union[Started, RequestSent, ResponseHeaders, Delta, Deltas, Usage, TokenCount, Retrying, Finished, Failed]
