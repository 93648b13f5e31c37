"""The normalized events of one run, the same for every API, streaming or not.

Times are seconds on the run's injected clock (see ``tui.engine.clock``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

DeltaKind = Literal["answer", "reasoning"]


@dataclass(frozen=True, slots=True)
class Started:
    """The request is about to be sent: every latency is measured from here."""

    at: float


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of text arrived. ``kind`` keeps reasoning apart from the answer."""

    text: str
    at: float
    kind: DeltaKind = "answer"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage as the server reported it (None where it did not say)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None = None


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


RunEvent = Union[Started, Delta, Usage, Finished, Failed]
