"""Shared helpers: the scripted server in its own process, child processes, statistics, machine."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@contextlib.contextmanager
def scripted_server(*args: str, timeout: float = 30.0, keep_lines: bool = False) -> Iterator:
    """``python -m tests.support.scripted_server ARGS`` in its own process (its own GIL); yields the
    base URL, or with ``keep_lines`` (URL, the list of lines it prints from then on)."""
    process = subprocess.Popen(
        [PYTHON, "-m", "tests.support.scripted_server", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = process.stdout.readline()  # type: ignore[union-attr]
            if line.startswith("READY "):
                break
            if not line and process.poll() is not None:
                raise RuntimeError(f"scripted server exited: {process.stderr.read()}")  # type: ignore[union-attr]
        else:
            raise RuntimeError("scripted server did not get ready")
        if not keep_lines:
            yield line.split()[1]
            return
        lines: list[str] = []

        def collect() -> None:
            for printed in process.stdout:  # type: ignore[union-attr]
                lines.append(printed.strip())

        import threading

        threading.Thread(target=collect, daemon=True).start()
        yield line.split()[1], lines
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def paced_server(text: str, rate: float) -> Iterator[str]:
    """The server replaying ``text`` word by word at ``rate`` chunks a second."""
    with tempfile.NamedTemporaryFile("w", suffix=".md", prefix="streamtui-bench-", delete=False) as handle:
        handle.write(text)
        path = handle.name
    try:
        with scripted_server("--paced-file", path, "--rate", repr(rate)) as base_url:
            yield base_url
    finally:
        os.unlink(path)


def run_child(scenario: str, args: dict, *, timeout: float = 300.0) -> dict:
    """Run ``benchmarks.child SCENARIO`` in a fresh interpreter; return the JSON it reports."""
    process = subprocess.run(
        [PYTHON, "-m", "benchmarks.child", scenario, json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in reversed(process.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(
        f"benchmark child {scenario!r} failed (exit {process.returncode}):\n"
        f"{process.stdout[-3000:]}\n{process.stderr[-5000:]}"
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": statistics.median(values),
        "p95": percentile(values, 95),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def cpu_ticks() -> tuple[int, int]:
    """(all CPU time, time stolen by the hypervisor) so far, in clock ticks, from /proc/stat;
    (0, 0) where there is none. On a virtual machine, stolen time is CPU the app was ready
    to use and did not get: the figures of a span with much of it are slower than the code."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields[:8]), fields[7]
    return 0, 0


def stolen_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU time stolen between two ``cpu_ticks()`` readings."""
    total = after[0] - before[0]
    return (after[1] - before[1]) / total if total > 0 else 0.0


def machine() -> dict:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    from importlib.metadata import version

    versions = {}
    for package in ("textual", "rich", "openai", "tiktoken"):
        with contextlib.suppress(Exception):
            versions[package] = version(package)
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
    }
