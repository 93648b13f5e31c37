"""One measurement in a fresh interpreter: ``python -m benchmarks.child SCENARIO JSON_ARGS``.

Prints ``RESULT {json}`` as its last line. Every scenario that runs the app runs it in a process
of its own (a clean heap for the memory figures, no warm caches from another benchmark), and the
scripted server always runs in yet another process (see run.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

perf = time.perf_counter
#: Taken as early as possible: startup scenarios report how long the imports took.
T_IMPORTS_START = perf()


def emit(result: dict) -> None:
    print("RESULT " + json.dumps(result), flush=True)


# --------------------------------------------------------------------------- baselines


async def _sdk(base_url: str, n: int) -> dict:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=120)
    # Warm: the connection is open and the SDK's lazy imports are done, so the baseline times
    # the stream alone (the app's first send is measured cold, its second warm).
    await client.models.list()
    client.chat.completions  # noqa: B018 - imports openai.resources.chat on first access
    chunks = 0
    first = last = 0.0
    start = perf()
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "go"}], stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            chunks += 1
            last = perf()
            if chunks == 1:
                first = last
    await client.close()
    return {"seconds": last - start, "ttft": first - start, "chunks": chunks}


async def _engine(base_url: str, n: int) -> dict:
    from openai import AsyncOpenAI

    from tui.engine.events import Delta
    from tui.engine.request import RunRequest
    from tui.engine.stream import stream_batches

    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=120)
    await client.models.list()  # warm, as in _sdk
    client.chat.completions  # noqa: B018
    chunks = 0
    last = 0.0
    start = perf()
    async for batch in stream_batches(client, RunRequest(prompt="go", model="gpt-4o"), perf):
        for event in batch:
            if type(event) is Delta:
                chunks += 1
                last = event.at
    await client.close()
    return {"seconds": last - start, "chunks": chunks}


# --------------------------------------------------------------------------- the app, streaming


async def _app_stream(
    base_url: str,
    n: int,
    *,
    typing: bool = False,
    interval: float = 0.05,
    timeout: float = 120.0,
    sends: int = 1,
    profile: str | None = None,
    terminal_render: bool = True,
    stalls: bool = False,
) -> dict:
    """Run the app headless, send the prompt ``sends`` times, and measure each answer of ``n``
    chunks until it is all on screen. The first send's figures are the result's top level; a
    second send's (a warm client and connection) are under ``"warm"``."""
    import gc

    from benchmarks.probe import FrameWork, ProbeApp, build_app, rss_mb

    frame_work = FrameWork()
    frame_work.install()
    app, recorder = build_app(ProbeApp, base_url, terminal_render=terminal_render)
    result: dict = {"history": True}
    async with app.run_test(size=(140, 45)) as pilot:
        main = app.main_screen
        # Idle and ready: first frame painted, prompt focused and holding the prompt, the
        # streaming worker warm (as the SDK baseline is). What a send costs before that is the
        # launch benchmark's, through a real terminal.
        await pilot.pause()
        assert app.focused is main.prompt_input, app.focused
        assert await recorder.inner.wait_ready(), "the streaming worker did not get ready"
        await asyncio.sleep(0.2)
        result["rss_idle_mb"], _ = rss_mb()
        result["gc_idle"] = {"tracked": len(gc.get_objects()), "frozen": gc.get_freeze_count()}
        for index in range(sends):
            if index:
                main.prompt_input.load_text("go")
                await pilot.pause(0.2)
            figures = await _measure_send(
                app, pilot, recorder, frame_work, n, typing=typing, interval=interval, timeout=timeout,
                profile=profile if index == 0 else None, stalls=stalls,
            )
            if index == 0:
                result.update(figures)
            else:
                result["warm"] = figures
        result["rss_after_mb"], result["rss_peak_mb"] = rss_mb()
        result["worker_rss_after_mb"], result["worker_rss_peak_mb"] = rss_mb(recorder.inner.pid)
        result["gc_after"] = {"tracked": len(gc.get_objects()), "frozen": gc.get_freeze_count()}
    frame_work.uninstall()
    recorder.inner.stop()
    return result


