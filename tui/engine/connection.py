"""One place that knows how to reach the endpoint: the embedded server, the streamer, the model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from .clock import Clock
from .endpoint import Endpoint
from .errors import UserFacingError
from .request import RunRequest
from .target import Target

if TYPE_CHECKING:
    from .events import RunEvent, TokenCount
    from .local_server import LocalServer

NOT_INSTALLED = "The embedded model is not installed: pip install 'streamtui[local]', or pass --base-url."


class Streamer(Protocol):
    """What streams a request: in this process (``stream.InProcessStreamer``) or in the
    streaming worker process (``worker_client.WorkerStreamer``)."""

    def batches(self, request: RunRequest, target: Target, clock: Clock) -> AsyncIterator[list[RunEvent]]: ...

    async def list_models(self, target: Target) -> list[str]: ...

    async def count_text(self, answer: str, reasoning: str, model: str, override: str | None = None) -> TokenCount:
        """tiktoken's count of a whole text, where the streamer counts its runs (the worker)."""
        ...

    async def count_each(self, encoding: str, texts: list[str]) -> list[int]:
        """Each text's own count in ``encoding``, where the streamer counts its runs."""
        ...

    async def close(self) -> None: ...


class Connection:
    def __init__(
        self,
        endpoint: Endpoint,
        streamer: Streamer,
        *,
        local_server: LocalServer | None = None,
        model: str | None = None,
        target: Target | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.streamer = streamer
        self.local_server = local_server
        self._model = model or endpoint.default_model
        #: Timeouts and retries; the address and key come from the endpoint.
        self._target_options = target or Target("", "")

    @property
    def model(self) -> str | None:
        """The model if known yet (a server's first listed model is only known after asking)."""
        return self._model

    @model.setter
    def model(self, model: str | None) -> None:
        self._model = model

    @property
    def needs_start(self) -> bool:
        """The embedded server is not answering yet: the next request starts it first."""
        server = self.local_server
        return self.endpoint.kind == "local" and (server is None or server.state != "ready" or not server.is_alive())

    def use(self, endpoint: Endpoint, model: str | None, local_server: LocalServer | None = None) -> None:
        """Switch to another endpoint (a profile picked in Settings); the next run goes there."""
        self.endpoint = endpoint
        self.local_server = local_server
        self._model = model or endpoint.default_model

    def set_read_timeout(self, seconds: float) -> None:
        self._target_options = replace(self._target_options, read_timeout=seconds)

    @property
    def read_timeout(self) -> float:
        return self._target_options.read_timeout

    def target(self) -> Target:
        return replace(self._target_options, base_url=self.endpoint.base_url, api_key=self.endpoint.api_key)

    async def ready(self) -> None:
        """Make sure a request can be sent: start (or restart after a crash) the embedded server."""
        if self.endpoint.kind != "local":
            return
        server, endpoint = self.local_server, self.endpoint
        if server is None:
            raise UserFacingError(NOT_INSTALLED)
        await server.start()
        if self.local_server is not server or self.endpoint is not endpoint:
            return  # switched to another profile meanwhile: that one is not this server's
        # The address is only known once the server runs (and a restart may need a new port).
        self.endpoint = self.endpoint.with_server(server.base_url, server.api_key, server.model)
        if self._model is None or self._model == self.endpoint.default_model:
            self._model = server.model

    async def resolve_model(self) -> str:
        if self._model is None:
            models = await self.streamer.list_models(self.target())
            if not models:
                raise UserFacingError("No --model given and the server lists no models.")
            self._model = models[0]
        return self._model

    async def list_models(self) -> list[str]:
        server = self.local_server
        if self.endpoint.kind == "local" and server is not None:
            # The embedded server serves one model, known here: asking it would wait behind the
            # answer it is generating (it handles one request at a time).
            return [server.model]
        await self.ready()
        return await self.streamer.list_models(self.target())

    def batches(self, request: RunRequest, clock: Clock) -> AsyncIterator[list[RunEvent]]:
        return self.streamer.batches(request, self.target(), clock)

    async def count_text(self, answer: str, reasoning: str, model: str, override: str | None = None) -> TokenCount:
        """tiktoken's count of a run's whole text, by the streamer, which counts its runs: the
        streaming worker does it in its own process, so the app's never builds an encoding."""
        return await self._counted("count_text", answer, reasoning, model, override)

    async def count_each(self, encoding: str, texts: list[str]) -> list[int]:
        """Each text's own count in ``encoding`` (the Timeline's chunks), counted as count_text."""
        return await self._counted("count_each", encoding, texts)

    async def _counted(self, name: str, *args):  # noqa: ANN002, ANN202
        counter = getattr(self.streamer, name, None)
        if counter is None:  # a streamer that counts nothing itself (a test's wrapper): here, in a thread
            import asyncio

            from . import tokens

            return await asyncio.to_thread(getattr(tokens, name), *args)
        return await counter(*args)

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

    async def close(self) -> None:
        """Close the streamer's connections. The embedded server is stopped by its owner
        (the command line), after the event loop, since stopping it waits for the child."""
        await self.streamer.close()
