"""One place that knows how to reach the endpoint: the embedded server, the client, the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .endpoint import Endpoint
from .errors import UserFacingError

if TYPE_CHECKING:
    from openai import AsyncOpenAI

    from .local_server import LocalServer

NOT_INSTALLED = "The embedded model is not installed: pip install 'streamtui[local]', or pass --base-url."


class Connection:
    def __init__(self, endpoint: Endpoint, *, local_server: LocalServer | None = None, model: str | None = None) -> None:
        self.endpoint = endpoint
        self.local_server = local_server
        self._model = model or endpoint.default_model
        self._client: AsyncOpenAI | None = None
        self._client_key: tuple[str, str] | None = None

    @property
    def model(self) -> str | None:
        """The model if known yet (a server's first listed model is only known after asking)."""
        return self._model

    async def ready(self) -> None:
        """Make sure a request can be sent: start (or restart after a crash) the embedded server."""
        if self.endpoint.kind != "local":
            return
        server = self.local_server
        if server is None:
            raise UserFacingError(NOT_INSTALLED)
        await server.ensure_ready()
        # The address is only known once the server runs (and a restart may need a new port).
        self.endpoint = self.endpoint.with_server(server.base_url, server.api_key, server.model)
        if self._model is None or self._model == self.endpoint.default_model:
            self._model = server.model

    def warm_up(self) -> None:
        """Import the SDK and build the client ahead of the first request (about 150 ms)."""
        client = self.client() if self.endpoint.base_url else _scratch_client()
        for resource in (client.chat.completions, client.completions, client.responses):
            resource.with_streaming_response  # noqa: B018 - the SDK imports these lazily

    def client(self) -> AsyncOpenAI:
        key = (self.endpoint.base_url, self.endpoint.api_key)
        if self._client is None or self._client_key != key:
            from openai import AsyncOpenAI

            # No hidden retries: a retried request would inflate TTFT without saying so.
            self._client = AsyncOpenAI(base_url=key[0], api_key=key[1], max_retries=0, timeout=120.0)
            self._client_key = key
        return self._client

    async def resolve_model(self) -> str:
        if self._model is None:
            models = await self.client().models.list()
            if not models.data:
                raise UserFacingError("No --model given and the server lists no models.")
            self._model = models.data[0].id
        return self._model

    async def count_model_tokens(self, text: str) -> int | None:
        """The text's length in the model's own tokenizer, where the server can say (the
        embedded one can): exact, where tiktoken only estimates for a model it does not know."""
        server = self.local_server
        if self.endpoint.kind != "local" or server is None or not text:
            return None
        try:
            return await server.count_tokens(text)
        except Exception:  # noqa: BLE001 - an extra figure; the run itself is complete
            return None

    def close(self) -> None:
        if self.local_server is not None:
            self.local_server.stop()


def _scratch_client() -> AsyncOpenAI:
    """A client for nothing: the embedded server's address is only known once it runs."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="warm-up")
