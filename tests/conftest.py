"""Shared fixtures: a scripted OpenAI-compatible server on loopback (real HTTP, real SDK)."""

from __future__ import annotations

import os

import pytest

from tui.scripted_server import ScriptedServer

# Snapshots must not depend on animations or a blinking cursor.
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


@pytest.fixture
def server():
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def client(server):
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=server.base_url, api_key="test-key-not-secret", max_retries=0, timeout=10)
