"""The app with nothing configured: the embedded model, or a clear screen without it."""

from __future__ import annotations

import os

import pytest

from tests.driving import panel_text, send, settle, wait_for
from tui.app import StreamTuiApp
from tui.cli import make_local_server
from tui.engine.endpoint import resolve_endpoint
from tui.engine.settings import Settings


def test_nothing_configured_resolves_to_the_embedded_model():
    assert resolve_endpoint(environ={}).kind == "local"
    assert resolve_endpoint(environ={"OPENAI_API_KEY": "sk-x"}).kind == "openai"
    assert resolve_endpoint(environ={"OPENAI_BASE_URL": "http://h/v1"}).kind == "custom"
    assert resolve_endpoint(local=True, environ={"OPENAI_API_KEY": "sk-x"}).kind == "local"


async def test_without_the_local_extra_one_clear_screen_says_what_to_do():
    app = StreamTuiApp(Settings(resolve_endpoint(environ={})), local_server=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        notice = app.output._notice
        assert "pip install 'streamtui[local]'" in notice
        assert "--base-url" in notice and "OPENAI_API_KEY" in notice
        await send(pilot, "hello?")
        await settle(pilot)
        assert "not installed" in app.metrics_panel.message
        assert app.is_running


@pytest.mark.local
async def test_the_app_streams_from_the_embedded_model_and_names_it():
    settings = Settings(resolve_endpoint(environ={}), max_tokens=24, temperature=0)
    server = make_local_server(settings)
    assert server is not None, "the [local] extra is installed in CI"
    app = StreamTuiApp(settings, local_server=server)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: server.state == "ready", timeout=120)
            pid = server.pid
            await send(pilot, "Say hello in five words.")
            await wait_for(pilot, lambda: bool(app.runs), timeout=120)
            await settle(pilot)
            run = app.runs[-1]
            assert run.metrics.state == "done", run.metrics.error
            assert run.text.strip() and run.metrics.chunks > 1
            assert app.output.text == run.text
            assert run.metrics.model_tokens and run.metrics.model_tokens > 0
            text = panel_text(app)
            assert "SmolLM2-135M-Instruct" in text
            assert "embedded" in text and "by the model's tokenizer" in text
        # Quitting the app stops the child.
        assert server.state == "stopped"
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        server.stop()
