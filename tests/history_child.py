"""Child process for test_history's kill test.

    python tests/history_child.py BASE_URL DB_PATH N

Streams one run from BASE_URL through the real SDK into a HistoryStore at DB_PATH, saving
every 0.2 s (the session does it every 0.4 s). Prints ``RUN <id>`` once the row exists and
``RECEIVED <count>`` once a save holding at least N answer chunks has been committed; the
parent then kills it with SIGKILL. Prints ``FINISHED`` if the stream ever ends (it should not).
"""

from __future__ import annotations

import asyncio
import sys

from tui.engine.clock import monotonic_clock
from tui.engine.history import HistoryStore, snapshot
from tui.engine.request import RunRequest
from tui.engine.run import Run
from tui.engine.stream import make_client, stream_batches
from tui.engine.target import Target

SAVE_EVERY = 0.2


async def main(base_url: str, db_path: str, wanted: int) -> None:
    client = make_client(Target(base_url, "child-key-not-secret"))
    store = HistoryStore(db_path)
    run = Run.new(RunRequest("Count slowly, please.", "scripted-model"), clock=monotonic_clock, endpoint_label=base_url.removeprefix("http://"))
    run.number = store.reserve_id()
    store.start(run)
    print(f"RUN {run.number}", flush=True)

    async def save_periodically() -> None:
        reported = False
        while True:
            await asyncio.sleep(SAVE_EVERY)
            count = run.metrics.chunks
            store.save(run.number, snapshot(run))
            if not reported and count >= wanted:
                print(f"RECEIVED {count}", flush=True)
                reported = True

    saver = asyncio.create_task(save_periodically())
    async for batch in stream_batches(client, run.request, monotonic_clock):
        run.apply(batch)
    saver.cancel()
    store.finish(run.number, snapshot(run))
    print("FINISHED", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
