"""RunSession: the one owner of a session's runs.

It numbers runs (their history id, the one number used everywhere), pairs them for Compare,
starts, cancels and finishes them, and persists them through one ordered writer. A run exists
from the moment it is sent: a failure while starting the embedded model or looking up the
model is a failed run with its message, like a failure of the request itself.

One send runs at a time. Who calls ``send`` while another is running decides what happens
(the main screen asks for a second press, then ``cancel``s the running one and waits for it
to end before sending): a run is never cancelled silently, and two runs never overlap.

Everything here runs on the event loop; nothing blocks it (history is written on the writer's
thread, encodings load in a thread). A listener is told when a run starts, changes and ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from .clock import Clock, monotonic_clock
from .comparison import Comparison, pair_of
from .connection import Connection
from .errors import Problem, UserFacingError, internal_problem
from .events import Delta, Deltas, Failed
from .history import HistoryStore
from .history_writer import HistoryWriter
from .logfile import log_failure
from .metrics import CANCELLED, CANCELLED_BEFORE_TEXT, NOT_COMPARED
from .request import Api, RunRequest, Turn
from .run import Run
from .stream import RequestFailed

#: How often a live run is saved (at least every half second; a killed app loses no more).
SAVE_EVERY = 0.4
#: A save rewrites the whole run: past this much text, saves come less often, in proportion
#: (at most every SAVE_AT_MOST s, all a kill can lose), so a long answer is not rewritten in
#: full 2.5 times a second.
SAVE_SIZE_STEP = 256 * 1024
SAVE_AT_MOST = 5.0
#: Longest the session works on arriving batches before letting the loop run keys and frames,
#: and how long it then sleeps.
_YIELD_EVERY = 0.010
_YIELD_FOR = 0.001
#: Finished runs that keep their text in memory; older ones keep figures only (history has the text).
KEEP_TEXT_OF = 20
#: Sent with both runs of a Compare pair when the person set none, so both answers match.
FAIR_TEMPERATURE = 0.0
FAIR_SEED = 1234
#: How long the count of a cut-off run may take (a long answer: a second or two) before the run is
#: saved without it.
COUNT_WITHIN = 20.0

#: A Compare warm-up's answer: as short as the API allows.
WARM_UP_TOKENS = 1
WARM_UP_TOKENS_RESPONSES = 16
#: A warm-up that brings more chunks than this times its cap comes from a server that ignores
#: the cap: it stops there rather than read a whole answer (its connection is then not reused).
WARM_UP_OVERRUN = 4


class RunListener(Protocol):
    """What the interface is told, on the event loop, as runs go."""

    def run_started(self, run: Run) -> None: ...

    def run_changed(self, run: Run) -> None: ...

    def run_ended(self, run: Run) -> None: ...


def save_interval(characters: int) -> float:
    """How long a running run waits between live saves, given the text it holds."""
    return min(SAVE_EVERY * max(1.0, characters / SAVE_SIZE_STEP), SAVE_AT_MOST)


@dataclass
class Conversation:
    """A conversation's turns so far, and its id (the number of its first run, once it has one)."""

    id: int | None = None
    turns: list[Turn] = field(default_factory=list)


@dataclass(frozen=True)
class RunParams:
    """The next run's parameters, as the person set them (None: the server's default)."""

    api: Api = "chat"
    stream: bool = True
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    system_prompt: str | None = None
    #: A tiktoken encoding to count with instead of the model's own.
    encoding: str | None = None


