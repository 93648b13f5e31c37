"""An instrumented StreamTuiApp: knows when a frame is painted and what it showed.

The hook is ``App._display(screen, update)``, which Textual 8.2.8 calls from
``Screen._compositor_refresh`` right after ``Compositor.render_update()`` has rendered the
dirty regions into strips, i.e. once per painted frame. Headless, Textual returns from ``_display``
before turning the update into escape sequences; the probe does that work itself
(``update.render_segments(console)``, discarded) so a headless frame costs what a terminal frame
costs, minus the write(). ``Screen._dirty_widgets`` still holds the widgets this frame repainted
when ``_display`` runs (it is cleared just after), so a frame counts for the output pane or the
prompt only if that widget was repainted in it, and then it shows the widget's current content.

Nothing in tui/ is changed. The app is built as ``streamtui`` builds it (the streaming worker
process, history in the file STREAMTUI_HISTORY names); the arrival time of every answer chunk
is the time of the read that brought it (stamped in the worker when the bytes were read), recorded as the session
receives it by a streamer that wraps the worker.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events
from textual._compositor import CompositorUpdate

from tui.app import StreamTuiApp
from tui.engine.endpoint import resolve_endpoint
from tui.engine.events import Deltas
from tui.engine.history import HistoryStore
from tui.engine.settings import Settings, open_session
from tui.engine.worker_client import WorkerStreamer

perf = time.perf_counter


def make_settings(base_url: str, prompt: str = "go") -> Settings:
    return Settings(resolve_endpoint(base_url=base_url, environ={}), model="gpt-4o", prompt=prompt)


class RecordingStreamer:
    """The app's streamer (the worker), recording ``Delta.at`` of every answer chunk, in order."""

    def __init__(self, inner: WorkerStreamer) -> None:
        self.inner = inner
        self.times: list[float] = []

    async def batches(self, request, target, clock):  # type: ignore[no-untyped-def]
        times = self.times
        async for batch in self.inner.batches(request, target, clock):
            for event in batch:
                if type(event) is Deltas and event.kind == "answer":
                    times.extend([event.at] * len(event.texts))
            yield batch

    async def list_models(self, target):  # type: ignore[no-untyped-def]
        return await self.inner.list_models(target)

    async def count_text(self, answer, reasoning, model, override=None):  # type: ignore[no-untyped-def]
        return await self.inner.count_text(answer, reasoning, model, override)

    async def close(self) -> None:
        await self.inner.close()


def build_app(cls: type[StreamTuiApp], base_url: str, prompt: str = "go", **kwargs: Any) -> tuple[StreamTuiApp, RecordingStreamer]:
    """The app as ``streamtui --base-url URL --model gpt-4o --prompt go`` builds it."""
    settings = make_settings(base_url, prompt)
    streamer = RecordingStreamer(WorkerStreamer.spawn(settings.target()))
    session = open_session(settings, streamer=streamer, history=HistoryStore())
    return cls(session, prompt=prompt, freeze_heap=True, **kwargs), streamer


