"""Child process for test_history's kill test.

    python tests/history_child.py BASE_URL DB_PATH N

Streams one run from BASE_URL through the real SDK into a HistoryStore at DB_PATH, calling
update() every 0.2 s (the app does it every ≤0.5 s). Prints ``RUN <id>`` once the row exists and
``RECEIVED <count>`` once an update holding at least N answer chunks has been committed; the
parent then kills it with SIGKILL. Prints ``FINISHED`` if the stream ever ends (it should not).
"""

from __future__ import annotations

import asyncio
import sys

from openai import AsyncOpenAI

from tui.engine.clock import monotonic_clock
from tui.engine.events import Delta
from tui.engine.history import HistoryStore
from tui.engine.metrics import RunMetrics
from tui.engine.request import RunRequest
from tui.engine.run import Run
from tui.engine.stream import stream_batches

UPDATE_EVERY = 0.2


async def main(base_url: str, db_path: str, wanted: int) -> None:
    client = AsyncOpenAI(base_url=base_url, api_key="child-key-not-secret", max_retries=0, timeout=120)
    request = RunRequest("Count slowly, please.", "scripted-model")
    metrics = RunMetrics(monotonic_clock, stream=True)
    run = Run(request, metrics, endpoint_label=base_url.removeprefix("http://"))
    store = HistoryStore(db_path)
    run_id = store.start(run)
    print(f"RUN {run_id}", flush=True)

    async def save_periodically() -> None:
        reported = False
        while True:
            await asyncio.sleep(UPDATE_EVERY)
            count = metrics.chunks
            store.update(run_id, run)
            if not reported and count >= wanted:
                print(f"RECEIVED {count}", flush=True)
                reported = True

    saver = asyncio.create_task(save_periodically())
    async for batch in stream_batches(client, request, monotonic_clock):
        for event in batch:
            metrics.on_event(event)
            if type(event) is Delta:
                (run.answer_parts if event.kind == "answer" else run.reasoning_parts).append(event.text)
    saver.cancel()
    store.finish(run_id, run)
    print("FINISHED", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
