"""What the command line asked for, resolved once and handed to the app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .endpoint import Endpoint
from .request import Api


@dataclass(frozen=True)
class Settings:
    endpoint: Endpoint
    #: None: the endpoint's default, else the first model the server lists.
    model: str | None = None
    api: Api = "chat"
    stream: bool = True
    max_tokens: int | None = None
    temperature: float | None = None
    #: Override tiktoken's model → encoding choice.
    encoding: str | None = None
    prompt: str = ""
    #: A GGUF for the embedded server instead of the bundled model.
    model_path: Path | None = None
