"""Private files in shared folders, secrets in URL query strings, and what the embedded server's
child inherits: each with the real parts (history store, log file, config file, the app, the
command line), paths under tmp_path only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.driving import make_app, panel_text, send, settle
from tests.test_hostile import SIZE, everything_shown_and_kept, shows
from tui.cli import main
from tui.engine.config import ConfigFile
from tui.engine.endpoint import resolve_endpoint
from tui.engine.errors import internal_problem
from tui.engine.history import HistoryStore
from tui.engine.local_server import _API_KEY_ENV
from tui.engine.logfile import log_failure
from tui.engine.secrets import mask_url, mask_urls, redact_all


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def streamtui_home(tmp_path, monkeypatch) -> Path:
    """streamtui's own folders (platformdirs honours XDG_*) under tmp_path, none made yet."""
    home = tmp_path / "home"
    for variable, folder in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(variable, str(home / folder))
    return home


def shared_folder(path: Path, folder_mode: int = 0o775) -> Path:
    path.mkdir(parents=True)
    path.chmod(folder_mode)
    return path


# -- 1. a private file in an existing folder leaves the folder as it is ---------------------------


def test_history_in_an_existing_shared_folder_leaves_the_folder_alone(tmp_path, monkeypatch, streamtui_home):
    shared = shared_folder(tmp_path / "x" / "shared")
    monkeypatch.setenv("STREAMTUI_HISTORY", str(shared / "h.sqlite3"))
    with HistoryStore() as store:
        assert store.persistent and store.problem is None
    assert mode(shared) == 0o775
    assert mode(shared / "h.sqlite3") == 0o600


def test_history_in_the_working_directory_does_not_lock_the_project(tmp_path, monkeypatch, streamtui_home):
    project = shared_folder(tmp_path / "project", 0o755)
    monkeypatch.chdir(project)
    monkeypatch.setenv("STREAMTUI_HISTORY", "./runs.sqlite3")
    with HistoryStore() as store:
        assert store.persistent
    assert mode(project) == 0o755 and mode(project / "runs.sqlite3") == 0o600


def test_history_creates_each_missing_folder_private(tmp_path, monkeypatch, streamtui_home):
    monkeypatch.setenv("STREAMTUI_HISTORY", str(tmp_path / "new" / "deeper" / "h.sqlite3"))
    with HistoryStore() as store:
        assert store.persistent
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "deeper") == 0o700


def test_streamtuis_own_data_folder_is_tightened(streamtui_home, monkeypatch):
    monkeypatch.delenv("STREAMTUI_HISTORY", raising=False)
    own = shared_folder(streamtui_home / "data" / "streamtui", 0o755)
    with HistoryStore() as store:
        assert store.path == own / "history.sqlite3"
    assert mode(own) == 0o700


def test_a_log_file_in_home_leaves_home_alone(tmp_path, monkeypatch, streamtui_home):
    home = shared_folder(tmp_path / "user", 0o755)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("STREAMTUI_LOG", "~/x.log")
    log_failure("something failed")
    assert mode(home) == 0o755
    assert "something failed" in (home / "x.log").read_text() and mode(home / "x.log") == 0o600


def test_the_default_log_folder_is_streamtuis_own(monkeypatch, streamtui_home):
    monkeypatch.delenv("STREAMTUI_LOG", raising=False)
    own = shared_folder(streamtui_home / "state" / "streamtui" / "log", 0o755)
    log_failure("something failed")
    assert mode(own) == 0o700 and mode(own / "streamtui.log") == 0o600


def test_config_saved_into_a_shared_folder_leaves_it_alone(tmp_path, streamtui_home):
    shared = shared_folder(tmp_path / "team", 0o775)
    config = ConfigFile.load(shared / "streamtui.toml")
    config.set_theme("nord")
    config.save()
    assert mode(shared) == 0o775 and mode(shared / "streamtui.toml") == 0o600


# -- 2. secrets in a URL's query string ------------------------------------------------------------

QUERY_SECRET = "Zq8Vx3Kw7Jm2Pd5R"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (f"https://proxy/v1?key={QUERY_SECRET}", "https://proxy/v1?key=***"),
        (f"https://proxy/v1?a=1&key={QUERY_SECRET}&flag", "https://proxy/v1?a=***&key=***&***"),
        (f"https://u:pw@proxy/v1?key={QUERY_SECRET}#top", "https://***@proxy/v1?key=***#top"),
        ("https://proxy/v1?empty=", "https://proxy/v1?empty="),
        ("https://proxy/v1", "https://proxy/v1"),
    ],
)
def test_mask_url_hides_query_values(url, masked):
    assert mask_url(url) == masked
    assert mask_urls(f"POST {url} failed") == f"POST {masked} failed"


