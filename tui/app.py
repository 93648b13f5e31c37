"""streamtui: type a prompt, watch the answer stream in, and read its latency live.

The app is a thin shell: it holds the session, shows the main screen, keeps the global keys
(quit, the command palette) and watches every worker, so no failure goes unseen. Screens own
their layout and their keys; the session (``engine.session``) owns the runs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from .commands import MainScreenCommands
from .engine.heap import return_big_blocks
from .engine.session import RunSession
from .screens.main import MainScreen
from .screens.watched import report_worker_failure

if TYPE_CHECKING:
    from textual.timer import Timer

    from .profiles import Profiles


class StreamTuiApp(App[None]):
    TITLE = "streamtui"
    #: Ctrl+P lists every main-screen action beside Textual's own (themes, quit, screenshot).
    COMMANDS = App.COMMANDS | {MainScreenCommands}
    #: The main screen is a mode's base screen (not the default screen), so its CSS_PATH loads.
    DEFAULT_MODE = "main"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        session: RunSession,
        *,
        prompt: str = "",
        profiles: Profiles | None = None,
        theme: str | None = None,
        config_path: Path | None = None,
        frame_interval: float = 1 / 120,
        tick_interval: float = 0.1,
        freeze_heap: bool = False,
    ) -> None:
        super().__init__()
        #: Tune memory for streaming, as the command line does (tests build many apps in one
        #: process): big freed blocks go back to the system, the heap of imports and the first
        #: screen is frozen out of the collector's way once drawn, and sends' leftover cycles
        #: are collected (see send_ended).
        self.freeze_heap = freeze_heap
        self.session = session
        #: The theme the config file remembers (applied at mount), and where to remember a new one.
        self.initial_theme = theme
        self.config_path = config_path
        self._main = MainScreen(session, prompt=prompt, profiles=profiles, frame_interval=frame_interval, tick_interval=tick_interval)
        self.add_mode("main", lambda: self._main)
        #: Keys typed before the prompt could take them (type-ahead while the app starts), in order.
        self._early_input: list[events.Event] | None = []
        #: Sends ended since the last full collection, and the collection waiting for idleness.
        self._sends_uncollected = 0
        self._idle_collection: Timer | None = None

    async def on_event(self, event: events.Event) -> None:
        """Hold the keys and pastes that arrive before the prompt has focus, so a person who
        types while the app starts loses nothing; the main screen lets them through."""
        if self._early_input is not None and isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            self._early_input.append(event)
            return
        if self._idle_collection is not None and isinstance(event, (events.Key, events.Paste, events.MouseDown)):
            self._idle_collection.reset()  # the person is not idle: the collection waits
        await super().on_event(event)

    async def release_early_input(self) -> None:
        """The prompt has focus: deliver what was typed meanwhile, in order, before any later key
        (this runs as one of the app's own messages, so nothing can come between)."""
        held, self._early_input = self._early_input or [], None
        for event in held:
            await super().on_event(event)

    @property
    def main_screen(self) -> MainScreen:
        return self._main

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker of the app's own that failed is shown in one line and logged (screens
        report theirs the same way: see screens/watched.py)."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            report_worker_failure(self, event.worker)

    def on_mount(self) -> None:
        if self.freeze_heap:
            return_big_blocks()
            self.call_after_refresh(_out_of_the_collectors_way)
        if self.initial_theme:
            if self.initial_theme in self.available_themes:
                self.theme = self.initial_theme
            else:
                self.notify(f"Unknown theme {self.initial_theme!r} in the config file; using {self.theme}.", severity="warning", timeout=6, markup=False)
        if self.config_path is not None:
            self.theme_changed_signal.subscribe(self, self._remember_theme)

    def send_ended(self) -> None:
        """A send is over. With the collector tuned for streaming (see below), the cycles its
        runs left behind (replaced footer keys, tasks, frames) could wait long for a full
        collection: memory grew by about 200 kB a send (benchmarks/run.py --only memory, 60
        send-and-cancel cycles). A full collection costs up to 130 ms after a long answer, so
        it comes once the person is idle (no key for a second, no send running), and at the
        latest at every tenth send's end, so quick sends cannot pile the cycles up."""
        if not self.freeze_heap:
            return
        self._sends_uncollected += 1
        if self._sends_uncollected >= _COLLECT_AFTER_SENDS:
            self.call_after_refresh(self._collect_unless_busy)
        elif self._idle_collection is None:
            self._idle_collection = self.set_timer(_IDLE_BEFORE_COLLECTING, self._collect_unless_busy)
        else:
            self._idle_collection.reset()

    def _collect_unless_busy(self) -> None:
        if self._idle_collection is not None:
            self._idle_collection.stop()
            self._idle_collection = None
        if not self.session.busy:  # else the send running now tries again when it ends
            import gc

            gc.collect()
            self._sends_uncollected = 0

    def _remember_theme(self, theme) -> None:  # noqa: ANN001 - a textual Theme
        self._save_theme(theme.name)

    @work(group="theme", exit_on_error=False)
    async def _save_theme(self, name: str) -> None:
        """Write a theme picked in the app to the config file, and say where (or why not)."""
        from .engine import format as fmt
        from .profiles import remember_theme

        written, problem = await asyncio.to_thread(remember_theme, self.config_path, name)
        if written:
            self.notify(f"Theme {name}: saved in {fmt.path(self.config_path)}, for the next launch too.", timeout=4, markup=False)
        elif problem is not None:
            self.notify(f"Theme {name}, for this session only: not saved in the config file ({problem}).", severity="warning", timeout=6, markup=False)

    async def on_unmount(self) -> None:
        await self.session.close()


#: No key for this long after a send's end: the person is idle, the collection can come.
_IDLE_BEFORE_COLLECTING = 1.0
#: Sends that may end without a collection, however busy the person is.
_COLLECT_AFTER_SENDS = 10


def _out_of_the_collectors_way() -> None:
    """Every full collection walked the ~75,000 objects of the imports and the first screen, and
    young ones came every 700 allocations: a streaming frame allocates thousands of strips and
    segments, and collections took 5 % of the loop with pauses up to 60 ms (benchmarks/run.py
    --only lag). Frozen, those objects are never walked; collections come less often."""
    import gc

    gc.freeze()
    gc.enable()  # the command ran the imports with it off (tui/launch.py)
    # Young collections every 10,000 allocations, not 700: a streaming frame allocates thousands
    # of strips and segments (measured on 20k tokens at 500/s: 3,300 collections and 2.9 s of
    # pauses became 100 and 1.0 s; 2,000 and 5,000 were no better, 20,000 had longer pauses).
    # The older generations come as often as before in collections, so cyclic garbage still goes
    # within a few million allocations.
    gc.set_threshold(10_000, 10, 10)