class GcPauses:
    """Durations of garbage collections (per generation) while installed."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        #: (start, end) of each collection, to tell which long frames were long because of GC.
        self.spans: list[tuple[float, float]] = []
        self._start = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = perf()
        else:
            end = perf()
            self.pauses.append((info["generation"], end - self._start))
            self.spans.append((self._start, end))

    def install(self) -> None:
        gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def report(self) -> dict:
        gen2 = [d for g, d in self.pauses if g == 2]
        return {
            "collections": len(self.pauses),
            "gen2": len(gen2),
            "max_ms": max((d for _, d in self.pauses), default=0.0) * 1000,
            "gen2_max_ms": max(gen2, default=0.0) * 1000,
            "by_generation": {g: (sum(1 for k, _ in self.pauses if k == g), round(max((d for k, d in self.pauses if k == g), default=0.0) * 1000, 1), round(sum(d for k, d in self.pauses if k == g) * 1000, 1)) for g in (0, 1, 2)},
            "total_ms": sum(d for _, d in self.pauses) * 1000,
        }


class FrameWork:
    """Durations of Textual's screen updates (``Screen._on_timer_update``: layout, render of the
    dirty regions, display), by patching the class while installed. Benchmark-only."""

    def __init__(self) -> None:
        self.durations: list[tuple[float, float, bool]] = []  # (end time, seconds, was a full layout)
        self._original = None

    def install(self) -> None:
        from textual.screen import Screen

        original = self._original = Screen._on_timer_update
        durations = self.durations

        def timed_on_timer_update(screen: Screen) -> None:
            layout = bool(screen._layout_required)
            start = perf()
            original(screen)
            end = perf()
            durations.append((end, end - start, layout))

        Screen._on_timer_update = timed_on_timer_update  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from textual.screen import Screen

        if self._original is not None:
            Screen._on_timer_update = self._original  # type: ignore[method-assign]

    def long_frames(self, start: float, end: float, gc_spans: list[tuple[float, float]], over: float = 0.05) -> list[tuple[float, float, bool]]:
        """Frames longer than ``over`` seconds: (ms, ms of GC inside it, was a layout)."""
        out = []
        for t, d, layout in self.durations:
            if start <= t <= end and d > over:
                in_gc = sum(max(0.0, min(t, b) - max(t - d, a)) for a, b in gc_spans)
                out.append((round(d * 1000, 1), round(in_gc * 1000, 1), layout))
        return out

    def report(self, start: float, end: float) -> dict:
        inside = [(d, layout) for t, d, layout in self.durations if start <= t <= end]
        seconds = [d for d, _ in inside]
        if not seconds:
            return {"n": 0}
        ordered = sorted(seconds)
        return {
            "n": len(seconds),
            "layouts": sum(1 for _, layout in inside if layout),
            "p50_ms": ordered[len(ordered) // 2] * 1000,
            "p95_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000,
            "max_ms": ordered[-1] * 1000,
            "total_s": sum(seconds),
            "layout_p50_ms": _median_ms([d for d, layout in inside if layout]),
            "other_p50_ms": _median_ms([d for d, layout in inside if not layout]),
        }


def _median_ms(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] * 1000 if values else float("nan")


class ProbeApp(StreamTuiApp):
    """StreamTuiApp plus a per-frame record: (time, output chunks shown, prompt length shown).

    -1 in a frame record means that widget was not repainted in that frame.
    """

    def __init__(self, *args: Any, terminal_render: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.terminal_render = terminal_render
        self.frames: list[tuple[float, int, int]] = []
        #: Called after each recorded frame with (time, output chunks or -1, prompt length or -1).
        self.frame_watchers: list[Callable[[float, int, int], None]] = []
        self.render_seconds = 0.0

    def _display(self, screen: Any, renderable: Any) -> None:
        super()._display(screen, renderable)
        if renderable is None or self._batch_count or screen is not self.screen:
            return
        if self.terminal_render and isinstance(renderable, CompositorUpdate):
            start = perf()
            renderable.render_segments(self.console)
            self.render_seconds += perf() - start
        now = perf()
        dirty = screen._dirty_widgets
        try:
            output = self.main_screen.output
            prompt = self.main_screen.prompt_input
        except Exception:  # noqa: BLE001 - before compose
            return
        shown = len(output._chunk_starts) if output in dirty else -1
        typed = len(prompt.text) if prompt in dirty else -1
        self.frames.append((now, shown, typed))
        for watcher in self.frame_watchers:
            watcher(now, shown, typed)

    # -- driving, as a terminal would: events through the driver, from any thread -----------
    def send_key(self, key: str, character: str | None = None) -> None:
        event = events.Key(key, character)
        event.set_sender(self)
        assert self._driver is not None
        self._driver.send_message(event)


def wait_for_frame(app: ProbeApp, condition: Callable[[float, int, int], bool]) -> asyncio.Future[float]:
    """A future that resolves with the time of the first frame for which ``condition`` holds."""
    future: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def watcher(now: float, shown: int, typed: int) -> None:
        if not future.done() and condition(now, shown, typed):
            future.set_result(now)
            app.frame_watchers.remove(watcher)

    app.frame_watchers.append(watcher)
    return future


#: What the typist types: words, spaces and now and then Enter (a newline in the prompt).
TYPING = "the quick brown fox jumps over the lazy dog while the answer streams in "


class Typist(threading.Thread):
    """Presses a key every ``interval`` seconds from its own thread, as a terminal's input thread
    would: the press time is taken before the event is handed to the app's loop, so a busy loop
    shows up as latency."""

    def __init__(self, app: ProbeApp, interval: float = 0.05, enter_every: int = 60) -> None:
        super().__init__(name="typist", daemon=True)
        self.app = app
        self.interval = interval
        self.enter_every = enter_every
        self.presses: list[float] = []
        self._halt = threading.Event()

    def run(self) -> None:
        due = perf()
        count = 0
        while not self._halt.is_set():
            due += self.interval
            delay = due - perf()
            if delay > 0 and self._halt.wait(delay):
                break
            count += 1
            if count % self.enter_every == 0:
                key, char = "enter", "\r"
            else:
                char = TYPING[count % len(TYPING)]
                key = "space" if char == " " else char
            self.presses.append(perf())
            self.app.send_key(key, char)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def echo_latencies(presses: list[float], frames: list[tuple[float, int, int]], base_length: int = 0) -> tuple[list[float], int]:
    """Per press k: first frame that repainted the prompt holding at least k typed characters,
    minus the press time. Returns the latencies and how many presses never showed."""
    shown = [(t, typed) for t, _, typed in frames if typed >= 0]
    latencies: list[float] = []
    index = 0
    missing = 0
    for k, pressed in enumerate(presses, start=1):
        while index < len(shown) and (shown[index][1] - base_length < k or shown[index][0] < pressed):
            index += 1
        if index == len(shown):
            missing += 1
            continue
        latencies.append(shown[index][0] - pressed)
    return latencies, missing


def display_lags(arrivals: list[float], frames: list[tuple[float, int, int]]) -> list[float]:
    """Per answer chunk i: the first frame that repainted the output pane with more than i chunks,
    minus the chunk's arrival in the worker (``Delta.at``)."""
    shown = [(t, count) for t, count, _ in frames if count >= 0]
    lags: list[float] = []
    index = 0
    for i, arrived in enumerate(arrivals):
        while index < len(shown) and (shown[index][1] <= i or shown[index][0] < arrived):
            index += 1
        if index == len(shown):
            break
        lags.append(shown[index][0] - arrived)
    return lags