async def _measure_send(app, pilot, recorder, frame_work, n: int, *, typing: bool, interval: float, timeout: float, profile: str | None, stalls: bool) -> dict:  # type: ignore[no-untyped-def]
    from benchmarks.common import summary
    from benchmarks.probe import GcPauses, StallSampler, Typist, display_lags, echo_latencies, frame_gaps, wait_for_frame

    main = app.main_screen
    arrivals = recorder.times
    arrivals.clear()
    gc_pauses = GcPauses()
    gc_pauses.install()
    previous = main.current
    # All n chunks of the new run in the pane, and a frame that repainted the pane since.
    done = wait_for_frame(app, lambda now, shown, typed: shown >= n and main.current is not previous)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    sampler = StallSampler() if stalls else None
    if sampler is not None:
        sampler.start()
    cpu0 = time.process_time()
    start = perf()
    app.send_key("ctrl+j")
    # The run exists once the pane is cleared and before any chunk: frames from here on are its.
    async with asyncio.timeout(10):
        while main.current is previous:
            await asyncio.sleep(0.001)
    first_frame = len(app.frames)
    typist = None
    if typing:
        # Type only once the send has cleared the prompt, so the prompt holds only typed keys.
        async with asyncio.timeout(10):
            while main.prompt_input.text:
                await asyncio.sleep(0.001)
        typist = Typist(app, interval=interval)
        typist.start()
    try:
        painted = await asyncio.wait_for(done, timeout)
    except TimeoutError:
        painted = float("nan")
    if typist is not None:
        typist.stop()
    end_cpu = time.process_time()
    end = perf()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    stall_sites = sampler.stop() if sampler is not None else None
    async with asyncio.timeout(30):
        while app.session.busy:
            await asyncio.sleep(0.01)
    await pilot.pause(0.3)  # the last typed keys reach the screen
    gc_pauses.uninstall()
    run = main.current
    frames = app.frames[first_frame:]
    figures: dict = {
        "n": n,
        "on_screen_s": painted - start,
        "last_arrival_s": (arrivals[-1] - start) if arrivals else float("nan"),
        "first_arrival_s": (arrivals[0] - start) if arrivals else float("nan"),
        "chunks_arrived": len(arrivals),
        "chunks_in_pane": len(main.output._chunk_starts),
        "state": run.metrics.state if run else None,
        "cpu_pct": 100 * (end_cpu - cpu0) / (end - start),
        "frames": sum(1 for t, _, _ in frames if start <= t <= end),
        "frame_gap": summary(frame_gaps(frames, start, end)),
        "frame_work": frame_work.report(start, end),
        "long_frames": frame_work.long_frames(start, end, gc_pauses.spans),
        "gc": gc_pauses.report(),
        "display_lag": summary(display_lags(arrivals, frames)),
    }
    if stall_sites is not None:
        figures["stalls"] = stall_sites
    if typist is not None:
        latencies, missing = echo_latencies(typist.presses, frames)
        figures["echo"] = summary(latencies)
        figures["echo"]["missing"] = missing
        figures["presses"] = len(typist.presses)
        # The slowest presses and when they happened (seconds after the send): for the analysis.
        pairs = sorted(zip(latencies, typist.presses), reverse=True)[:5]
        figures["echo_worst"] = [(round(pressed - start, 3), round(latency * 1000, 1)) for latency, pressed in pairs]
    # The last chunk really is in the visible rows of the pane.
    output = main.output
    visible = "".join(output.render_line(y).text for y in range(output.size.height))
    last_words = output.text.rstrip().split()[-1:] or [""]
    figures["last_word_visible"] = last_words[0] in visible
    return figures


async def _cycles(base_url: str, cycles: int, chunks_before_cancel: int) -> dict:
    """Send and cancel ``cycles`` times (each run streams a while, then Escape); RSS after each."""
    from benchmarks.probe import ProbeApp, build_app, rss_mb

    app, recorder = build_app(ProbeApp, base_url)
    rss: list[float] = []
    worker_rss: list[float] = []
    async with app.run_test(size=(140, 45)) as pilot:
        main = app.main_screen
        await pilot.pause()
        await recorder.inner.wait_ready()
        for _ in range(cycles):
            main.prompt_input.load_text("go")
            previous = main.current
            app.send_key("ctrl+j")
            async with asyncio.timeout(30):
                while main.current is previous or main.current.metrics.chunks < chunks_before_cancel:
                    await asyncio.sleep(0.002)
            app.send_key("escape")
            async with asyncio.timeout(30):
                while app.session.busy:
                    await asyncio.sleep(0.002)
            await pilot.pause()
            rss.append(rss_mb()[0])
            worker_rss.append(rss_mb(recorder.inner.pid)[0])
        runs = len(app.session.runs)
        cancelled = sum(1 for run in app.session.runs if run.metrics.state == "cancelled")
    recorder.inner.stop()
    return {"rss_mb": rss, "worker_rss_mb": worker_rss, "runs": runs, "cancelled": cancelled}


