"""streamtui benchmarks: ``python benchmarks/run.py [--quick] [--only NAME ...] [--save-baseline]``.

Each measurement runs in a fresh interpreter (``benchmarks/child.py``); the scripted
OpenAI-compatible server runs in another process on 127.0.0.1. Prints one table: the figure,
the baseline measured in the same run (where there is one), their ratio, the goal and whether it
is met, and the change against ``benchmarks/baseline.json`` (an earlier run's figures).
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import tmux  # noqa: E402
from benchmarks.common import (  # noqa: E402
    PYTHON,
    ROOT,
    cpu_ticks,
    machine,
    paced_server,
    run_child,
    scripted_server,
    stolen_share,
)
from benchmarks.mdtext import markdown_words  # noqa: E402

BASELINE = Path(__file__).resolve().parent / "baseline.json"
NAMES = ("firehose", "paced", "lag", "startup", "launch", "tokens", "memory")
#: The streamtui command of the environment running the benchmarks (its venv's console script).
STREAMTUI = str(Path(PYTHON).with_name("streamtui"))
perf = time.perf_counter


@dataclass
class Row:
    bench: str
    figure: str
    value: float
    unit: str  # "s", "ms", "us", "MB", "%", "" (a count or a ratio), "bool"
    key: str  # stable name in baseline.json
    base: float | None = None  # the baseline measured in this run
    goal: str = ""
    passed: bool | None = None  # None: informational

    @property
    def ratio(self) -> float | None:
        if self.base is None or not self.base or self.value is None or math.isnan(self.value):
            return None
        return self.value / self.base


@dataclass
class Options:
    quick: bool
    profile_dir: Path | None
    stalls: bool = False
    repeats: int = 3
    details: dict = field(default_factory=dict)


def _median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def _ms(seconds: float) -> float:
    return seconds * 1000


def _profile_args(options: Options, name: str) -> dict:
    """Options for an app run: cProfile into DIR/NAME.prof, stall sampling (analysis aids)."""
    args: dict = {"stalls": True} if options.stalls else {}
    if options.profile_dir is not None:
        options.profile_dir.mkdir(parents=True, exist_ok=True)
        args["profile"] = str(options.profile_dir / f"{name}.prof")
    return args


# --------------------------------------------------------------------------- 1. firehose


def bench_firehose(options: Options) -> list[Row]:
    n = 10_000 if options.quick else 20_000
    big = 50_000 if options.quick else 200_000
    repeats = 1 if options.quick else options.repeats
    rows: list[Row] = []
    with scripted_server("--firehose", str(n)) as url:
        sdk = [run_child("sdk", {"base_url": url, "n": n}) for _ in range(repeats)]
        engine = [run_child("engine", {"base_url": url, "n": n}) for _ in range(repeats)]
        app = [run_child("app_stream", {"base_url": url, "n": n, "sends": 2, **_profile_args(options, f"firehose{n}")}) for _ in range(repeats)]
        tmux_times = _tmux_firehose(url, n, repeats) if tmux.available() else {}
    options.details["firehose"] = {"sdk": sdk, "engine": engine, "app": app, "tmux_s": tmux_times}
    for result in sdk + engine + app:
        _check_chunks(result, n)
    sdk_s = _median(sdk, "seconds")
    app_s = _median(app, "on_screen_s")
    tag = f"{n // 1000}k"
    rows.append(Row("firehose", f"SDK typed-chunk loop, {tag} chunks (baseline)", sdk_s, "s", f"firehose.{n}.sdk_s"))
    rows.append(Row("firehose", f"engine alone (stream_batches), {tag}", _median(engine, "seconds"), "s", f"firehose.{n}.engine_s", base=sdk_s))
    rows.append(Row("firehose", f"streamtui: last chunk arrived in worker, {tag}", _median(app, "last_arrival_s"), "s", f"firehose.{n}.arrived_s", base=sdk_s))
    ok = all(r["chunks_in_pane"] == n and r["last_word_visible"] for r in app)
    rows.append(Row("firehose", f"streamtui headless: send → last chunk on screen, {tag}", app_s, "s", f"firehose.{n}.on_screen_s", base=sdk_s, goal="ratio ≤ 0.5", passed=ok and app_s / sdk_s <= 0.5))
    if tmux_times:
        bare_tmux, app_tmux = statistics.median(tmux_times["bare"]), statistics.median(tmux_times["app"])
        rows.append(Row("firehose", f"bare SDK script in tmux: first → last chunk on screen, {tag} (baseline)", bare_tmux, "s", f"firehose.{n}.tmux_bare_s"))
        rows.append(Row("firehose", f"streamtui in tmux: first → last chunk on screen, {tag}", app_tmux, "s", f"firehose.{n}.tmux_s", base=bare_tmux, goal="ratio ≤ 0.5", passed=app_tmux / bare_tmux <= 0.5))
    rows.append(Row("firehose", f"  first chunk arrived in worker (first send), {tag}", _median(app, "first_arrival_s"), "s", f"firehose.{n}.first_arrival_s"))
    warm = [r["warm"] for r in app]
    rows.append(Row("firehose", f"  second send (warm client): last chunk on screen, {tag}", _median(warm, "on_screen_s"), "s", f"firehose.{n}.warm_on_screen_s", base=sdk_s))
    rows.append(Row("firehose", f"  second send: first chunk arrived in worker, {tag}", _median(warm, "first_arrival_s"), "s", f"firehose.{n}.warm_first_arrival_s"))
    rows.append(Row("firehose", f"  display lag p95 during {tag}", _ms(statistics.median(r["display_lag"]["p95"] for r in app)), "ms", f"firehose.{n}.lag_p95_ms"))
    rows.append(Row("firehose", f"  frames painted during {tag}", statistics.median(r["frames"] for r in app), "", f"firehose.{n}.frames"))
    rows.append(Row("firehose", "  longest gap between frames", _ms(statistics.median(r["frame_gap"]["max"] for r in app)), "ms", f"firehose.{n}.max_frame_gap_ms"))

    # The same flood as llama.cpp and vLLM write it: one SSE event per write, flushed.
    with scripted_server("--firehose", str(n), "--write-each") as url:
        sdk_each = [run_child("sdk", {"base_url": url, "n": n}) for _ in range(repeats)]
        engine_each = [run_child("engine", {"base_url": url, "n": n}) for _ in range(repeats)]
        app_each = [run_child("app_stream", {"base_url": url, "n": n}) for _ in range(repeats)]
    options.details["firehose_write_each"] = {"sdk": sdk_each, "engine": engine_each, "app": app_each}
    for result in sdk_each + app_each:
        _check_chunks(result, n)
    sdk_each_s = _median(sdk_each, "seconds")
    each_s = _median(app_each, "on_screen_s")
    ok = all(r["chunks_in_pane"] == n and r["last_word_visible"] for r in app_each)
    rows.append(Row("firehose", f"SDK typed-chunk loop, {tag}, one event per write (baseline)", sdk_each_s, "s", f"firehose.{n}.each.sdk_s"))
    rows.append(Row("firehose", f"  engine alone (stream_batches), {tag}, one event per write", _median(engine_each, "seconds"), "s", f"firehose.{n}.each.engine_s", base=sdk_each_s))
    rows.append(Row("firehose", f"  streamtui: last chunk arrived in the app, {tag}, one event per write", _median(app_each, "last_arrival_s"), "s", f"firehose.{n}.each.arrived_s", base=sdk_each_s))
    rows.append(Row("firehose", f"streamtui headless: send → last chunk on screen, {tag}, one event per write", each_s, "s", f"firehose.{n}.each.on_screen_s", base=sdk_each_s, goal="ratio ≤ 0.5", passed=ok and each_s / sdk_each_s <= 0.5))

    # The big one: everything arrives, everything is shown, and typing stays responsive.
    with scripted_server("--firehose", str(big)) as url:
        engine_big = run_child("engine", {"base_url": url, "n": big})
        app_big = run_child("app_stream", {"base_url": url, "n": big, "typing": True, **_profile_args(options, f"firehose{big}")})
    options.details["firehose_big"] = {"engine": engine_big, "app": app_big}
    _check_chunks(engine_big, big)
    tag = f"{big // 1000}k"
    ok = app_big["chunks_in_pane"] == big and app_big["last_word_visible"] and not math.isnan(app_big["on_screen_s"])
    rows.append(Row("firehose", f"engine alone, {tag} chunks (baseline)", engine_big["seconds"], "s", f"firehose.{big}.engine_s"))
    rows.append(Row("firehose", f"streamtui headless: send → all {tag} on screen", app_big["on_screen_s"], "s", f"firehose.{big}.on_screen_s", base=engine_big["seconds"], goal="all shown", passed=ok))
    echo = app_big["echo"]
    rows.append(Row("firehose", f"  key echo p50 while {tag} streams (every 50 ms, n={echo['n']})", _ms(echo["p50"]), "ms", f"firehose.{big}.echo_p50_ms"))
    rows.append(Row("firehose", f"  key echo p95 while {tag} streams", _ms(echo["p95"]), "ms", f"firehose.{big}.echo_p95_ms"))
    rows.append(Row("firehose", f"key echo max while {tag} streams", _ms(echo["max"]), "ms", f"firehose.{big}.echo_max_ms", goal="≤ 100 ms", passed=echo["max"] <= 0.1 and not echo["missing"]))
    rows.append(Row("firehose", f"  longest GC pause during {tag}", app_big["gc"]["max_ms"], "ms", f"firehose.{big}.gc_max_ms"))
    rows.append(Row("firehose", f"  longest gap between frames during {tag}", _ms(app_big["frame_gap"]["max"]), "ms", f"firehose.{big}.max_frame_gap_ms"))
    return rows


def _check_chunks(result: dict, n: int) -> None:
    got = result.get("chunks", result.get("chunks_arrived"))
    if got != n:
        raise RuntimeError(f"expected {n} chunks, got {got}: {result}")


def _tmux_firehose(url: str, n: int, repeats: int) -> dict[str, list[float]]:
    """Through a real terminal, both launched as a person launches them (streamtui sent the
    moment its prompt shows): from the first chunk on screen to the last, for streamtui and for
    the bare SDK script printing every chunk into the same kind of pane. Startup is left out of
    both: the launch benchmark measures it."""
    times: dict[str, list[float]] = {"bare": [], "app": []}
    last = f"tok{n - 1}"
    with tmux.tmux_server():
        for i in range(repeats):
            for kind, command, send in (("bare", _bare_command(url), False), ("app", _app_command(url), True)):
                with tmux.pane(command, f"f{kind}{i}", env=_pane_env()) as (target, _):
                    if send:
                        tmux.wait_for_text(target, lambda screen: "Prompt" in screen, 20)
                        tmux.send_keys(target, "C-j")
                    first, _ = tmux.wait_for_text(target, lambda screen: "tok" in screen, 60)
                    seen, _ = tmux.wait_for_text(target, lambda screen: last in screen, 60)
                    times[kind].append(seen - first)
    return times


# --------------------------------------------------------------------------- 2. paced


def bench_paced(options: Options) -> list[Row]:
    n = 2_000 if options.quick else 20_000
    rate = 500.0
    ideal = n / rate
    with paced_server(markdown_words(n), rate) as url:
        app = run_child("app_stream", {"base_url": url, "n": n, "typing": True, "timeout": ideal * 3, **_profile_args(options, f"paced{n}")})
    options.details["paced"] = app
    tag = f"{n // 1000}k at {rate:.0f}/s"
    over = app["on_screen_s"] - ideal
    echo = app["echo"]
    rows = [
        Row("paced", f"send → last chunk on screen, {tag} (ideal {ideal:.0f} s)", app["on_screen_s"], "s", f"paced.{n}.on_screen_s", base=ideal, goal="within 2%", passed=abs(over) <= 0.02 * ideal and app["chunks_in_pane"] == n),
        Row("paced", "  run end − ideal", over, "s", f"paced.{n}.over_s"),
        Row("paced", f"  key echo p50 (every 50 ms, n={echo['n']})", _ms(echo["p50"]), "ms", f"paced.{n}.echo_p50_ms"),
        Row("paced", "key echo p95", _ms(echo["p95"]), "ms", f"paced.{n}.echo_p95_ms", goal="≤ 50 ms", passed=echo["p95"] <= 0.05),
        Row("paced", "key echo max", _ms(echo["max"]), "ms", f"paced.{n}.echo_max_ms", goal="≤ 150 ms", passed=echo["max"] <= 0.15 and not echo["missing"]),
        Row("paced", "  app process CPU", app["cpu_pct"], "%", f"paced.{n}.cpu_pct"),
        Row("paced", "  display lag p50 / chunk", _ms(app["display_lag"]["p50"]), "ms", f"paced.{n}.lag_p50_ms"),
        Row("paced", "  display lag p95 / chunk", _ms(app["display_lag"]["p95"]), "ms", f"paced.{n}.lag_p95_ms"),
        Row("paced", "  longest GC pause", app["gc"]["max_ms"], "ms", f"paced.{n}.gc_max_ms"),
        Row("paced", "  longest gap between frames", _ms(app["frame_gap"]["max"]), "ms", f"paced.{n}.max_frame_gap_ms"),
    ]
    return rows


# --------------------------------------------------------------------------- 3. display lag


def bench_lag(options: Options) -> list[Row]:
    n = 300 if options.quick else 1_000
    rate = 100.0
    with paced_server(markdown_words(n, seed=7), rate) as url:
        app = run_child("app_stream", {"base_url": url, "n": n, "timeout": n / rate * 3, **_profile_args(options, f"lag{n}")})
    options.details["lag"] = app
    lag = app["display_lag"]
    tag = f"{n} chunks at {rate:.0f}/s"
    return [
        Row("lag", f"chunk arrival → first frame showing it, median, {tag}", _ms(lag["p50"]), "ms", f"lag.{n}.p50_ms", goal="≤ 16.7 ms", passed=lag["p50"] <= 1 / 60),
        Row("lag", "  p95", _ms(lag["p95"]), "ms", f"lag.{n}.p95_ms"),
        Row("lag", "  max", _ms(lag["max"]), "ms", f"lag.{n}.max_ms"),
        Row("lag", "  app process CPU", app["cpu_pct"], "%", f"lag.{n}.cpu_pct"),
    ]


# --------------------------------------------------------------------------- 4. startup


def _timed_process(args: list[str]) -> float:
    start = perf()
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
    return perf() - start


def _headless_startup(kind: str, url: str) -> float:
    start = perf()
    result = run_child("startup", {"kind": kind, "base_url": url})
    return result["ready"] - start


def bench_startup(options: Options) -> list[Row]:
    repeats = 3 if options.quick else 5
    bare = [_timed_process([PYTHON, "-c", "pass"]) for _ in range(repeats)]
    textual_import = [_timed_process([PYTHON, "-c", "import textual.app"]) for _ in range(repeats)]
    with scripted_server("--firehose", "10") as url:
        hello = [_headless_startup("hello", url) for _ in range(repeats)]
        app = [_headless_startup("app", url) for _ in range(repeats)]
        tmux_app: list[float] = []
        tmux_hello: list[float] = []
        if tmux.available():
            with tmux.tmux_server():
                for i in range(repeats):
                    tmux_hello.append(_tmux_startup([PYTHON, str(Path(__file__).with_name("hello_app.py"))], "Hello", f"hello{i}"))
                    command = [STREAMTUI, "--base-url", url, "--model", "gpt-4o"]
                    tmux_app.append(_tmux_startup(command, "Prompt", f"app{i}"))
    options.details["startup"] = {"python": bare, "import_textual": textual_import, "hello": hello, "app": app, "tmux_hello": tmux_hello, "tmux_app": tmux_app}
    med = statistics.median
    rows = [
        Row("startup", "python -c pass (interpreter alone)", med(bare), "s", "startup.python_s"),
        Row("startup", "python -c 'import textual.app'", med(textual_import), "s", "startup.import_textual_s"),
        Row("startup", "headless: Textual hello world (Input focused) to first frame (baseline)", med(hello), "s", "startup.hello_headless_s"),
        Row("startup", f"headless: process start → prompt focused + first frame (median of {repeats})", med(app), "s", "startup.headless_s", base=med(hello), goal="≤ 0.5 s", passed=med(app) <= 0.5),
    ]
    if tmux_app:
        rows.append(Row("startup", "tmux: hello world until its text is visible (baseline)", med(tmux_hello), "s", "startup.hello_tmux_s"))
        rows.append(Row("startup", f"tmux: launch → 'Prompt' visible in capture-pane (median of {repeats})", med(tmux_app), "s", "startup.tmux_s", base=med(tmux_hello), goal="≤ 0.5 s", passed=med(tmux_app) <= 0.5))
    return rows


def _pane_env() -> dict[str, str]:
    """The environment a tmux pane needs beyond tmux's own: history in the run's temporary file."""
    return {"STREAMTUI_HISTORY": os.environ["STREAMTUI_HISTORY"]} if "STREAMTUI_HISTORY" in os.environ else {}


def _tmux_startup(command: list[str], text: str, name: str) -> float:
    with tmux.pane(command, name, env=_pane_env()) as (target, started):
        seen, _ = tmux.wait_for_text(target, lambda screen: text in screen, 20)
        return seen - started


# --------------------------------------------------------------------------- 5. token counting


def bench_tokens(options: Options) -> list[Row]:
    total = 20_000 if options.quick else 100_000
    prefix = 1_000 if options.quick else 2_000
    result = run_child("tokens", {"total_tokens": total, "chunk_chars": 5, "full_prefix_chunks": prefix})
    options.details["tokens"] = result
    inc = result["incremental_us_per_chunk"]
    return [
        Row("tokens", f"full re-encode after every chunk, first {prefix} chunks ({result['full_prefix_chars'] // 1000} KB) only (baseline)", result["full_us_per_chunk_prefix"], "us", f"tokens.{total}.full_prefix_us"),
        Row("tokens", f"IncrementalTokenCounter add+count per 5-char chunk, {result['tokens']:,} tokens o200k", inc, "us", f"tokens.{total}.incremental_us", base=result["full_us_per_chunk_prefix"], goal="≤ 10 µs", passed=inc <= 10),
        Row("tokens", f"final count equals a full encode (+{result['spot_checks']} spot checks)", float(result["counts_equal"]), "bool", f"tokens.{total}.equal", goal="exact", passed=result["counts_equal"]),
        Row("tokens", f"  full re-encode per chunk at the end ({result['chars'] // 1000} KB)", result["full_us_per_chunk_at_end"], "us", f"tokens.{total}.full_end_us"),
    ]


# --------------------------------------------------------------------------- 6. memory


def bench_launch(options: Options) -> list[Row]:
    """Through a real terminal (tmux), launched as a person launches it and sent the moment the
    screen appears: launch → first chunk on screen, and a paced 200 × 20 ms answer's end. The
    baseline is the bare openai SDK script (benchmarks/bare_sdk.py) launched the same way, in
    turn with streamtui (bare, app, bare, app, …): a launch's time drifts by a tenth of a second
    over a minute on a shared machine, and each pair then sees the same machine."""
    repeats = 3 if options.quick else 7
    rows: list[Row] = []
    with scripted_server("--text", "FIRSTCHUNK and then the rest of a short answer.", "--write-each") as url:
        sends = [run_child("first_send", {"base_url": url}) for _ in range(3 if options.quick else 5)]
    first_send, second_send = statistics.median(r["first"] for r in sends), statistics.median(r["second"] for r in sends)
    rows.append(Row("launch", f"worker: a second send → first chunk in the app (median of {len(sends)}) (baseline)", second_send, "s", "launch.warm.second_s"))
    rows.append(Row("launch", "worker: a send the moment it is warm → first chunk", first_send, "s", "launch.warm.first_s", base=second_send, goal="≤ baseline + 10 ms", passed=first_send - second_send <= 0.010))
    if not tmux.available():
        return rows
    first: dict[str, list[float]] = {"bare": [], "app": []}
    with scripted_server("--text", "FIRSTCHUNK and then the rest of a short answer.", "--write-each") as url, tmux.tmux_server():
        for i in range(repeats):
            first["bare"].append(_tmux_until(_bare_command(url), f"bare{i}", "FIRSTCHUNK", send=False))
            first["app"].append(_tmux_until(_app_command(url), f"app{i}", "FIRSTCHUNK", send=True))
    ideal = 200 * 0.020
    paced_words = " ".join(f"w{i}" for i in range(199)) + " LASTCHUNK"
    ends: dict[str, list[float]] = {"bare": [], "app": []}
    stream_over: list[float] = []
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(paced_words)
    try:
        with scripted_server("--paced-file", handle.name, "--rate", "50", "--print-requests", keep_lines=True) as (url, lines), tmux.tmux_server():
            for i in range(repeats):
                ends["bare"].append(_tmux_until(_bare_command(url), f"pbare{i}", "LASTCHUNK", send=False, timeout=30) - ideal)
                lines.clear()
                launched = perf()
                seen = _tmux_until(_app_command(url), f"papp{i}", "LASTCHUNK", send=True, timeout=30)
                ends["app"].append(seen - ideal)
                received = [float(line.split()[1]) for line in lines if line.startswith("REQUEST")]
                if received:  # from the request reaching the server: the stream's own lateness
                    stream_over.append(launched + seen - received[-1] - ideal)
    finally:
        os.unlink(handle.name)
    options.details["launch"] = {"first": first, "ends": ends, "stream_over": stream_over, "sends": sends}
    med = statistics.median
    bare_first, app_first = med(first["bare"]), med(first["app"])
    rows.append(Row("launch", f"bare SDK script: launch → first chunk on screen (tmux, median of {repeats}) (baseline)", bare_first, "s", "launch.first.bare_s"))
    rows.append(Row("launch", "streamtui: launch → first chunk on screen, sent as the screen appears", app_first, "s", "launch.first.app_s", base=bare_first, goal="ratio ≤ 1.2", passed=app_first / bare_first <= 1.2))
    bare_end, app_end = med(ends["bare"]), med(ends["app"])
    rows.append(Row("launch", "bare SDK script: launch → last of 200 × 20 ms chunks, past the ideal 4 s (baseline)", bare_end, "s", "launch.paced.bare_over_s"))
    rows.append(Row("launch", "streamtui: launch → last chunk past the ideal 4 s, sent as the screen appears", app_end, "s", "launch.paced.app_over_s", base=bare_end, goal="≤ baseline + 0.1 s", passed=app_end - bare_end <= 0.1))
    if stream_over:
        rows.append(Row("launch", "  streamtui: request at the server → last chunk on screen, past 4 s", med(stream_over), "s", "launch.paced.stream_over_s", goal="≤ 0.1 s", passed=med(stream_over) <= 0.1))
    return rows


def _bare_command(url: str) -> list[str]:
    return [PYTHON, str(Path(__file__).with_name("bare_sdk.py")), url]


def _app_command(url: str) -> list[str]:
    return [STREAMTUI, "--base-url", url, "--model", "gpt-4o", "--prompt", "go"]


def _tmux_until(command: list[str], name: str, text: str, *, send: bool, timeout: float = 20) -> float:
    """Launch ``command`` in a pane; with ``send``, press Ctrl+J the moment the prompt shows;
    return the seconds from the launch until ``text`` is on screen."""
    with tmux.pane(command, name, env=_pane_env()) as (target, launched):
        if send:
            tmux.wait_for_text(target, lambda screen: "Prompt" in screen, timeout)
            tmux.send_keys(target, "C-j")
        wanted = text.strip()
        seen, _ = tmux.wait_for_text(target, lambda screen: wanted in screen, timeout)
        return seen - launched


def bench_memory(options: Options) -> list[Row]:
    """What a run keeps, proven: a long answer, 60 send-and-cancel cycles, a million chunks,
    and one 20 MB chunk. RSS of the app's process, and of the streaming worker's."""
    n = 20_000 if options.quick else 100_000
    rows: list[Row] = []
    with paced_server(markdown_words(n, seed=11), 1e7) as url:
        app = run_child("app_stream", {"base_url": url, "n": n, "timeout": 120, **_profile_args(options, f"memory{n}")})
    options.details["memory"] = app
    ok = app["chunks_in_pane"] == n
    rows += [
        Row("memory", "RSS of the idle app, ready to send (baseline)", app["rss_idle_mb"], "MB", "memory.idle_mb"),
        Row("memory", f"RSS after a {n // 1000}k-chunk Markdown answer", app["rss_after_mb"], "MB", f"memory.{n}.after_mb", base=app["rss_idle_mb"], goal="≤ 250 MB", passed=ok and app["rss_after_mb"] <= 250),
        Row("memory", "  peak RSS (VmHWM)", app["rss_peak_mb"], "MB", f"memory.{n}.peak_mb"),
        Row("memory", "  streaming worker's peak RSS", app["worker_rss_peak_mb"], "MB", f"memory.{n}.worker_peak_mb"),
        Row("memory", f"  send → all on screen ({app['chunks_in_pane']:,} chunks, server-paced flood)", app["on_screen_s"], "s", f"memory.{n}.on_screen_s"),
    ]
    cycles = 20 if options.quick else 60
    with scripted_server("--paced-file", _words_file(2_000), "--rate", "2000") as url:
        result = run_child("cycles", {"base_url": url, "cycles": cycles, "chunks_before_cancel": 200}, timeout=600)
    options.details["memory_cycles"] = result
    rss = result["rss_mb"]
    growth = rss[-1] - rss[9]
    rows.append(Row("memory", "RSS after send-and-cancel cycle 10 (baseline)", rss[9], "MB", "memory.cycles.10_mb"))
    rows.append(Row("memory", f"RSS after cycle {cycles}: growth since cycle 10", growth, "MB", "memory.cycles.growth_mb", goal="≤ 5 MB", passed=growth <= 5 and result["cancelled"] == cycles))
    million = 200_000 if options.quick else 1_000_000
    with scripted_server("--firehose", str(million)) as url:
        big = run_child("big", {"base_url": url, "n": million, "timeout": 300}, timeout=600)
    options.details["memory_million"] = big
    rows.append(Row("memory", f"peak RSS while a {million:,}-chunk answer streams and shows", big["peak_mb"], "MB", f"memory.{million}.peak_mb", base=big["idle_mb"], goal="≤ 300 MB", passed=big["peak_mb"] <= 300 and big["chunks"] == million))
    rows.append(Row("memory", "  RSS after it", big["after_mb"], "MB", f"memory.{million}.after_mb"))
    rows.append(Row("memory", "  streaming worker's peak RSS", big["worker_peak_mb"], "MB", f"memory.{million}.worker_peak_mb"))
    rows.append(Row("memory", "  its token counter's peak RSS", big["counter_peak_mb"], "MB", f"memory.{million}.counter_peak_mb"))
    size = 20_000_000
    with scripted_server("--one-chunk-of", str(size)) as url:
        huge = run_child("big", {"base_url": url, "n": 1, "timeout": 300}, timeout=600)
    options.details["memory_huge_chunk"] = huge
    extra = huge["peak_mb"] - huge["idle_mb"]
    rows.append(Row("memory", "peak RSS above idle for one 20 MB chunk (app)", extra, "MB", "memory.huge.app_extra_mb", base=size / 1e6, goal="≤ 6 × 20 MB", passed=extra <= 6 * size / 1e6 and huge["chars"] == size))
    rows.append(Row("memory", "  streaming worker's peak RSS for it", huge["worker_peak_mb"], "MB", "memory.huge.worker_peak_mb"))
    rows.append(Row("memory", "  its token counter's peak RSS for it", huge["counter_peak_mb"], "MB", "memory.huge.counter_peak_mb"))
    return rows


def _words_file(n: int) -> str:
    """A temporary file of ``n`` words (removed at exit)."""
    import atexit

    handle = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    handle.write(markdown_words(n, seed=5))
    handle.close()
    atexit.register(os.unlink, handle.name)
    return handle.name


def _app_results(details: dict):  # type: ignore[no-untyped-def]
    """(label, result) of every app run in the details, for the stall report."""
    for name, value in details.items():
        candidates = value if isinstance(value, dict) and "n" not in value else {name: value}
        for label, item in candidates.items():
            for i, result in enumerate(item if isinstance(item, list) else [item]):
                if isinstance(result, dict) and "on_screen_s" in result:
                    yield f"{name}.{label}" if label != name else name, result


BENCHES = {
    "firehose": bench_firehose,
    "paced": bench_paced,
    "lag": bench_lag,
    "startup": bench_startup,
    "launch": bench_launch,
    "tokens": bench_tokens,
    "memory": bench_memory,
}


# --------------------------------------------------------------------------- table


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "bool":
        return "yes" if value else "NO"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if unit == "s":
        return f"{value:.3f} s"
    if unit in ("ms", "us"):
        return f"{value:,.1f} {'µs' if unit == 'us' else 'ms'}"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "%":
        return f"{value:.0f} %"
    return f"{value:,.0f}" if value == int(value) else f"{value:.3g}"


def table(rows: list[Row], previous: dict[str, float]) -> str:
    header = ("benchmark", "figure", "value", "baseline (same run)", "ratio", "goal", "pass", "baseline.json", "change")
    lines = []
    for row in rows:
        old = previous.get(row.key)
        change = "—"
        if old is not None and row.unit != "bool" and old and not math.isnan(row.value):
            change = f"{(row.value / old - 1) * 100:+.0f} %"
        ratio = row.ratio
        lines.append(
            (
                row.bench,
                row.figure,
                _fmt(row.value, row.unit),
                _fmt(row.base, row.unit) if row.base is not None else "—",
                f"{ratio:.2f}" if ratio is not None else "—",
                row.goal or "",
                {True: "PASS", False: "FAIL", None: ""}[row.passed],
                _fmt(old, row.unit) if old is not None else "—",
                change,
            )
        )
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines)]
    out = [" | ".join(cell.ljust(width) for cell, width in zip(header, widths))]
    out.append("-|-".join("-" * width for width in widths))
    out += [" | ".join(str(cell).ljust(width) for cell, width in zip(line, widths)) for line in lines]
    return "\n".join(out)


def markdown_table(rows: list[Row]) -> str:
    out = ["| benchmark | figure | value | baseline (same run) | ratio | goal | pass |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        ratio = row.ratio
        out.append(
            f"| {row.bench} | {row.figure.strip()} | {_fmt(row.value, row.unit)} | "
            f"{_fmt(row.base, row.unit) if row.base is not None else '—'} | {f'{ratio:.2f}' if ratio is not None else '—'} | "
            f"{row.goal} | {({True: 'PASS', False: '**FAIL**', None: ''})[row.passed]} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller N everywhere (about 35 s)")
    parser.add_argument("--only", action="append", choices=NAMES, metavar="NAME", help=f"run only this benchmark (repeatable): {', '.join(NAMES)}")
    parser.add_argument("--save-baseline", action="store_true", help="write this run's figures into benchmarks/baseline.json")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every detail of the run to FILE")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="cProfile each app run into DIR/NAME.prof (slows the app: figures are then not comparable)")
    parser.add_argument("--streamtui", metavar="PATH", help="the streamtui command the terminal benchmarks launch (default: this venv's); e.g. an older build's, for before and after")
    parser.add_argument("--stalls", action="store_true", help="sample the app's stack whenever its loop stalls > 40 ms and print where (perturbs figures slightly)")
    args = parser.parse_args(argv)

    options = Options(quick=args.quick, profile_dir=args.profile, stalls=args.stalls)
    if args.streamtui:
        global STREAMTUI
        STREAMTUI = args.streamtui
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    previous: dict[str, float] = baseline.get("figures", {})
    info = machine()
    print(f"streamtui benchmarks{' (quick)' if args.quick else ''}: {info['nproc']} CPUs, {info['cpu']}, {info['memory']}, "
          f"Python {info['python']}, textual {info.get('textual')}", flush=True)
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"warning: load average {load_before:.2f} before the run: other processes share these CPUs, figures will be noisy", flush=True)
    # Byte-compiled first, as `pip install` leaves an installed copy: a source tree run with
    # PYTHONDONTWRITEBYTECODE (as this machine's shells set) compiles every module at each launch.
    import compileall

    compileall.compile_dir(str(ROOT / "tui"), quiet=1)
    rows: list[Row] = []
    started = perf()
    with tempfile.TemporaryDirectory(prefix="streamtui-bench-") as scratch:
        # The app's run history goes to a scratch file, never to the user's data directory.
        os.environ["STREAMTUI_HISTORY"] = str(Path(scratch) / "history.sqlite3")
        stolen: dict[str, float] = {}
        for name in args.only or NAMES:
            t0 = perf()
            ticks = cpu_ticks()
            print(f"… {name}", end="", flush=True)
            rows += BENCHES[name](options)
            stolen[name] = stolen_share(ticks, cpu_ticks())
            print(f" ({perf() - t0:.1f} s, load {os.getloadavg()[0]:.2f}, {100 * stolen[name]:.0f} % of the CPU time stolen by the hypervisor)", flush=True)
    info["loadavg_before"] = load_before
    info["stolen_share"] = stolen
    print()
    print(table(rows, previous))
    failed = [row for row in rows if row.passed is False]
    print(f"\n{sum(row.passed is True for row in rows)} goals met, {len(failed)} failed; total {perf() - started:.0f} s")
    if args.markdown:
        print()
        print(markdown_table(rows))
    if args.stalls:
        print("\nWhere the app's loop was stuck for > 40 ms (approximate milliseconds, per app run):")
        for name, result in _app_results(options.details):
            for site, ms in result.get("stalls") or []:
                print(f"  {name:14s} {ms:7.0f} ms  {site}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "quick": args.quick, "rows": [asdict(r) for r in rows], "details": options.details}, indent=1))
    if args.save_baseline:
        figures = {**previous, **{row.key: row.value for row in rows}}
        BASELINE.write_text(json.dumps({"machine": info, "saved": time.strftime("%Y-%m-%d %H:%M:%S"), "figures": figures}, indent=1, sort_keys=True) + "\n")
        print(f"saved {len(rows)} figures to {BASELINE.relative_to(ROOT)}")
    return 0  # measurements, not tests: a missed goal is in the table, not in the exit code


if __name__ == "__main__":
    sys.exit(main())
