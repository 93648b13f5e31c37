"""The main screen: the prompt, the live output, the run's figures and the session's runs.

It owns its layout, its keys and the pacing of drawing. Data flows one way: a prompt goes to
the session, which runs it and tells this screen (a ``RunListener``) when a run starts,
changes and ends; the screen pulls what is new from the run, at most once a frame.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import DataTable

from ..engine import format as fmt
from ..engine.clock import monotonic_clock
from ..engine.history import record_of
from ..engine.run import Run
from ..engine.sanitize import one_line
from ..engine.session import RunSession
from ..engine.summary import how_it_ended
from ..widgets.figures_bar import FiguresBar
from ..widgets.footer import Footer
from ..widgets.metrics_panel import MetricsPanel
from ..widgets.output_pane import OutputPane
from ..widgets.prompt_input import PromptInput
from ..widgets.runs_table import RunsTable
from . import reading
from .watched import WatchedScreen

#: A second send within this many seconds replaces the running run.
REPLACE_WITHIN = 5.0

NO_LOCAL_MODEL = (
    "Nothing is configured, and the embedded model is not installed.",
    "",
    "Install it (compiles llama.cpp once, a few minutes):   pip install 'streamtui[local]'",
    "Or use a server:    streamtui --base-url http://127.0.0.1:8080/v1 --model NAME",
    "Or use OpenAI:      export OPENAI_API_KEY=sk-...   then   streamtui",
)
HINT = "Type a prompt below and press Ctrl+J to send it (Ctrl+O sends it both ways)."


class MainScreen(WatchedScreen[None]):
    CSS_PATH = "main.tcss"
    #: The prompt has focus from the first frame (a focus change later would restyle the
    #: screen and rebuild the footer while the streaming worker is still starting).
    AUTO_FOCUS = "#prompt"
    #: Below 100 columns the Run panel becomes a drawer (Ctrl+F) and one line of figures shows.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    #: The footer shows the keys a person needs first; Help (F1) and the palette list all.
    BINDINGS = [
        Binding("ctrl+j", "send", "Send", tooltip="Send the prompt (also Alt+Enter in the prompt)"),
        Binding("ctrl+o", "compare", "Compare", tooltip="Send the prompt streamed and waited, one after the other, and compare them"),
        Binding("escape", "cancel", "Cancel", tooltip="Cancel the running request (the partial answer stays)"),
        Binding("escape", "close_figures", show=False),  # when nothing runs: the drawer, if open
        Binding("ctrl+t", "toggle_streaming", "Stream", tooltip="Streaming on or off for the next run"),
        Binding("ctrl+l", "timeline", "Timeline", tooltip="Every chunk of the shown run, and a plot of text over time"),
        Binding("ctrl+g", "history", "History", tooltip="Past runs: search, reopen, export"),
        Binding("ctrl+f", "toggle_figures", "Figures", tooltip="The Run panel with every figure (a drawer on narrow terminals)"),
        Binding("ctrl+n", "new_conversation", "Conversation", show=False, tooltip="Start a conversation: each prompt is sent with the turns so far"),
        Binding("f2", "settings", "Settings", show=False, tooltip="API, streaming, system prompt, temperature, max tokens, seed, timeout, profile"),
        Binding("f3", "pick_model", "Model", show=False, tooltip="Pick one of the models the server lists"),
        Binding("ctrl+r", "toggle_raw", "Raw view", show=False, tooltip="Raw text (chunks alternate in shade) or the Markdown look"),
        Binding("ctrl+b", "maximize_output", "Maximize output", show=False, tooltip="The output pane alone (Escape returns)"),
        Binding("alt+c", "copy_answer", "Copy answer", show=False, tooltip="Copy the answer (OSC 52)"),
        Binding("alt+k", "copy_code", "Copy last code block", show=False, tooltip="Copy the last fenced code block of the answer"),
        Binding("alt+p", "copy_prompt", "Copy prompt", show=False, tooltip="Copy the shown run's prompt"),
        Binding("alt+v", "open_in_pager", "Open answer in pager", show=False, tooltip="$PAGER (less) on the answer"),
        Binding("alt+e", "open_in_editor", "Open answer in editor", show=False, tooltip="$EDITOR on the answer"),
        Binding("alt+t", "toggle_reasoning", "Show/hide reasoning", show=False, tooltip="Collapse or expand the reasoning pane"),
        Binding("pageup", "page_output(-1)", show=False),
        Binding("pagedown", "page_output(1)", show=False),
        Binding("ctrl+end", "follow_output", "Follow the answer", show=False, tooltip="Back to the end of the answer, following it as it streams (from the prompt too)"),
        Binding("f1,question_mark", "help", "Help", tooltip="Every key, and what every figure means"),
    ]
    #: Palette entries without a key of their own: (name, help, action).
    PALETTE_ONLY: list[tuple[str, str, str]] = [
        ("Single prompts (no memory)", "Leave conversation mode: each prompt is sent alone", "single_prompts"),
    ]

    def __init__(self, session: RunSession, *, prompt: str = "", profiles=None, frame_interval: float = 1 / 120, tick_interval: float = 0.1) -> None:  # noqa: ANN001
        super().__init__()
        self.session = session
        #: The config file's profiles, to switch endpoint from Settings (None: no config).
        self.profiles = profiles
        self.initial_prompt = prompt
        self.frame_interval = frame_interval
        self.tick_interval = tick_interval
        #: The run the panel and the panes show: the live one, or one picked in the table.
        self.current: Run | None = None
        self._last_prompt = prompt
        #: How much of the current run the panes already show: answer parts and chunks, reasoning parts.
        self._drawn_parts = self._drawn_chunks = self._drawn_reasoning = 0
        #: Whether the Runs table has the live run's row yet.
        self._row_shown = False
        self._draw_scheduled = False
        self._last_draw = 0.0
        #: The clock the answer's frames are paced by (a test sets one it controls).
        self.draw_clock = monotonic_clock
        #: Until when a second send replaces the running run (a monotonic time).
        self._replace_until = 0.0
        #: A send is being cancelled to make way for a new prompt.
        self._replacing = False

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        self.take_size_classes()
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield OutputPane(id="reasoning")
                yield OutputPane(id="output")
                yield FiguresBar(id="figures")
                yield PromptInput(self.initial_prompt, id="prompt")
            with VerticalScroll(id="side"):
                yield MetricsPanel(id="metrics")
        yield RunsTable(id="runs")
        yield Footer(compact=True, show_command_palette=False)  # F1 and the help say Ctrl+P

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

    @property
    def footer_spare(self) -> frozenset[str]:
        """What the footer leaves out while a run streams on a narrow screen, so that Cancel,
        Help and Quit fit in 80 columns (F1 and the palette list every key)."""
        return frozenset({"timeline", "history"}) if self.has_class("-narrow") and self.session.busy else frozenset()

    def on_key(self, event: events.Key) -> None:
        """Typing while an output pane has focus (a click or a drag there, to select text) goes
        to the prompt, as the person means it to; "?" stays the help key there."""
        if isinstance(self.focused, OutputPane) and event.is_printable and event.character and event.character != "?":
            event.stop()
            event.prevent_default()
            self.prompt_input.focus()
            self.prompt_input.insert(event.character)

    def on_resize(self) -> None:
        self.refresh_bindings()  # Figures is offered on narrow terminals only

    def on_mount(self) -> None:
        self.output.border_title = "Output"
        self.output.behind_hint = "↓ more below · Ctrl+End follows the answer"
        self.reasoning_pane.border_title = "Reasoning"
        self.prompt_input.border_title = "Prompt · Ctrl+J send · Ctrl+↑/↓ earlier prompts"
        self.query_one("#side").border_title = "Run"
        self.runs_table.border_title = "Runs"
        connection = self.session.connection
        panel = self.metrics_panel
        panel.endpoint = self._endpoint_label()
        panel.model = connection.model or "(first listed by the server)"
        panel.api = self.session.params.api
        panel.streaming = self.session.params.stream
        self._ticker = self.set_interval(self.tick_interval, self._tick, pause=True)
        self.output.set_notice(HINT)
        if connection.endpoint.kind == "local":
            if connection.local_server is None:
                self.output.set_notice("\n".join(NO_LOCAL_MODEL))
                panel.message = "The embedded model is not installed: see the output pane."
            else:
                self._start_local_model()
                self.set_interval(1.0, self._watch_local_server)
        if self.session.history.problem:
            panel.message = self.session.history.problem
        self.refresh_panel()
        self.app.call_later(self.app.release_early_input)
        self._load_recall()

    def _endpoint_label(self) -> str:
        connection = self.session.connection
        endpoint = connection.endpoint
        if endpoint.kind == "local":
            server = connection.local_server
            state = server.state if server else "not installed"
            if state != "ready":
                return f"embedded model ({state})"
            return f"embedded · {endpoint.base_url.removeprefix('http://').removesuffix('/v1')}"
        return f"{endpoint.label} (key {endpoint.key_label})"

    # -- the embedded model -------------------------------------------------------------------
    @work(group="local", exit_on_error=False)
    async def _start_local_model(self) -> None:
        """Start the embedded server now, so the first prompt does not wait for it."""
        panel = self.metrics_panel
        panel.message = "starting the embedded model…"
        self.refresh_panel()
        try:
            await self.session.connection.ready()
            panel.message = ""
        except Exception as exc:  # noqa: BLE001 - the next prompt tries again and says why
            panel.message = f"The embedded model did not start: {one_line(str(exc))}"
        panel.endpoint = self._endpoint_label()
        panel.model = self.session.connection.model or panel.model
        self.refresh_panel()

    def _watch_local_server(self) -> None:
        server = self.session.connection.local_server
        if server is None or server.poll() != "dead" or self.session.busy:
            return
        message = f"The embedded model stopped ({server.error or 'no reason given'}); the next prompt restarts it."
        panel = self.metrics_panel
        if panel.message != message:
            panel.message = message
            panel.endpoint = self._endpoint_label()
            self.refresh_panel()

    @work(group="recall", exit_on_error=False)
    async def _load_recall(self) -> None:
        """Earlier sessions' prompts for Ctrl+↑ (read in a thread)."""
        import asyncio

        prompts = await asyncio.to_thread(self.session.history.recent_prompts)
        self.prompt_input.seed_recall(prompts)

    # -- sending ----------------------------------------------------------------------------------
    @on(PromptInput.Submitted)
    async def _on_prompt_submitted(self, event: PromptInput.Submitted) -> None:
        event.stop()
        await self.submit(event.text, compare=event.compare)

    async def action_send(self) -> None:
        """Send from elsewhere than the prompt (the prompt sends itself, in key order)."""
        await self.submit(self.prompt_input.take())

    async def action_compare(self) -> None:
        await self.submit(self.prompt_input.take(), compare=True)

    async def submit(self, text: str, *, compare: bool = False) -> None:
        """Send ``text``, already taken out of the prompt box (Compare: streamed and waited).
        An empty prompt sends nothing (Compare takes the last prompt again); while a run is
        live, a second press replaces it. A prompt not sent goes back into the box."""
        prompt = text if text.strip() else (self._last_prompt if compare and self._last_prompt.strip() else None)
        again = prompt is not text  # Compare with an empty box: the last prompt again
        if prompt is None:
            self.prompt_input.give_back(text)
            self._hint("Type a prompt first: nothing was sent.")
            return
        session = self.session
        if session.busy:
            now = monotonic_clock()
            if now > self._replace_until:
                self._replace_until = now + REPLACE_WITHIN
                self.prompt_input.give_back(text)
                active = session.active
                which = f"Run #{active.number}" if active is not None else "A run"
                what = f"compare {'the last prompt' if again else 'this prompt'} both ways" if compare else "send this prompt"
                self.notify(
                    f"{which} is still running. Press {'Ctrl+O' if compare else 'Ctrl+J'} again within {REPLACE_WITHIN:g} s to stop it and {what} (Escape only stops it).",
                    title="Still running", severity="warning", timeout=REPLACE_WITHIN, markup=False,
                )
                return
            self._replacing = True  # the cancelled send's prompt stays out of the box
            try:
                await session.cancel("Cancelled: replaced by a new prompt.")
            finally:
                self._replacing = False
            self.app.clear_notifications()  # the "still running" question is answered
            if session.busy:  # another send started while this one waited for the cancel
                self.prompt_input.give_back(text)
                return
        self._replace_until = 0.0
        if again:
            self.notify(f"Compare: the last prompt again, “{one_line(prompt, 60)}”.", timeout=4, markup=False)
        self.prompt_input.remember(prompt)
        self._last_prompt = prompt
        self.metrics_panel.message = ""
        self._ticker.resume()
        sending = session.start(prompt, self, compare=compare)  # busy from here on, in this tick
        runs_before = len(session.runs)
        sending.add_done_callback(lambda task: self._sent(task, text, runs_before))
        self.refresh_bindings()  # Cancel is offered from the send on (a Compare warm-up makes no run)
        self.refresh_panel()
        self.run_worker(sending, name="send", group="send", exit_on_error=False)

    def _sent(self, task: asyncio.Task, text: str, runs_before: int) -> None:
        """A send cancelled (by Escape, not by a new prompt) before it made a run, i.e. a Compare
        during its warm-up, gives back the prompt it took from the box, and says so. (A task's
        done callbacks run in order: this one before the replacing send resumes.) It also tells
        the app the send is over, for its memory housekeeping."""
        if self.session.closing or not self.is_attached:
            return  # the app is closing: nothing to show, nowhere to give back to
        self.app.send_ended()
        try:
            if task.cancelled() and len(self.session.runs) == runs_before and not self._replacing:
                self.prompt_input.give_back(text)
                told = "the prompt is back in the box" if text else "nothing was sent"
                self.notify(f"Cancelled before any run was sent: {told}.", timeout=4, markup=False)
            self.refresh_bindings()
            self.refresh_panel()
        except NoMatches:  # the screen's widgets are already gone (quitting)
            pass

    def _hint(self, hint: str) -> None:
        self.metrics_panel.message = hint
        self.refresh_panel()
        self.notify(hint, severity="warning", timeout=3, markup=False)

    def _tick(self) -> None:
        """While a send is live: redraw the figures (Elapsed ticks). The ticker stops itself
        once nothing is live, so no event of an old run can stop it during a new one."""
        self.refresh_panel()
        run = self.current
        if run is not None and run.metrics.running and not self._row_shown:
            self._show_in_table(run)  # the live run's row, at its first tick: not per chunk
        if not self.session.busy:
            self._ticker.pause()
            self.refresh_bindings()

    # -- the session tells us (RunListener) ----------------------------------------------------------
    def run_started(self, run: Run) -> None:
        self.current = run
        self._drawn_parts = self._drawn_chunks = self._drawn_reasoning = 0
        self.output.clear("Waiting for the first chunk…" if run.request.stream else "Waiting for the complete response (streaming is off)…")
        self._show_prompt(run)
        self.output.border_title = Text(f"Output · run #{run.number}")
        self.reasoning_pane.clear()
        self.reasoning_pane.remove_class("-visible")
        self._ticker.resume()
        self._row_shown = False  # its row comes at the next tick, out of the way of the first chunk
        self.refresh_panel()
        self.refresh_bindings()

    def _show_prompt(self, run: Run) -> None:
        """The prompt above its answer, after the conversation's earlier turns."""
        self.output.set_lead(run.request.prompt, [(turn.prompt, turn.answer) for turn in run.request.turns])

    def run_changed(self, run: Run) -> None:
        if run is self.current:
            self._schedule_draw()

    def run_ended(self, run: Run) -> None:
        if run is self.current:
            self.draw_pending()
            self.output.finish()
            self.reasoning_pane.finish()
            metrics = run.metrics
            if not run.text:
                if metrics.state == "done":
                    self.output.set_notice("(the server sent an empty answer)")
                else:
                    self.output.set_notice(how_it_ended(metrics.state, metrics.error or "nothing arrived"))
            elif metrics.state != "done":
                # Below the partial text, which stays: how the answer ended, in full.
                self.output.set_end_note(how_it_ended(metrics.state, metrics.error or "stopped early"), failed=metrics.state == "failed")
            if metrics.state == "failed":
                self.notify(one_line(metrics.error or "The run failed."), title=f"Run #{run.number} failed", severity="error", timeout=6, markup=False)
        self._show_in_table(run)
        self.refresh_panel()
        self.refresh_bindings()

    def _show_in_table(self, run: Run) -> None:
        # Each row counts its run's tokens from the run's own best source, but a Compare pair's
        # two rows from the source both have ("7 usage" beside "6 tiktoken" was no comparison).
        table = self.runs_table
        self._row_shown = self._row_shown or run is self.current
        pair = self.session.pair_of(run)
        source = pair.token_source if pair is not None and run.pair_id is not None else None
        other = None
        if pair is not None:
            other = pair.waited if run is pair.streamed else pair.streamed
            table.show_run(record_of(other), outcome=other.outcome, pair_of=run.number if run.pair_id is not None else None, token_source=source)
        table.show_run(record_of(run), outcome=run.outcome, pair_of=other.number if other is not None and run.pair_id is not None else None, token_source=source)

    # -- drawing --------------------------------------------------------------------------------------
    def _schedule_draw(self) -> None:
        if self._draw_scheduled:
            return
        self._draw_scheduled = True
        delay = self._last_draw + self.frame_interval - self.draw_clock()
        if delay > 0:
            # Not Textual's set_timer: its one-shot timer skips its only tick, for good, when
            # more than its delay passes between two clock readings in its task (always for a
            # delay under about a microsecond; for longer ones on a thread switch). The draw
            # was lost and the text stopped on screen until the run ended.
            asyncio.get_running_loop().call_later(delay, self.call_next, self.draw_pending)
        else:
            self.call_later(self.draw_pending)

    def draw_pending(self) -> None:
        """Draw what arrived since the last frame: one append, whatever the chunk count."""
        self._draw_scheduled = False
        self._last_draw = self.draw_clock()
        run = self.current
        if run is None:
            return
        if len(run.reasoning_parts) > self._drawn_reasoning:
            if not self._drawn_reasoning and not run.answer_parts:
                self.output.set_notice("Thinking… (its reasoning streams in the Reasoning pane; the answer follows it)")
            self.reasoning_pane.add_class("-visible")
            self.reasoning_pane.append("".join(run.reasoning_parts[self._drawn_reasoning :]))
            self._drawn_reasoning = len(run.reasoning_parts)
        if len(run.answer_parts) > self._drawn_parts:
            sizes = run.metrics.chunk_sizes[self._drawn_chunks :]
            self.output.append("".join(run.answer_parts[self._drawn_parts :]), sizes)
            self._drawn_parts = len(run.answer_parts)
            self._drawn_chunks += len(sizes)

    def refresh_panel(self) -> None:
        conversation = self.session.conversation
        if conversation is None:
            self.metrics_panel.memory = "single prompts (no memory)"
        else:
            self.metrics_panel.memory = f"conversation #{conversation.id}, {fmt.quantity(len(conversation.turns), 'turn')}" if conversation.id else "a new conversation"
        run = self.current
        comparison = self.session.pair_of(run) if run else None
        self.metrics_panel.show(run, comparison, self.session.activity)
        self.query_one(FiguresBar).show(run, comparison, "" if self.has_class("-figures-open") else "^f all figures", self.session.activity, self.session.params.stream)

    # -- other actions -------------------------------------------------------------------------------
    async def action_cancel(self) -> None:
        if self.session.busy:
            await self.session.cancel()
        self._replace_until = 0.0

    def action_toggle_streaming(self) -> None:
        session = self.session
        session.params = replace(session.params, stream=not session.params.stream)
        self.metrics_panel.streaming = session.params.stream
        self.notify(
            "Streaming on: text shows as it arrives." if session.params.stream else "Streaming off: the whole answer shows at once, when it is complete.",
            timeout=3,
        )
        self.refresh_panel()

    def action_toggle_raw(self) -> None:
        output = self.output
        output.mode = "raw" if output.mode == "markdown" else "markdown"
        title = f"Output · run #{self.current.number}" if self.current else "Output"
        output.border_title = Text(title + (" · raw (chunks alternate in shade)" if output.mode == "raw" else ""))

    async def action_timeline(self) -> None:
        from .timeline import TimelineScreen

        run = self.current
        if run is None:
            self.notify("No run yet: send a prompt first.", timeout=3)
            return
        pair = self.session.pair_of(run)
        runs = (pair.streamed, pair.waited) if pair else (run,)
        records = [await self._record(one) for one in runs]
        shown = next(record for record, one in zip(records, runs) if one is run)
        self.app.push_screen(TimelineScreen(shown, f"Run #{run.number}", [(f"#{r.id}", r) for r in records]))

    async def _record(self, run: Run):  # -> RunRecord
        """The run as a record; a run whose text was released is read back from history."""
        if not run.text_released:
            return record_of(run)
        import asyncio

        await self.session.writer.flush()
        return await asyncio.to_thread(self.session.history.get, run.number) or record_of(run)

    def action_history(self) -> None:
        from .history import HistoryScreen

        self.app.push_screen(HistoryScreen(self.session), self._on_history_choice)

    async def _on_history_choice(self, choice) -> None:  # noqa: ANN001 - a HistoryChoice or None
        if choice is None:
            return
        if choice.prompt is not None:
            await self.submit(choice.prompt)
        elif choice.conversation_id is not None:
            self._continue_conversation(choice.conversation_id)

    @work(group="conversation", exit_on_error=False)
    async def _continue_conversation(self, conversation_id: int) -> None:
        """Reopen a stored conversation: its done turns become the context of the next prompt."""
        import asyncio

        from ..engine.request import Turn

        records = await asyncio.to_thread(self.session.history.conversation, conversation_id)
        turns = [Turn(record.prompt, record.output) for record in records if record.state == "done"]
        self.session.continue_conversation(conversation_id, turns)
        self.notify(f"Continuing conversation #{conversation_id} ({fmt.quantity(len(turns), 'turn')}): the next prompt is sent with them.", timeout=5, markup=False)
        self.refresh_panel()

    # -- conversation, model, settings -------------------------------------------------------------
    def action_new_conversation(self) -> None:
        session = self.session
        if session.params.api == "completions":
            self.notify("The completions API has no conversation: switch to chat or responses (F2).", severity="warning", timeout=5)
            return
        session.start_conversation()
        self.notify("New conversation: each prompt is sent with the turns so far (palette: Single prompts to leave).", timeout=5)
        self.refresh_panel()

    def action_single_prompts(self) -> None:
        self.session.end_conversation()
        self.notify("Single prompts: each is sent alone, with no memory.", timeout=4)
        self.refresh_panel()

    def action_pick_model(self) -> None:
        from .model_picker import ModelPicker

        def chosen(model: str | None) -> None:
            if model:
                self.session.connection.model = model
                self.metrics_panel.model = model
                self.notify(f"The next run uses {one_line(model, 80)}.", timeout=3, markup=False)
                self.refresh_panel()

        self.app.push_screen(ModelPicker(self.session.connection, self.session.connection.model), chosen)

    def action_settings(self) -> None:
        from .settings import SettingsScreen

        session = self.session

        def chosen(result) -> None:  # noqa: ANN001 - a SettingsResult or None
            if result is None:
                return
            session.params = result.params
            session.connection.set_read_timeout(result.read_timeout)
            if result.params.api == "completions" and session.conversation is not None:
                session.end_conversation()
            if result.profile is not None and self.profiles is not None:
                from ..engine.config import ConfigError

                try:
                    self.profiles.switch(result.profile, session)
                except ConfigError as exc:
                    self.notify(f"Profile not switched: {exc}", severity="error", timeout=8, markup=False)
                else:
                    self.metrics_panel.endpoint = self._endpoint_label()
                    self.metrics_panel.model = session.connection.model or "(first listed by the server)"
            self.metrics_panel.api = session.params.api
            self.metrics_panel.streaming = session.params.stream
            self.refresh_panel()

        names = self.profiles.names() if self.profiles is not None else []
        current = self.profiles.current if self.profiles is not None else None
        self.app.push_screen(SettingsScreen(session.params, session.connection.read_timeout, names, current), chosen)

    @on(DataTable.RowSelected, "#runs")
    async def _on_run_selected(self, event: DataTable.RowSelected) -> None:
        run = next((run for run in self.session.runs if str(run.number) == event.row_key.value), None)
        if run is not None and not (self.current is not None and self.current.metrics.running):
            await self.show_run(run)

    async def show_run(self, run: Run) -> None:
        """Show a finished run again: its text in the panes and its figures in the panel."""
        record = await self._record(run)
        self.current = run
        self.output.clear()
        self._show_prompt(run)
        self.output.append(record.output, record.chunk_sizes or None)
        self.output.finish()  # complete: its last line drawn as such, no rows kept for growth
        self.output.border_title = Text(f"Output · run #{run.number}")
        self.reasoning_pane.clear()
        self.reasoning_pane.set_class(bool(record.reasoning), "-visible")
        self.reasoning_pane.append(record.reasoning)
        self.reasoning_pane.finish()
        self._drawn_parts, self._drawn_chunks, self._drawn_reasoning = len(run.answer_parts), run.metrics.chunks, len(run.reasoning_parts)
        self.refresh_panel()

    # -- reading and layout ------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that do nothing now are not offered: Cancel only while a run is live, Figures
        only where the Run panel is a drawer (narrow terminals)."""
        if action == "cancel":
            return self.session.busy
        if action == "toggle_figures":
            return self.has_class("-narrow")
        if action == "close_figures":
            return self.has_class("-narrow", "-figures-open")
        return True

    def action_toggle_figures(self) -> None:
        """Narrow terminals: open or close the Run panel as a drawer. Wide ones: focus it (to scroll)."""
        if self.has_class("-narrow"):
            self.toggle_class("-figures-open")
            self.refresh_panel()
        else:
            self.query_one("#side").focus()

    def action_follow_output(self) -> None:
        self.output.scroll_end()

    def action_page_output(self, pages: int) -> None:
        """PageUp/PageDown where the focused part has no page of its own (a short prompt)."""
        output = self.output
        output.scroll_page_up() if pages < 0 else output.scroll_page_down()

    @property
    def focus_chain(self) -> list[Widget]:
        """Tab from the prompt goes to the answer: the prompt first, then the rest in screen
        order (the prompt is below the panes, so Textual's order put the output last)."""
        chain = super().focus_chain
        prompt = next((widget for widget in chain if isinstance(widget, PromptInput)), None)
        return chain if prompt is None else [prompt, *(widget for widget in chain if widget is not prompt)]

    def action_close_figures(self) -> None:
        self.remove_class("-figures-open")
        self.refresh_panel()

    def action_maximize_output(self) -> None:
        if self.maximized is not None:
            self.minimize()
        else:
            self.maximize(self.output, container=False)

    def action_toggle_reasoning(self) -> None:
        pane = self.reasoning_pane
        if not pane.text:
            self.notify("This run has no reasoning.", timeout=3)
            return
        pane.toggle_class("-collapsed")

    def action_copy_answer(self) -> None:
        reading.copy(self, self.output.text, "answer")

    def action_copy_code(self) -> None:
        reading.copy(self, self.output.last_code_block() or "", "last code block")

    def action_copy_prompt(self) -> None:
        reading.copy(self, self.current.request.prompt if self.current else "", "prompt")

    def action_open_in_pager(self) -> None:
        reading.open_externally(self, self.output.text, editor=False)

    def action_open_in_editor(self) -> None:
        reading.open_externally(self, self.output.text, editor=True)

    def action_help(self) -> None:
        from .help import HelpScreen, key_rows

        if isinstance(self.app.screen, HelpScreen):
            return
        keys = [("Ctrl+J, Alt+Enter", "Send the prompt (Enter inserts a newline)"), ("Ctrl+↑ / Ctrl+↓", "Recall earlier prompts, from history too")]
        keys += key_rows([binding for binding in self.BINDINGS if binding.action != "send"])
        keys += [
            ("Tab, Shift+Tab", "Focus the next or previous part: prompt, output, Run panel, Runs table"),
            ("↑ ↓, PageUp, PageDown, Home, End", "Scroll the focused pane or table (End follows the answer again); in the prompt, PageUp and PageDown scroll the answer"),
        ]
        keys += key_rows(self.app.BINDINGS) + [("Ctrl+P", "The command palette: every action by name, and themes")]
        self.app.push_screen(HelpScreen(keys))

    def run_action_soon(self, action: str) -> None:
        """Run a main-screen action as its key would (the command palette's entries do)."""
        self.call_later(self.run_action, action)