async def _big(base_url: str, n: int, timeout: float) -> dict:
    """One answer of ``n`` chunks (or one huge chunk): peak and final RSS of both processes."""
    from benchmarks.probe import ProbeApp, build_app, child_rss_mb, rss_mb

    app, recorder = build_app(ProbeApp, base_url)
    async with app.run_test(size=(140, 45)) as pilot:
        main = app.main_screen
        await pilot.pause()
        await recorder.inner.wait_ready()
        await asyncio.sleep(0.5)
        idle, _ = rss_mb()
        start = perf()
        app.send_key("ctrl+j")
        async with asyncio.timeout(timeout):
            while not (main.current is not None and not app.session.busy):
                await asyncio.sleep(0.01)
        seconds = perf() - start
        await pilot.pause(0.5)
        run = main.current
        after, peak = rss_mb()
        worker_after, worker_peak = rss_mb(recorder.inner.pid)
        _counter_after, counter_peak = child_rss_mb(recorder.inner.pid)
        figures = {"idle_mb": idle, "after_mb": after, "peak_mb": peak, "worker_after_mb": worker_after, "worker_peak_mb": worker_peak, "counter_peak_mb": counter_peak,
                   "seconds": seconds, "chunks": run.metrics.chunks, "chars": run.metrics.answer_chars, "state": run.metrics.state}
    recorder.inner.stop()
    return figures


# --------------------------------------------------------------------------- startup


def _startup(kind: str, base_url: str = "http://127.0.0.1:9/v1") -> dict:
    """Construct and run an app headless; report the first painted frame with the prompt focused."""
    if kind == "hello":
        from textual.app import App
        from textual.widgets import Input

        t_imported = perf()
        ready: dict = {}

        class Hello(App[None]):
            def compose(self):
                yield Input(placeholder="Hello")

            def _display(self, screen, renderable):  # type: ignore[no-untyped-def]
                super()._display(screen, renderable)
                if renderable is not None and not ready and isinstance(self.focused, Input):
                    renderable.render_segments(self.console)
                    ready["at"] = perf()
                    self.exit()

        app: object = Hello()
    else:
        # What ``streamtui --base-url URL --model gpt-4o`` imports and builds (tui.cli.main), plus
        # only a _display hook: the probe module is not imported here, to keep its imports out.
        from tui.cli import _start_worker, build_parser, build_settings

        streamer = _start_worker()  # first of all, as tui.cli.main starts it
        from textual._compositor import CompositorUpdate

        import tui.app

        t_imported = perf()
        args = build_parser().parse_args(["--base-url", base_url, "--model", "gpt-4o"])
        ready = {}

        class Probe(tui.app.StreamTuiApp):
            def _display(self, screen, renderable):  # type: ignore[no-untyped-def]
                super()._display(screen, renderable)
                if renderable is None or ready:
                    return
                if isinstance(renderable, CompositorUpdate):
                    renderable.render_segments(self.console)  # what a terminal frame would cost
                if self.focused is not None and self.focused is self.main_screen.prompt_input:
                    ready["at"] = perf()
                    self.exit()

        from tui.engine.history import HistoryStore
        from tui.engine.settings import open_session
        settings = build_settings(args)
        streamer.warm(settings.target(), settings.api)
        session = open_session(settings, streamer=streamer, history=HistoryStore())
        app = Probe(session)
    t_constructed = perf()
    app.run(headless=True, size=(140, 45))  # type: ignore[attr-defined]
    return {
        "imports_start": T_IMPORTS_START,
        "imported": t_imported,
        "constructed": t_constructed,
        "ready": ready.get("at", float("nan")),
    }


# --------------------------------------------------------------------------- token counting