class RunSession:
    def __init__(self, connection: Connection, history: HistoryStore, *, clock: Clock = monotonic_clock, params: RunParams | None = None) -> None:
        self.connection = connection
        self.history = history
        self.writer = HistoryWriter(history)
        self.clock = clock
        self.params = params or RunParams()
        #: This session's runs, oldest first.
        self.runs: list[Run] = []
        #: Conversation mode: the turns so far (None: single prompts, each sent alone).
        self.conversation: Conversation | None = None
        self._task: asyncio.Task | None = None
        self._cancel_reason: str | None = None
        self._compares = 0
        #: What the session is doing that is not a run (a Compare warm-up), for the interface.
        self.activity: str | None = None
        #: Set by close(): the interface is being taken down and is told nothing more.
        self._closing = False
        #: Tasks started by when_idle, kept until done (the loop holds tasks only weakly).
        self._background: set[asyncio.Task] = set()

    # -- state -------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def closing(self) -> bool:
        """The session is closing (the app quits): no run is started or given back any more."""
        return self._closing

    @property
    def active(self) -> Run | None:
        """The run in progress, if any."""
        if not self.busy:
            return None
        return next((run for run in reversed(self.runs) if run.metrics.running), None)

    def when_idle(self, action: Callable[[], Awaitable[object]]) -> None:
        """Start ``action()`` once no send is live: now, if none is."""

        def start(_: object = None) -> None:
            task = asyncio.get_running_loop().create_task(action())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

        if self.busy:
            self._task.add_done_callback(start)  # type: ignore[union-attr]
        else:
            start()

    def pair_of(self, run: Run) -> Comparison | None:
        return pair_of(run, self.runs)

    # -- sending -----------------------------------------------------------------------------
    def start(self, prompt: str, listener: RunListener, *, compare: bool = False) -> asyncio.Task[list[Run]]:
        """Start sending ``prompt`` (see :meth:`send`) and return its task. The session is busy
        from this call on, so a second send handled in the same tick finds it busy."""
        if self.busy:
            raise RuntimeError("a send is already running: cancel it first")
        self._task = task = asyncio.get_running_loop().create_task(self._send(prompt, listener, compare))
        return task

    async def send(self, prompt: str, listener: RunListener, *, compare: bool = False) -> list[Run]:
        """Run ``prompt`` once with the current parameters, or as a Compare pair (streamed and
        waited, in alternating order). Returns the runs made. Cancelled by :meth:`cancel`."""
        return await self.start(prompt, listener, compare=compare)

    async def _send(self, prompt: str, listener: RunListener, compare: bool) -> list[Run]:
        try:
            if not compare:
                run = await self._new_run(prompt, self.params.stream)
                await self._execute(run, listener)
                return [run]
            return await self._compare(prompt, listener)
        finally:
            self._task = None
            self._cancel_reason = None
            self.activity = None

    async def cancel(self, reason: str | None = None) -> None:
        """Cancel the running send, if any, and wait until its run has ended (and is saved). Its
        run says ``reason``, by default that it was cancelled (and, in a Compare, that the pair
        was not compared)."""
        task = self._task
        if task is None or task.done() or task is asyncio.current_task():
            return
        self._cancel_reason = reason
        task.cancel()
        await asyncio.wait([task])

    async def _new_run(self, prompt: str, stream: bool, *, pair_id: int | None = None, first_of_pair: bool = False, overrides: dict | None = None) -> Run:
        sent_at = self.clock()  # Elapsed counts from here: reserving the number is part of the send
        params = self.params
        conversation = self.conversation if params.api != "completions" else None
        turns = tuple(conversation.turns) if conversation else ()
        request = RunRequest(
            prompt=prompt,
            model=self.connection.model or "",
            api=params.api,
            stream=stream,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            seed=params.seed,
            system_prompt=params.system_prompt if params.api != "completions" else None,
            turns=turns,
            count_encoding=params.encoding,
        )
        if overrides:
            request = replace(request, **overrides)
        number = await asyncio.to_thread(self.history.reserve_id)
        run = Run.new(request, clock=self.clock, created_at=sent_at, number=number, endpoint_label=self.connection.endpoint.label, pair_id=number if first_of_pair else pair_id)
        if conversation is not None:
            if conversation.id is None:  # this run starts it, whatever becomes of the run
                conversation.id = number
            run.conversation_id = conversation.id
            run.turn = len(turns) + 1
        self.runs.append(run)
        self.writer.start(run)
        return run

    async def _execute(self, run: Run, listener: RunListener) -> None:
        listener.run_started(run)
        saver = asyncio.create_task(self._save_while_running(run))
        try:
            await self._prepare(run, listener)
            worked_since = monotonic_clock()
            async for batch in self.connection.batches(run.request, self.clock):
                run.apply(batch)
                listener.run_changed(run)
                if monotonic_clock() - worked_since > _YIELD_EVERY:
                    # A flood may never make the loop wait: let keys and frames through. A key
                    # takes several hops through message queues; a real (if tiny) sleep lets all
                    # of them run, where sleep(0) would give them one hop per slice.
                    await asyncio.sleep(_YIELD_FOR)
                    worked_since = monotonic_clock()
            if run.metrics.running:  # the stream stopped without its final event
                run.metrics.fail("The stream ended without its final event: the partial answer is kept.", "malformed")
            # Even with the server's usage: a Compare pair compares like with like, and a streamed
            # run of the embedded model has no usage, only this count.
            run.metrics.model_tokens = await self.connection.count_model_tokens(run.text)
        except asyncio.CancelledError:
            reason = self._cancel_reason or (CANCELLED if run.metrics.chunks or run.metrics.reasoning_chunks else CANCELLED_BEFORE_TEXT)
            run.metrics.cancel(f"{reason.rstrip('.')}; {NOT_COMPARED}." if run.pair_id is not None else reason)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes the run's, in one line
            problem = _problem_of(exc)
            run.metrics.fail(problem.message, problem.kind)
        finally:
            run.note = None
            saver.cancel()
            await self._count_what_arrived(run)
            self.writer.finish(run)
            if run.metrics.state == "failed":
                log_failure(f"Run #{run.number} failed ({run.metrics.error_kind or 'unknown'}): {run.metrics.error}")
            conversation = self.conversation
            if conversation is not None and run.conversation_id == conversation.id and run.metrics.state == "done":
                conversation.turns.append(Turn(run.request.prompt, run.text))
            self._release_old_texts()
            if not self._closing:
                listener.run_ended(run)

    async def _count_what_arrived(self, run: Run) -> None:
        """A run cut off (cancelled, or failed in the app) before the stream's last count: have
        its whole text counted (by the streaming worker's token counter, which holds the
        encodings; never in the app's process), so Tokens is never behind the text: a count
        that cannot be made (the app closing, the counter not answering) leaves it uncounted."""
        answer, reasoning = run.text, run.reasoning
        if not (answer or reasoning) or run.counted_whole():
            return
        try:
            # Bounded: a worker that hangs (or is started again to count) must not hold up the
            # run's end, a cancel or quitting; the run is then saved uncounted.
            counting = self.connection.count_text(answer, reasoning, run.request.model, run.request.count_encoding)
            run.metrics.on_event(await asyncio.wait_for(counting, COUNT_WITHIN))
        except Exception as exc:  # noqa: BLE001 - a count is a figure, never a reason to lose the run
            log_failure(f"Counting run #{run.number} after its end", exc)
        except asyncio.CancelledError:  # cancelled again (the app is closing): saved uncounted
            pass
        finally:
            if not run.counted_whole():  # a live count left behind is no figure of the run
                run.metrics.drop_token_count()

    async def _prepare(self, run: Run, listener: RunListener) -> None:
        """Reach the endpoint and learn the model: the part of a run before its request."""
        connection = self.connection
        if connection.needs_start:
            run.note = "starting the embedded model…"
            listener.run_changed(run)
        await connection.ready()
        run.endpoint_label = connection.endpoint.label
        if not run.request.model:
            run.note = "asking the server which model to use…"
            listener.run_changed(run)
            run.with_model(await connection.resolve_model())
        run.note = None

    async def _save_while_running(self, run: Run) -> None:
        saved = None
        while True:
            await asyncio.sleep(save_interval(run.metrics.answer_chars + run.metrics.reasoning_chars))
            mark = (run.metrics.state, run.metrics.chunks, run.metrics.reasoning_chunks, run.request.model)
            if mark != saved:
                self.writer.save(run)
                saved = mark

    def _release_old_texts(self) -> None:
        """Keep memory flat over a long session: old runs' text lives in history only."""
        finished = [run for run in self.runs if not run.metrics.running and not run.text_released]
        for run in finished[:-KEEP_TEXT_OF]:
            run.release_text()

    # -- compare -----------------------------------------------------------------------------
    async def _compare(self, prompt: str, listener: RunListener) -> list[Run]:
        """The same prompt streamed and waited, fairly: a discarded warm-up request first, the
        same temperature and seed in both (0 and a fixed seed unless the person set them),
        and the order alternating from one Compare to the next."""
        overrides = self.fair_overrides()
        self.activity = "warming up (a discarded request)…"
        notes = await self._warm_up(prompt, overrides)
        self.activity = None
        order = (True, False) if self._compares % 2 == 0 else (False, True)
        self._compares += 1
        runs: list[Run] = []
        for stream in order:
            run = await self._new_run(prompt, stream, pair_id=runs[0].number if runs else None, first_of_pair=not runs, overrides=overrides)
            run.pair_notes = notes
            await self._execute(run, listener)
            runs.append(run)
            if run.metrics.state != "done":
                break
        return runs

    def fair_overrides(self) -> dict:
        """What a Compare pair sends that the person did not set: temperature and seed."""
        overrides: dict = {}
        if self.params.temperature is None:
            overrides["temperature"] = FAIR_TEMPERATURE
        if self.params.seed is None and self.params.api != "responses":
            overrides["seed"] = FAIR_SEED
        return overrides

    async def _warm_up(self, prompt: str, overrides: dict) -> tuple[str, ...]:
        """One short request that is not a run: it opens the connection and fills a server's
        prompt cache, so neither run of the pair pays for them alone. A fair parameter the
        server refuses (reasoning models take no temperature but their default) is dropped from
        ``overrides`` and the warm-up sent again; the notes say what was dropped."""
        notes: list[str] = []
        try:
            await self.connection.ready()
            model = self.connection.model or await self.connection.resolve_model()
            # OpenAI's Responses API refuses fewer than 16 output tokens.
            cap: int | None = WARM_UP_TOKENS_RESPONSES if self.params.api == "responses" else WARM_UP_TOKENS
            for _ in range(len(overrides) + 2):
                request = RunRequest(prompt=prompt, model=model, api=self.params.api, stream=True, max_tokens=cap, include_usage=False, **overrides)
                failure = await self._send_warm_up(request)
                if failure is None or failure.kind != "bad_request":
                    if failure is not None:
                        log_failure(f"Compare warm-up failed: {failure.message}")
                    break
                message = failure.message.lower()
                refused = [name for name in overrides if name in message]
                for name in refused:
                    notes.append(f"{name} {overrides.pop(name)} not sent: the server refused it")
                if cap is not None and ("max_tokens" in message or "max_output_tokens" in message):
                    cap = None  # no cap: the warm-up stops at its first text instead
                elif not refused:
                    log_failure(f"Compare warm-up failed: {failure.message}")
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the pair's own runs will say what is wrong
            log_failure("Compare warm-up failed", exc)
        return tuple(notes)

    async def _send_warm_up(self, request: RunRequest) -> Failed | None:
        """Send the warm-up and read it to its end, which keeps its connection for the pair (to
        its first text if it has no cap; to a few times its cap if the server ignores the cap)."""
        batches = self.connection.batches(request, self.clock)
        most_chunks = (request.max_tokens or 0) * WARM_UP_OVERRUN
        chunks = 0
        try:
            async for batch in batches:
                for event in batch:
                    if isinstance(event, Failed):
                        return event
                    if isinstance(event, (Delta, Deltas)):
                        chunks += len(event.texts) if isinstance(event, Deltas) else 1
                        if chunks > most_chunks:
                            return None
        finally:
            await batches.aclose()  # type: ignore[attr-defined]
        return None

    # -- conversation ------------------------------------------------------------------------
    def start_conversation(self) -> None:
        """Conversation mode, a new conversation: each prompt is sent with the turns so far
        (chat and responses APIs; completions has no conversation)."""
        self.conversation = Conversation()

    def end_conversation(self) -> None:
        """Back to single prompts: each is sent alone, with no memory."""
        self.conversation = None

    def continue_conversation(self, conversation_id: int, turns: list[Turn]) -> None:
        """Continue a stored conversation: its id (its first run's number) and done turns."""
        self.conversation = Conversation(conversation_id, list(turns))

    # -- closing -----------------------------------------------------------------------------
    async def close(self) -> None:
        """Cancel what runs (it is saved as cancelled), write what is queued, close connections."""
        self._closing = True
        await self.cancel("Cancelled: streamtui was closing.")
        if self._background:  # an embedded model left by a profile switch may be stopping
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.writer.flush()
        await self.connection.close()


def _problem_of(exc: BaseException) -> Problem:
    if isinstance(exc, RequestFailed):
        return exc.problem
    if isinstance(exc, UserFacingError):
        return Problem("error", str(exc))
    if isinstance(exc, (RuntimeError, TimeoutError)) and "local model server" in str(exc):
        return Problem("local_server", f"The embedded model did not start: {exc}")
    return internal_problem(exc)

