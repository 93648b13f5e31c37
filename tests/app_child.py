"""Child process for the app's kill test: the real app, headless, saving to history.

    python tests/app_child.py BASE_URL DB_PATH N

Sends one prompt; once the run has N chunks and history holds them, prints ``SAVED <id>``
and waits to be killed (the stream is held open by a gate that never opens).
"""

from __future__ import annotations

import asyncio
import sys

from tests.driving import make_app, send, wait_for
from tui.engine.clock import monotonic_clock
from tui.engine.history import HistoryStore


async def main(base_url: str, db_path: str, wanted: int) -> None:
    store = HistoryStore(db_path)
    app = make_app(base_url, clock=monotonic_clock, history=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "Count slowly, please.")
        main = app.main_screen
        await wait_for(pilot, lambda: main.current is not None and main.current.metrics.chunks >= wanted, timeout=30)
        run = main.current
        await wait_for(pilot, lambda: (record := store.get(run.number)) is not None and record.chunk_count >= wanted, timeout=30)
        print(f"SAVED {run.number}", flush=True)
        await asyncio.sleep(120)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
