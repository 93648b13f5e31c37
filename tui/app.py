"""streamtui: type a prompt, watch the answer stream in, and read its latency live.

Data flows one way: prompt → request → worker → events → metrics → widgets; finished runs
→ the runs table (and history). The worker is an async Textual worker in the app's loop.
Text reaches the output pane in batches, at most once a frame, whatever the chunk rate.
"""

from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer

from .engine.clock import Clock, monotonic_clock
from .engine.errors import UserFacingError, describe_exception
from .engine.events import Delta
from .engine.metrics import RunMetrics
from .engine.request import RunRequest
from .engine.run import Run
from .engine.settings import Settings
from .engine.tokens import EncodingChoice, IncrementalTokenCounter, encoding_for_model, load_encoding
from .widgets.metrics_panel import MetricsPanel
from .widgets.output_pane import OutputPane
from .widgets.prompt_input import PromptInput
from .widgets.runs_table import RunsTable

if TYPE_CHECKING:
    from openai import AsyncOpenAI

    from .engine.local_server import LocalServer

#: Longest the worker keeps the loop busy before letting keys and frames through.
_YIELD_EVERY = 0.010

NO_LOCAL_MODEL = (
    "Nothing is configured, and the embedded model is not installed.",
    "",
    "Install it (compiles llama.cpp once, a few minutes):   pip install 'streamtui[local]'",
    "Or use a server:    streamtui --base-url http://127.0.0.1:8080/v1 --model NAME",
    "Or use OpenAI:      export OPENAI_API_KEY=sk-...   then   streamtui",
)


class StreamTuiApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "streamtui"
    BINDINGS = [
        Binding("ctrl+j", "send", "Send", priority=True),
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+t", "toggle_streaming", "Streaming on/off"),
        Binding("ctrl+r", "toggle_raw", "Raw/Markdown"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = monotonic_clock,
        local_server: LocalServer | None = None,
        frame_interval: float = 1 / 60,
        tick_interval: float = 0.1,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.endpoint = settings.endpoint
        self.local_server = local_server
        self.streaming = settings.stream
        self.frame_interval = frame_interval
        self.tick_interval = tick_interval
        self.runs: list[Run] = []
        self.current: Run | None = None
        self._model: str | None = settings.model or settings.endpoint.default_model
        self._client: AsyncOpenAI | None = None
        self._client_key: tuple[str, str] | None = None
        self._pending_answer: list[str] = []
        self._pending_reasoning: list[str] = []
        self._flush_scheduled = False
        self._last_flush = 0.0

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield OutputPane(id="reasoning")
                yield OutputPane(id="output")
                yield PromptInput(self.settings.prompt, id="prompt")
            with Vertical(id="side"):
                yield MetricsPanel(id="metrics")
        yield RunsTable(id="runs")
        yield Footer()

    @property
    def output(self) -> OutputPane:
        return self.query_one("#output", OutputPane)

    @property
    def reasoning_pane(self) -> OutputPane:
        return self.query_one("#reasoning", OutputPane)

    @property
    def prompt_input(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def metrics_panel(self) -> MetricsPanel:
        return self.query_one(MetricsPanel)

    @property
    def runs_table(self) -> RunsTable:
        return self.query_one(RunsTable)

    def on_mount(self) -> None:
        self.output.border_title = "Output"
        self.reasoning_pane.border_title = "Reasoning"
        self.prompt_input.border_title = "Prompt · Ctrl+J send · Ctrl+↑/↓ history"
        self.query_one("#side").border_title = "Run"
        self.runs_table.border_title = "Runs"
        panel = self.metrics_panel
        panel.endpoint = self._endpoint_label()
        panel.model = self._model or "(first listed by the server)"
        panel.api = self.settings.api
        panel.streaming = self.streaming
        self._ticker = self.set_interval(self.tick_interval, self._tick, pause=True)
        self.output.set_notice("Type a prompt below and press Ctrl+J to send it.")
        if self.endpoint.kind == "local":
            self._prepare_local_model()
            self.set_interval(1.0, self._watch_local_server)
        self._refresh_panel()
        self.prompt_input.focus()
        self._preload()
        # Textual's startup heap is large and long-lived: keep it out of full collections.
        gc.freeze()

    def _endpoint_label(self) -> str:
        endpoint = self.endpoint
        if endpoint.kind == "local":
            server = self.local_server
            state = server.state if server else "not installed"
            if state != "ready":
                return f"embedded model ({state})"
            return f"embedded · {endpoint.base_url.removeprefix('http://').removesuffix('/v1')}"
        return f"{endpoint.label} (key {endpoint.key_label})"

    @work(thread=True, group="preload", exit_on_error=False)
    def _preload(self) -> None:
        """Import the SDK and load the encoding now, so the first send does not pay for it."""
        import openai  # noqa: F401

        if self._model:
            load_encoding(self._encoding_choice(self._model).name)

    # -- embedded model -----------------------------------------------------------------------
    def _prepare_local_model(self) -> None:
        if self.local_server is None:
            self.output.set_notice("\n".join(NO_LOCAL_MODEL))
            self.metrics_panel.message = "The embedded model is not installed: see the output pane."
            return
        self.metrics_panel.message = "starting local model…"
        self._start_local_model()

    @work(group="local", exit_on_error=False)
    async def _start_local_model(self) -> None:
        server = self.local_server
        assert server is not None
        try:
            await server.ensure_ready()
        except Exception as exc:  # noqa: BLE001 - shown to the person, the app keeps running
            self.metrics_panel.message = f"The local model did not start: {exc}"
            self.metrics_panel.endpoint = self._endpoint_label()
        else:
            self._adopt_local_server(server)
        self._refresh_panel()

    def _adopt_local_server(self, server: LocalServer) -> None:
        """Point the endpoint at the running embedded server (its port and key change on restart)."""
        self.endpoint = self.endpoint.with_server(server.base_url, server.api_key, server.model)
        self._model = self.settings.model or server.model
        panel = self.metrics_panel
        panel.endpoint = self._endpoint_label()
        panel.model = self._model
        panel.message = ""

    async def _ready_endpoint(self) -> None:
        """Make sure the endpoint can take a request: start or restart the embedded server."""
        if self.endpoint.kind != "local":
            return
        server = self.local_server
        if server is None:
            raise UserFacingError("The embedded model is not installed: pip install 'streamtui[local]'")
        if server.state != "ready" or not server.is_alive():
            self.metrics_panel.message = "starting local model…"
            self._refresh_panel()
        await server.ensure_ready()
        self._adopt_local_server(server)

    def _watch_local_server(self) -> None:
        server = self.local_server
        if server is None or server.state != "dead" or (self.current is not None and self.current.metrics.running):
            return
        message = f"The local model stopped ({server.error or 'no reason given'}); the next prompt restarts it."
        if self.metrics_panel.message != message:
            self.metrics_panel.message = message
            self.metrics_panel.endpoint = self._endpoint_label()
            self._refresh_panel()

    # -- the client -----------------------------------------------------------------------------
    def client(self) -> AsyncOpenAI:
        key = (self.endpoint.base_url, self.endpoint.api_key)
        if self._client is None or self._client_key != key:
            from openai import AsyncOpenAI

            # No hidden retries: a retried request would inflate TTFT without saying so.
            self._client = AsyncOpenAI(base_url=key[0], api_key=key[1], max_retries=0, timeout=120.0)
            self._client_key = key
        return self._client

    async def _resolve_model(self) -> str:
        if self._model is None:
            models = await self.client().models.list()
            if not models.data:
                raise UserFacingError("No --model given and the server lists no models.")
            self._model = models.data[0].id
        return self._model

    def _encoding_choice(self, model: str) -> EncodingChoice:
        return encoding_for_model(model, self.settings.encoding)

    # -- sending ----------------------------------------------------------------------------------
    @on(PromptInput.Submitted)
    def _on_prompt_submitted(self, event: PromptInput.Submitted) -> None:
        event.stop()
        self.action_send()

    def action_send(self) -> None:
        text = self.prompt_input.text
        if not text.strip():
            self.metrics_panel.message = "Type a prompt first: nothing was sent."
            self._refresh_panel()
            self.notify("Type a prompt first: nothing was sent.", severity="warning", timeout=3)
            return
        self.prompt_input.remember(text)
        self.prompt_input.clear()
        self.start_run(text, stream=self.streaming)

    def start_run(self, prompt: str, *, stream: bool, pair_id: int | None = None) -> None:
        self.metrics_panel.message = ""
        self._run_worker(prompt, stream, pair_id)

    @work(exclusive=True, group="completion", exit_on_error=False)
    async def _run_worker(self, prompt: str, stream: bool, pair_id: int | None) -> None:
        output, reasoning = self.output, self.reasoning_pane
        output.clear("Waiting for the first chunk…" if stream else "Waiting for the complete response (streaming is off)…")
        reasoning.clear()
        reasoning.remove_class("-visible")
        self._ticker.resume()
        run: Run | None = None
        try:
            await self._ready_endpoint()
            model = await self._resolve_model()
            choice = self._encoding_choice(model)
            encoding = await asyncio.to_thread(load_encoding, choice.name)
            request = RunRequest(
                prompt=prompt,
                model=model,
                api=self.settings.api,
                stream=stream,
                max_tokens=self.settings.max_tokens,
                temperature=self.settings.temperature,
            )
            metrics = RunMetrics(self.clock, IncrementalTokenCounter(encoding), choice, stream=stream)
            metrics.attach_reasoning_counter(IncrementalTokenCounter(encoding))
            run = Run(request, metrics, endpoint_label=self.endpoint.label, number=len(self.runs) + 1, pair_id=pair_id)
            self.current = run
            await self._consume(run)
            await self._count_model_tokens(run)
        except asyncio.CancelledError:
            if run is not None:
                run.metrics.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - before the request: say so, keep running
            problem = describe_exception(exc, base_url=self.endpoint.base_url, model=self._model or "?", api_key=self.endpoint.api_key, chunks=0)
            self.metrics_panel.message = problem.message
        finally:
            self._flush()
            self._ticker.pause()
            if run is not None:
                self._finish(run)
            self._refresh_panel()

    async def _consume(self, run: Run) -> None:
        """The hot loop: events to metrics and to pending text; the screen catches up per frame."""
        from .engine.stream import stream_batches

        metrics = run.metrics
        answer, reasoning = run.answer_parts, run.reasoning_parts
        pending_answer, pending_reasoning = self._pending_answer, self._pending_reasoning
        clock = self.clock
        yielded_at = clock()
        async for batch in stream_batches(self.client(), run.request, clock):
            for event in batch:
                if type(event) is Delta:
                    metrics.on_delta(event)
                    if event.kind == "answer":
                        answer.append(event.text)
                        pending_answer.append(event.text)
                    else:
                        reasoning.append(event.text)
                        pending_reasoning.append(event.text)
                else:
                    metrics.on_event(event)
            if pending_answer or pending_reasoning:
                self._schedule_flush()
            if clock() - yielded_at > _YIELD_EVERY:
                # A fast local stream may never make the loop wait: give keys and frames a turn.
                await asyncio.sleep(0)
                yielded_at = clock()

    async def _count_model_tokens(self, run: Run) -> None:
        """The embedded server can count in the model's own tokenizer: exact, unlike tiktoken's estimate."""
        server = self.local_server
        if self.endpoint.kind != "local" or server is None or not run.text:
            return
        try:
            run.metrics.model_tokens = await server.count_tokens(run.text)
        except Exception:  # noqa: BLE001 - an extra figure; the run itself is complete
            run.metrics.model_tokens = None

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        delay = self._last_flush + self.frame_interval - monotonic_clock()
        if delay > 0:
            self.set_timer(delay, self._flush)
        else:
            self.call_later(self._flush)

    def _flush(self) -> None:
        """Draw what arrived since the last frame: one append, whatever the chunk count."""
        self._flush_scheduled = False
        self._last_flush = monotonic_clock()
        if self._pending_reasoning:
            self.reasoning_pane.add_class("-visible")
            self.reasoning_pane.append_chunks(self._pending_reasoning)
            self._pending_reasoning.clear()
        if self._pending_answer:
            self.output.append_chunks(self._pending_answer)
            self._pending_answer.clear()

    def _finish(self, run: Run) -> None:
        if run.metrics.state == "done" and not run.text:
            self.output.set_notice("(the server sent an empty answer)")
        elif run.metrics.state != "done" and not run.text:
            self.output.set_notice("(nothing arrived)")
        self.runs.append(run)
        self.runs_table.add_run(run)

    # -- ticking ---------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._refresh_panel()

    def _refresh_panel(self) -> None:
        self.metrics_panel.show(self.current)

    # -- other actions ------------------------------------------------------------------------------
    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "completion")

    def action_toggle_streaming(self) -> None:
        self.streaming = not self.streaming
        self.metrics_panel.streaming = self.streaming
        self.notify(
            "Streaming on: text shows as it arrives." if self.streaming else "Streaming off: the whole answer shows at once, when it is complete.",
            timeout=3,
        )
        self._refresh_panel()

    def action_toggle_raw(self) -> None:
        output = self.output
        output.mode = "raw" if output.mode == "markdown" else "markdown"
        output.border_title = "Output · raw (chunks alternate in shade)" if output.mode == "raw" else "Output"

    @on(DataTable.RowSelected, "#runs")
    def _on_run_selected(self, event: DataTable.RowSelected) -> None:
        """Show a past run of the session: its text and its figures."""
        run = next((run for run in self.runs if str(run.number) == event.row_key.value), None)
        if run is None or (self.current is not None and self.current.metrics.running):
            return
        self.current = run
        self.output.clear()
        self.output.append_chunks(run.answer_parts)
        self._refresh_panel()

    async def on_unmount(self) -> None:
        if self.local_server is not None:
            self.local_server.stop()
