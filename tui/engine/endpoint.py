"""Which server to talk to: ``--base-url`` (or OPENAI_BASE_URL), else OpenAI with
OPENAI_API_KEY, else the embedded local model. ``--local`` forces the embedded model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from .secrets import mask_secret, mask_url, register_credentials

EndpointKind = Literal["custom", "openai", "local"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
#: The SDK refuses an empty key; servers without auth accept anything.
PLACEHOLDER_KEY = "no-key-needed"


@dataclass(frozen=True)
class Endpoint:
    kind: EndpointKind
    base_url: str = field(repr=False)
    api_key: str = field(repr=False)
    #: What decided this endpoint, for the side panel and --help: "--base-url", "OPENAI_API_KEY", …
    source: str
    #: The model to use when --model is not given (None: ask the server's /models).
    default_model: str | None = None

    def __post_init__(self) -> None:
        register_credentials(self.api_key if self.api_key != PLACEHOLDER_KEY else None, self.base_url)

    @property
    def key_label(self) -> str:
        return "none" if self.api_key in (PLACEHOLDER_KEY, "") else mask_secret(self.api_key)

    @property
    def label(self) -> str:
        """The endpoint as shown and stored: no scheme, no credentials, no query values."""
        if self.kind == "local":
            return "embedded model"
        return mask_url(self.base_url).removeprefix("https://").removeprefix("http://")

    def with_server(self, base_url: str, api_key: str, model: str) -> Endpoint:
        """The embedded model's endpoint once its server has started."""
        return replace(self, base_url=base_url, api_key=api_key, default_model=model)


def resolve_endpoint(
    *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY", local: bool = False, environ: Mapping[str, str] = os.environ
) -> Endpoint:
    api_key = environ.get(api_key_env) or None
    if local:
        return Endpoint("local", "", "", "--local")
    if base_url:
        return Endpoint("custom", base_url.rstrip("/"), api_key or PLACEHOLDER_KEY, "--base-url")
    if environ.get("OPENAI_BASE_URL"):
        return Endpoint("custom", environ["OPENAI_BASE_URL"].rstrip("/"), api_key or PLACEHOLDER_KEY, "OPENAI_BASE_URL")
    if api_key:
        return Endpoint("openai", OPENAI_BASE_URL, api_key, api_key_env, DEFAULT_OPENAI_MODEL)
    return Endpoint("local", "", "", "nothing configured")
