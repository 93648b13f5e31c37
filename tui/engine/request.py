"""What to ask for: one run's parameters, and the request body each API expects."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

Api = Literal["chat", "completions", "responses"]
APIS: tuple[Api, ...] = ("chat", "completions", "responses")

#: The path below the base URL that each API posts to.
API_PATHS: dict[Api, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "responses": "/responses",
}


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation: the prompt and the answer it got."""

    prompt: str
    answer: str


@dataclass(frozen=True)
class RunRequest:
    """One prompt sent one way. Immutable, so a run can be repeated exactly."""

    prompt: str
    model: str
    api: Api = "chat"
    stream: bool = True
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    #: Instructions sent ahead of the conversation (chat and responses).
    system_prompt: str | None = None
    #: The conversation so far (chat and responses); empty for a single prompt.
    turns: tuple[Turn, ...] = ()
    #: Ask for usage in the stream (chat and completions); dropped on a server that rejects it.
    include_usage: bool = True
    #: Fields the SDK does not know by name, sent as they are (``extra_body``).
    extra: dict[str, Any] = field(default_factory=dict)
    #: The tiktoken encoding to count the answer with instead of the model's own (not sent).
    count_encoding: str | None = None

    def without_usage_option(self) -> RunRequest:
        return replace(self, include_usage=False)

    def messages(self) -> list[dict[str, str]]:
        """The chat messages: the system prompt, earlier turns, then this prompt."""
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        for turn in self.turns:
            messages += [{"role": "user", "content": turn.prompt}, {"role": "assistant", "content": turn.answer}]
        messages.append({"role": "user", "content": self.prompt})
        return messages

    def body(self) -> dict[str, Any]:
        """The keyword arguments of this API's ``create()`` in the openai SDK (without ``extra``)."""
        body: dict[str, Any] = {"model": self.model, "stream": self.stream}
        if self.api == "chat":
            body["messages"] = self.messages()
            if self.max_tokens is not None:
                body["max_tokens"] = self.max_tokens
        elif self.api == "completions":
            body["prompt"] = self.prompt
            if self.max_tokens is not None:
                body["max_tokens"] = self.max_tokens
        else:
            if self.turns:
                body["input"] = [m for m in self.messages() if m["role"] != "system"]
            else:
                body["input"] = self.prompt
            if self.system_prompt:
                body["instructions"] = self.system_prompt
            if self.max_tokens is not None:
                body["max_output_tokens"] = self.max_tokens
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.seed is not None and self.api != "responses":
            body["seed"] = self.seed
        if self.stream and self.include_usage and self.api != "responses":
            body["stream_options"] = {"include_usage": True}
        return body

    def describe(self) -> dict[str, Any]:
        """The parameters worth keeping with a run (history, export): no secrets here."""
        return {
            "api": self.api,
            "model": self.model,
            "stream": self.stream,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "system_prompt": self.system_prompt,
            "turns": len(self.turns),
        }
