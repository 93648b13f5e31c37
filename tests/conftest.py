"""Shared fixtures: a scripted OpenAI-compatible server on loopback (real HTTP, real SDK)."""

from __future__ import annotations

import os

import pytest

from tests.support.scripted_server import ScriptedServer

# Snapshots must not depend on animations or a blinking cursor.
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


@pytest.fixture
def server():
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def client(server):
    """The SDK client streamtui builds (wire-stamping transport, no hidden retries)."""
    from tui.engine.stream import make_client
    from tui.engine.target import Target

    return make_client(Target(server.base_url, "test-key-not-secret", read_timeout=10))


@pytest.fixture
def refused_url():
    """A loopback URL where connections are refused while the test runs: a socket bound and
    never listening holds the port (no fixed port, no hope that some port is closed)."""
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{holder.getsockname()[1]}/v1"
    finally:
        holder.close()


@pytest.fixture
def log(tmp_path, monkeypatch):
    """The log file of this test's app and of the workers it starts."""
    path = tmp_path / "streamtui.log"
    monkeypatch.setenv("STREAMTUI_LOG", str(path))
    return path


@pytest.fixture(autouse=True)
def _logged(log):
    """Every test logs to its own file, never to the log of the machine's user."""


@pytest.fixture
def encodings_built_here():
    """The encodings this process builds during the test. Other tests of the run may have
    built some before: they are put aside meanwhile, so any built now shows (and an encoding
    the test needs is not built yet when it starts)."""
    from tui.engine import tokens

    before = dict(tokens._encodings)
    tokens._encodings.clear()
    yield tokens._encodings
    tokens._encodings.update(before)


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path, monkeypatch):
    """No test reads the config file of the machine it runs on."""
    monkeypatch.setenv("STREAMTUI_CONFIG", str(tmp_path / "streamtui-config.toml"))


@pytest.fixture(autouse=True)
def _secrets_of_this_test_only():
    """The secret registry is per process, as in the app: each test starts with what the
    process knew before it, so one test's keys are never redacted from another's text."""
    from tui.engine import secrets

    with secrets._known_lock:
        before = set(secrets._known)
    yield
    with secrets._known_lock:
        secrets._known.clear()
        secrets._known.update(before)