def _tokens(total_tokens: int, chunk_chars: int, full_prefix_chunks: int) -> dict:
    from benchmarks.mdtext import markdown
    from tui.engine.tokens import IncrementalTokenCounter, load_encoding

    enc = load_encoding("o200k_base")
    text = markdown(total_tokens * 5)
    tokens = enc.encode_ordinary(text)
    # Cut the text at exactly ``total_tokens`` tokens' worth of characters.
    text = enc.decode(tokens[:total_tokens])
    chunks = [text[i : i + chunk_chars] for i in range(0, len(text), chunk_chars)]

    counter = IncrementalTokenCounter(enc)
    add, count = counter.add, counter.count
    start = perf()
    for piece in chunks:
        add(piece)
        count()
    incremental_s = perf() - start
    expected = len(enc.encode_ordinary(text))
    final = counter.count()

    # Spot checks along the way: the count equals a full encode at several prefixes.
    checks = 0
    spot = IncrementalTokenCounter(enc)
    so_far = []
    marks = {len(chunks) * k // 20 for k in range(1, 21)} | {1, 2, 3}
    for i, piece in enumerate(chunks, start=1):
        spot.add(piece)
        so_far.append(piece)
        if i in marks:
            assert spot.count() == len(enc.encode_ordinary("".join(so_far))), f"mismatch after {i} chunks"
            checks += 1

    # The naive way on a prefix only (it is quadratic): re-encode everything after every chunk.
    prefix = chunks[:full_prefix_chunks]
    start = perf()
    acc = ""
    for piece in prefix:
        acc += piece
        len(enc.encode_ordinary(acc))
    full_prefix_s = perf() - start
    # And what one chunk would cost the naive way at the end of the whole text.
    start = perf()
    for _ in range(3):
        enc.encode_ordinary(text)
    full_at_end_s = (perf() - start) / 3
    return {
        "tokens": expected,
        "chars": len(text),
        "chunks": len(chunks),
        "incremental_us_per_chunk": incremental_s / len(chunks) * 1e6,
        "incremental_total_s": incremental_s,
        "counts_equal": final == expected,
        "spot_checks": checks,
        "full_prefix_chunks": len(prefix),
        "full_prefix_chars": len(acc),
        "full_us_per_chunk_prefix": full_prefix_s / len(prefix) * 1e6,
        "full_us_per_chunk_at_end": full_at_end_s * 1e6,
        "full_total_estimate_s": full_at_end_s * len(chunks) / 2,
    }


# --------------------------------------------------------------------------- first send while warm


async def _first_send(base_url: str) -> dict:
    """A worker spawned as the TUI spawns it (with the encoding its counter is to build); a run
    sent the moment it says it is warm, then a second one: send → first chunk in the app, each.
    The first used to wait for the encoding's build, then for what its request loaded."""
    from tui.engine.clock import monotonic_clock
    from tui.engine.events import Delta, Deltas
    from tui.engine.request import RunRequest
    from tui.engine.target import Target
    from tui.engine.worker_client import WorkerStreamer

    target = Target(base_url, "bench")
    worker = WorkerStreamer.spawn(target, encoding="o200k_base")
    try:
        await worker.wait_ready()
        firsts = []
        for _ in range(2):
            sent = perf()
            first = None
            async for batch in worker.batches(RunRequest("go", "gpt-4o"), target, monotonic_clock):
                if first is None and any(isinstance(event, (Delta, Deltas)) for event in batch):
                    first = perf() - sent
            firsts.append(first)
        return {"first": firsts[0], "second": firsts[1]}
    finally:
        worker.stop()


# --------------------------------------------------------------------------- entry


def main() -> None:
    scenario = sys.argv[1]
    args = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    if scenario == "sdk":
        emit(asyncio.run(_sdk(args["base_url"], args["n"])))
    elif scenario == "engine":
        emit(asyncio.run(_engine(args["base_url"], args["n"])))
    elif scenario == "app_stream":
        base_url = args.pop("base_url")
        n = args.pop("n")
        emit(asyncio.run(_app_stream(base_url, n, **args)))
    elif scenario == "cycles":
        emit(asyncio.run(_cycles(**args)))
    elif scenario == "big":
        emit(asyncio.run(_big(**args)))
    elif scenario == "startup":
        emit(_startup(**args))
    elif scenario == "tokens":
        emit(_tokens(**args))
    elif scenario == "first_send":
        emit(asyncio.run(_first_send(**args)))
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")


if __name__ == "__main__":
    main()
