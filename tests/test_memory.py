"""What the app keeps in memory as runs come and go (issue 10), each test written to fail on
the code before its fix. They pin what is kept or released, never an RSS figure (those are
the memory benchmark's: benchmarks/run.py --only memory).

They drive the real app against a scripted server over loopback, with the real streaming
worker, and wait only for conditions.
"""

from __future__ import annotations

import gc
import weakref

from textual.widgets._footer import FooterKey

from tests.driving import make_app, send, wait_for
from tests.support.scripted_server import Script, chunk, gate


def held(name: str) -> Script:
    """An answer whose first chunk arrives, and whose rest waits at gate ``name`` for ever."""
    return Script([chunk("partial answer, "), gate(name), chunk("never sent")])


async def send_and_cancel(pilot, server, name: str):
    """Send, wait for the first text, press Escape, wait until the run has ended; the run."""
    app = pilot.app
    main = app.main_screen
    previous = main.current
    server.push(held(name))
    await send(pilot, "go")
    await wait_for(pilot, lambda: main.current is not previous and main.current.metrics.chunks >= 1, timeout=15)
    await pilot.press("escape")
    await wait_for(pilot, lambda: not app.session.busy and main.current.metrics.state == "cancelled", timeout=15)
    return main.current


def footer_keys(app) -> list[FooterKey]:
    return list(app.main_screen.query(FooterKey))


async def test_the_footer_keys_a_run_replaces_are_freed(server):
    """A run starting and ending changes the keys offered (Cancel only while one runs), and
    Textual's footer rebuilds its keys each time. The keys it replaced must be freed: they
    were kept for as long as the app ran (each a widget with its styles, caches and message
    queue), about 0.6 MB a run in the send-and-cancel benchmark."""
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(footer_keys(app)) > 0)
        await send_and_cancel(pilot, server, "first")
        replaced = [weakref.ref(key) for key in footer_keys(app)]
        for index in range(3):
            await send_and_cancel(pilot, server, f"run{index}")
        # The footer shows keys built after the first run's (it was rebuilt since).
        await wait_for(pilot, lambda: footer_keys(app) and not any(ref() in footer_keys(app) for ref in replaced))
        gc.collect()
        kept = [ref() for ref in replaced if ref() is not None]
        assert kept == [], f"{len(kept)} of {len(replaced)} replaced footer keys are still alive"
