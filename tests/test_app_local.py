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
            assert await app.session.connection.list_models() == ["SmolLM2-135M-Instruct"]
    finally:
        # As the command line does once the app has ended: stop the child and wait for it.
        server.stop()
    assert server.state == "stopped"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_switching_profiles_stops_the_embedded_model_left_and_reuses_the_one_kept(server, tmp_path):
    """F2 → a remote profile: the embedded model's process is stopped (it held its RAM until
    quit, one more per switch). Back to the embedded profile, and again: one server, reused."""
    from tui.profiles import Profiles
    from tui.screens.settings import SettingsScreen

    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.remote]\nbase_url = "{server.base_url}"\nmodel = "gpt-4o"\n\n[profiles.embedded]\nlocal = true\n')
    embedded = make_local_server(Settings(resolve_endpoint(environ={})))
    app = make_app(None, local_server=embedded, clock=monotonic_clock, profiles=Profiles(config, ["embedded", "remote"], None))

    async def pick(pilot, name: str) -> None:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        app.screen.query_one("#profile").value = name
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.main_screen)

    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: embedded.state == "ready", timeout=120)
            pid = embedded.pid
            await pick(pilot, "remote")
            await wait_for(pilot, lambda: embedded.state == "stopped" and not process_exists(pid), timeout=20)
            await pick(pilot, "embedded")
            kept = app.session.connection.local_server
            assert kept is not None and kept is not embedded
            await pick(pilot, "embedded")
            assert app.session.connection.local_server is kept
    finally:
        embedded.stop()
        if app.session.connection.local_server is not None:
            app.session.connection.local_server.stop()
