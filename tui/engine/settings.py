"""What the command line, the environment and the config file asked for, resolved once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .endpoint import Endpoint
from .request import Api
from .session import RunParams, RunSession
from .target import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_RETRIES,
    Target,
)


@dataclass(frozen=True)
class Settings:
    endpoint: Endpoint
    #: None: the endpoint's default, else the first model the server lists.
    model: str | None = None
    api: Api = "chat"
    stream: bool = True
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    system_prompt: str | None = None
    #: Override tiktoken's model → encoding choice.
    encoding: str | None = None
    prompt: str = ""
    #: A GGUF for the embedded server instead of the bundled model.
    model_path: Path | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    retries: int = DEFAULT_RETRIES
    #: Start in conversation mode.
    chat: bool = False
    #: The config profile these settings came from, if any.
    profile: str | None = None
    #: The config file's theme (None: the app's default) and the file itself, for writing
    #: back through ``tui.engine.config.ConfigFile``.
    theme: str | None = None
    config_path: Path | None = None
    #: Where each setting came from ("--model", "profile ollama", "OPENAI_BASE_URL", "default",
    #: …), by field name plus "endpoint", "api_key_env" and "api_key" (tui.engine.config.resolve).
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def run_params(self) -> RunParams:
        return RunParams(
            api=self.api,
            stream=self.stream,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            seed=self.seed,
            system_prompt=self.system_prompt,
            encoding=self.encoding,
        )

    def target(self) -> Target:
        """Timeouts and retries (the address and key come from the endpoint)."""
        return Target(self.endpoint.base_url, self.endpoint.api_key, self.connect_timeout, self.read_timeout, self.retries)


def open_session(settings: Settings, *, streamer, history, local_server=None, clock=None) -> RunSession:  # noqa: ANN001
    """The session these settings describe: its connection, history and next-run parameters."""
    from .clock import monotonic_clock
    from .connection import Connection

    connection = Connection(settings.endpoint, streamer, local_server=local_server, model=settings.model, target=settings.target())
    session = RunSession(connection, history, clock=clock or monotonic_clock, params=settings.run_params())
    if settings.chat:
        session.start_conversation()
    return session