def test_mask_urls_keeps_what_surrounds_a_url_in_text():
    text = f'{{"url": "https://proxy/v1?key={QUERY_SECRET}", "at": 3}} (see https://h/x?t={QUERY_SECRET}).'
    assert mask_urls(text) == '{"url": "https://proxy/v1?key=***", "at": 3} (see https://h/x?t=***).'


def test_the_endpoint_label_and_key_registry_hide_query_values():
    secret, encoded = "Wm4Ty9Qa2Lx7Nc3B", "Hp6%2FRs1Kd8Vg5J"
    endpoint = resolve_endpoint(base_url=f"https://proxy/v1?key={secret}&sig={encoded}&v=1", environ={})
    assert endpoint.label == "proxy/v1?key=***&sig=***&v=***"
    # The request goes to the real URL.
    assert endpoint.base_url == f"https://proxy/v1?key={secret}&sig={encoded}&v=1"
    # An error's text that echoes a value (as sent, or decoded) is redacted, wherever it stands.
    shown = redact_all(f"upstream said: bad key {secret}; signature Hp6/Rs1Kd8Vg5J; raw {encoded}; v1")
    assert secret not in shown and secret[:8] not in shown
    assert "Hp6/Rs1Kd8Vg5J" not in shown and encoded not in shown
    assert shown.endswith("; v1")  # a value shorter than 4 characters is not a secret
    problem = internal_problem(ValueError(f"a bug holding {secret}"))
    assert secret not in problem.message and secret[4:12] not in problem.message


def test_streamtui_config_shows_no_query_secret(tmp_path, monkeypatch, capsys):
    secret = "Ur5Ke2Mb8Yf4Gs7C"
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["config", "--base-url", f"https://proxy/v1?key={secret}"]) == 0
    out = capsys.readouterr().out
    assert "https://proxy/v1?key=***" in out
    assert secret not in out and secret[:6] not in out


async def test_a_query_secret_is_never_shown_or_stored(server, tmp_path, monkeypatch):
    """``--base-url https://proxy/v1?key=SECRET``: the panel, the runs, history, exports and the
    log file show ``key=***``; the request is still made with the real URL."""
    secret = "Jt3Xe9Hn6Ow1Fy4D"
    log = tmp_path / "streamtui.log"
    monkeypatch.setenv("STREAMTUI_LOG", str(log))
    url = f"{server.base_url}?key={secret}"
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(url, history=store, retries=0)
    assert app.session.connection.target().base_url == url
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello")
        await settle(pilot)
        # The query goes on the request, after the route (not before it, as the SDK alone puts it).
        assert app.session.runs[-1].metrics.state == "done", app.session.runs[-1].metrics.error
        assert server.requests[-1]["_path"] == "/v1/chat/completions" and server.requests[-1]["_query"] == {"key": secret}
        await shows(pilot, "#metrics", f"127.0.0.1:{server.port}/v1?key=***")
        places = everything_shown_and_kept(app, store, tmp_path)
        assert "?key=***" in panel_text(app)
    log_failure(f"a failure while talking to {url}")
    places["log"] = log.read_text()
    store.close()
    for where, text in places.items():
        assert secret not in text and secret[:6] not in text and secret[-6:] not in text, where
    assert "?key=***" in places["history"]


# -- 3. the embedded server's child inherits none of the user's secrets ---------------------------


def test_the_childs_environment_drops_the_users_secrets():
    """The pure function that builds the child's environment (the real child is tested in
    tests/test_local_server.py, where the [local] extra is installed)."""
    from tui.engine.local_server import _child_environment

    user = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "OPENAI_API_KEY": "sk-user",
        "ANTHROPIC_API_KEY": "a",
        "GITHUB_TOKEN": "t",
        "AWS_SECRET": "s",
        "DB_PASSWORD": "p",
        "api_token": "lower",
        "OLLAMA_KEY": "the configured variable",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env = _child_environment(user, "child-key", api_key_env="OLLAMA_KEY")
    assert env == {"PATH": "/usr/bin", "HOME": "/home/u", "LANG": "C.UTF-8", "TOKENIZERS_PARALLELISM": "false", _API_KEY_ENV: "child-key", "PYTHONUNBUFFERED": "1"}
    assert _child_environment(user, "child-key")["OLLAMA_KEY"] == "the configured variable"