def frame_gaps(frames: list[tuple[float, int, int]], start: float, end: float) -> list[float]:
    times = [t for t, _, _ in frames if start <= t <= end]
    return [b - a for a, b in zip(times, times[1:])]


def rss_mb(pid: int | None = None) -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process (or process ``pid``) in MB."""
    values = {}
    with open(f"/proc/{pid or 'self'}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, amount, _unit = line.split()
                values[name[:-1]] = int(amount) / 1024
    return values["VmRSS"], values["VmHWM"]


def child_rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of the one child of process ``pid`` (the streaming worker's token
    counter), or NaNs if it has none."""
    from tests.support.processes import child_pids

    for child in child_pids(pid):
        try:
            return rss_mb(child)
        except OSError:  # it just ended
            break
    return float("nan"), float("nan")


class StallSampler:
    """Where the event loop is stuck: a heartbeat callback runs on the loop every millisecond; a
    thread samples the main thread's stack whenever the heartbeat is older than ``threshold``.
    Each sample stands for about ``interval`` seconds of stall. Off in the suite's figures (it
    takes the GIL every few milliseconds); ``run.py --stalls`` turns it on."""

    def __init__(self, threshold: float = 0.04, interval: float = 0.005) -> None:
        self.threshold = threshold
        self.interval = interval
        self.samples: dict[str, int] = {}
        self._beat = perf()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle: asyncio.TimerHandle | None = None

    def _heartbeat(self) -> None:
        self._beat = perf()
        if not self._halt.is_set():
            self._handle = asyncio.get_running_loop().call_later(0.001, self._heartbeat)

    def start(self) -> None:
        import sys
        import traceback

        main_id = threading.main_thread().ident
        self._heartbeat()

        def sample() -> None:
            while not self._halt.wait(self.interval):
                if perf() - self._beat > self.threshold:
                    frame = sys._current_frames().get(main_id)  # noqa: SLF001
                    if frame is None:
                        continue
                    stack = traceback.extract_stack(frame)
                    prefix = ""
                    if stack and stack[-1].name == "_callback" and stack[-1].filename == __file__:
                        # The GIL comes back to this thread only once a collection is over, in the
                        # GcPauses callback: the stall was a garbage collection.
                        prefix = "garbage collection, triggered in "
                        stack = stack[:-1]
                    ours = [f"{Path(f.filename).stem}.{f.name}" for f in stack if "/tui/" in f.filename]
                    inner = [f"{Path(f.filename).stem}.{f.name}" for f in stack[-2:]]
                    key = prefix + " > ".join(ours[-3:]) + "  [" + " > ".join(inner) + "]"
                    self.samples[key] = self.samples.get(key, 0) + 1

        self._thread = threading.Thread(target=sample, name="stall-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> list[tuple[str, float]]:
        """The stall sites, most time first: (stack, approximate milliseconds stalled there)."""
        self._halt.set()
        if self._handle is not None:
            self._handle.cancel()
        if self._thread is not None:
            self._thread.join()
        ranked = sorted(self.samples.items(), key=lambda item: -item[1])
        return [(site, count * self.interval * 1000) for site, count in ranked[:12]]
