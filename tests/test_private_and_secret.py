"""Private files in shared folders, secrets in URL query strings, and what the embedded server's
child inherits: each with the real parts (history store, log file, config file, the app, the
command line), paths under tmp_path only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tui.engine.config import ConfigFile
from tui.engine.history import HistoryStore
from tui.engine.logfile import log_failure


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
