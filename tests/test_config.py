"""The config file: where it is, its checks (one line naming file, key and value), the
precedence of its profiles, and writing it back with its comments kept."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tui.engine.config import (
    EXAMPLE,
    ConfigError,
    ConfigFile,
    config_path,
    load_config,
    resolve,
    write_example,
)


@pytest.fixture(autouse=True)
def no_config_around(monkeypatch, tmp_path):
    """No test sees the machine's own config file or endpoint variables."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("STREAMTUI_CONFIG", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


OLLAMA = """\
    default_profile = "ollama"

    [profiles.ollama]
    base_url = "http://127.0.0.1:11434/v1/"
    model = "llama3.2"
    api = "completions"
    api_key_env = "OLLAMA_KEY"
    system_prompt = "You are terse."
    temperature = 0.2
    max_tokens = 64
    seed = 7
    stream = false
    timeout = 30
    connect_timeout = 3
    chat = true

    [profiles.embedded]
    local = true

    [profiles.openai]
    model = "gpt-4.1-mini"
"""


# -- where ------------------------------------------------------------------------------------


def test_the_file_is_in_the_user_config_dir_honouring_xdg(tmp_path):
    assert config_path() == tmp_path / "xdg" / "streamtui" / "config.toml"


def test_streamtui_config_names_another_file(monkeypatch, tmp_path):
    monkeypatch.setenv("STREAMTUI_CONFIG", str(tmp_path / "elsewhere.toml"))
    assert config_path() == tmp_path / "elsewhere.toml"


def test_a_missing_file_is_an_empty_configuration(tmp_path):
    config = load_config(tmp_path / "absent.toml")
    assert not config.exists and config.profiles == {} and config.default_profile is None


def test_every_key_of_the_schema_is_read(tmp_path):
    config = load_config(write(tmp_path, 'theme = "nord"\n' + OLLAMA))
    ollama = config.profiles["ollama"]
    assert ollama["base_url"] == "http://127.0.0.1:11434/v1"  # the trailing slash dropped, as on the command line
    assert (ollama["api"], ollama["temperature"], ollama["max_tokens"], ollama["seed"]) == ("completions", 0.2, 64, 7)
    assert (ollama["stream"], ollama["chat"], ollama["timeout"], ollama["connect_timeout"]) == (False, True, 30, 3)
    assert config.default_profile == "ollama" and config.profiles["embedded"] == {"local": True}
    assert config.theme == "nord" and config.chat is None


def test_the_example_is_valid_and_uses_only_the_schema(tmp_path):
    path = write(tmp_path, EXAMPLE)
    config = load_config(path)
    assert set(config.profiles) == {"ollama", "openai", "local"}
    # Every key the schema has is shown in the example, most of them commented out.
    for key in ("default_profile", "theme", "base_url", "model", "api", "api_key_env", "system_prompt", "temperature",
                "max_tokens", "seed", "stream", "timeout", "connect_timeout", "chat", "local", "model_path"):
        assert f"{key} =" in EXAMPLE


# -- errors: one line with the file, the key and the value ------------------------------------


def fails(tmp_path: Path, text: str, *words: str, profile: str | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        resolve({"profile": profile}, load_config(path), environ={})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for word in words:
        assert word in message, message
    return message


def test_an_unknown_profile_is_named_with_those_defined(tmp_path):
    fails(tmp_path, OLLAMA, '--profile "olama"', "[profiles.olama]", "embedded, ollama, openai", profile="olama")


def test_an_unknown_default_profile(tmp_path):
    fails(tmp_path, 'default_profile = "gone"\n[profiles.here]\nmodel = "m"\n', 'default_profile = "gone"', "defined: here")


def test_a_profile_when_there_is_no_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist.*config --init"):
        resolve({"profile": "ollama"}, load_config(tmp_path / "absent.toml"), environ={})


def test_an_unknown_key_in_a_profile(tmp_path):
    fails(tmp_path, '[profiles.ollama]\ntemprature = 0.2\n', "profiles.ollama.temprature = 0.2", "unknown key", "temperature")


def test_an_unknown_top_level_key(tmp_path):
    fails(tmp_path, 'colour = "blue"\n', 'colour = "blue"', "unknown key")


def test_a_profile_key_at_the_top_level(tmp_path):
    fails(tmp_path, 'model = "m"\n', 'model = "m"', "[profiles.NAME]")


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('temperature = "hot"', ('profiles.p.temperature = "hot"', "must be a number")),
        ('stream = "yes"', ('profiles.p.stream = "yes"', "true or false")),
        ("max_tokens = 1.5", ("profiles.p.max_tokens = 1.5", "whole number")),
        ("max_tokens = true", ("profiles.p.max_tokens = true", "whole number")),
        ("seed = \"7\"", ('profiles.p.seed = "7"', "whole number")),
        ("base_url = 8080", ("profiles.p.base_url = 8080", "a string")),
        ("chat = 1", ("profiles.p.chat = 1", "true or false")),
    ],
)
def test_a_wrong_type(tmp_path, line, words):
    fails(tmp_path, f"[profiles.p]\n{line}\n", *words)


def test_a_wrong_type_at_the_top_level(tmp_path):
    fails(tmp_path, "theme = 3\n", "theme = 3", "a string")
    fails(tmp_path, "profiles = 3\n", "profiles = 3", "[profiles.NAME]")
    fails(tmp_path, "[profiles]\np = 3\n", "profiles.p = 3", "must be a table")


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("temperature = 3", ("profiles.p.temperature = 3", "between 0 and 2")),
        ('api = "chats"', ('profiles.p.api = "chats"', "chat, completions, responses")),
        ('base_url = "ftp://h/v1"', ('profiles.p.base_url = "ftp://h/v1"', "http")),
        ("max_tokens = 0", ("profiles.p.max_tokens = 0", "at least 1")),
        ("timeout = 0", ("profiles.p.timeout = 0", "more than 0")),
        ("connect_timeout = -1", ("profiles.p.connect_timeout = -1", "more than 0")),
        ('model = ""', ('profiles.p.model = ""', "empty")),
    ],
)
def test_a_bad_value_is_checked_as_on_the_command_line(tmp_path, line, words):
    fails(tmp_path, f"[profiles.p]\n{line}\n", *words)


def test_a_literal_api_key_says_to_use_api_key_env_and_never_shows_the_key(tmp_path):
    key = "sk-proj-0123456789abcdefWXYZ"
    message = fails(tmp_path, f'[profiles.p]\napi_key = "{key}"\n', "profiles.p.api_key", "api_key_env", "sk-…WXYZ")
    assert "0123456789" not in message
    message = fails(tmp_path, f'api_key = "{key}"\n', "api_key =", "api_key_env")
    assert "0123456789" not in message


def test_a_key_in_api_key_env_is_refused_without_showing_it(tmp_path):
    message = fails(tmp_path, '[profiles.p]\napi_key_env = "sk-proj-0123456789abcdef"\n', "profiles.p.api_key_env", "environment variable")
    assert "0123456789abcdef" not in message


def test_a_server_and_the_embedded_model_at_once(tmp_path):
    fails(tmp_path, '[profiles.p]\nbase_url = "http://h/v1"\nlocal = true\n', "profiles.p.base_url", "not both")


def test_invalid_toml_names_the_file_and_where(tmp_path):
    fails(tmp_path, "[profiles.p\nmodel = 1\n", "not valid TOML", "line 1")


def test_a_profile_name_that_needs_quotes_is_quoted(tmp_path):
    fails(tmp_path, '[profiles."my box"]\nspeed = 1\n', 'profiles."my box".speed = 1')


def test_every_profile_is_checked_not_only_the_one_in_use(tmp_path):
    fails(tmp_path, '[profiles.good]\nmodel = "m"\n[profiles.bad]\ntemperature = 9\n', "profiles.bad.temperature = 9", profile="good")


# -- precedence -------------------------------------------------------------------------------


def resolved(tmp_path, text=OLLAMA, environ=None, **cli):
    return resolve(cli, load_config(write(tmp_path, text)), environ=environ or {})


def test_the_default_profile_over_the_defaults(tmp_path):
    r = resolved(tmp_path, environ={"OLLAMA_KEY": "sk-ollama-key-0123456789"})
    assert r.endpoint.kind == "custom" and r.endpoint.base_url == "http://127.0.0.1:11434/v1"
    assert r.endpoint.api_key == "sk-ollama-key-0123456789" and r.endpoint.source == "profile ollama"
    assert r.values["model"] == "llama3.2" and r.values["api"] == "completions"
    assert r.values["system_prompt"] == "You are terse." and r.values["temperature"] == 0.2
    assert (r.values["max_tokens"], r.values["seed"], r.values["stream"], r.values["chat"]) == (64, 7, False, True)
    assert (r.values["read_timeout"], r.values["connect_timeout"]) == (30, 3)
    assert r.values["retries"] == 2 and r.sources["retries"] == "default"
    assert r.profile == "ollama" and r.sources["profile"] == "default_profile"
    for name in ("endpoint", "model", "api", "system_prompt", "temperature", "max_tokens", "seed", "stream", "chat", "read_timeout", "connect_timeout", "api_key_env"):
        assert r.sources[name] == "profile ollama", name
    assert r.sources["api_key"] == "OLLAMA_KEY"


def test_the_command_line_over_the_profile(tmp_path):
    r = resolved(tmp_path, model="qwen", api="chat", temperature=1.0, system="Be loud.", stream=True, chat=False, read_timeout=9.0)
    assert (r.values["model"], r.values["api"], r.values["temperature"], r.values["system_prompt"]) == ("qwen", "chat", 1.0, "Be loud.")
    assert (r.values["stream"], r.values["chat"], r.values["read_timeout"]) == (True, False, 9.0)
    assert (r.sources["model"], r.sources["api"], r.sources["system_prompt"]) == ("--model", "--api", "--system")
    assert (r.sources["stream"], r.sources["chat"], r.sources["read_timeout"]) == ("--stream", "--no-chat", "--read-timeout")
    assert r.sources["seed"] == "profile ollama"  # each setting on its own


def test_profile_over_default_profile(tmp_path):
    r = resolved(tmp_path, profile="embedded")
    assert r.profile == "embedded" and r.sources["profile"] == "--profile"
    assert r.endpoint.kind == "local" and r.sources["endpoint"] == "profile embedded"
    assert r.values["model"] is None and r.sources["model"] == "default"


def test_the_environment_over_the_profile_and_said(tmp_path):
    r = resolved(tmp_path, environ={"OPENAI_BASE_URL": "http://env:1/v1"})
    assert r.endpoint.base_url == "http://env:1/v1" and r.sources["endpoint"] == "OPENAI_BASE_URL"
    assert r.values["model"] == "llama3.2"  # the rest of the profile still applies
    assert any("OPENAI_BASE_URL" in note and "base_url" in note for note in r.notes)
    embedded = resolved(tmp_path, environ={"OPENAI_BASE_URL": "http://env:1/v1"}, profile="embedded")
    assert embedded.endpoint.kind == "custom" and embedded.sources["endpoint"] == "OPENAI_BASE_URL"


def test_the_command_line_over_the_environment(tmp_path):
    r = resolved(tmp_path, environ={"OPENAI_BASE_URL": "http://env:1/v1"}, base_url="http://cli:2/v1")
    assert r.endpoint.base_url == "http://cli:2/v1" and r.sources["endpoint"] == "--base-url"
    local = resolved(tmp_path, environ={"OPENAI_BASE_URL": "http://env:1/v1"}, local=True)
    assert local.endpoint.kind == "local" and local.sources["endpoint"] == "--local"


def test_the_key_variable_command_line_over_profile_over_default(tmp_path):
    environ = {"OLLAMA_KEY": "sk-from-ollama-key-var", "OTHER": "sk-from-other-variable", "OPENAI_API_KEY": "sk-from-openai-variable"}
    assert resolved(tmp_path, environ=environ).endpoint.api_key == "sk-from-ollama-key-var"
    other = resolved(tmp_path, environ=environ, api_key_env="OTHER")
    assert other.endpoint.api_key == "sk-from-other-variable" and other.sources["api_key_env"] == "--api-key-env"
    plain = resolved(tmp_path, "[profiles.p]\nbase_url = 'http://h/v1'\n", environ=environ, profile="p")
    assert plain.endpoint.api_key == "sk-from-openai-variable" and plain.sources["api_key_env"] == "default"


def test_a_profile_without_a_server_is_openai_with_a_key(tmp_path):
    r = resolved(tmp_path, environ={"OPENAI_API_KEY": "sk-openai-0123456789"}, profile="openai")
    assert r.endpoint.kind == "openai" and r.sources["endpoint"] == "OPENAI_API_KEY"
    assert r.values["model"] == "gpt-4.1-mini" and r.sources["model"] == "profile openai"
    assert resolved(tmp_path, profile="openai").endpoint.kind == "local"


def test_nothing_configured_is_all_defaults(tmp_path):
    r = resolve({}, load_config(tmp_path / "absent.toml"), environ={})
    assert r.endpoint.kind == "local" and r.profile is None
    assert r.values["api"] == "chat" and r.values["stream"] is True and r.values["chat"] is False
    assert set(r.sources.values()) <= {"default", "the embedded server's own"}


def test_top_level_chat_comes_after_the_profile(tmp_path):
    text = 'chat = true\n[profiles.a]\nmodel = "m"\n[profiles.b]\nchat = false\n'
    assert resolved(tmp_path, text, profile="a").values["chat"] is True
    assert resolved(tmp_path, text, profile="a").sources["chat"] == "config file"
    assert resolved(tmp_path, text, profile="b").values["chat"] is False
    assert resolved(tmp_path, text, profile="b", chat=True).values["chat"] is True


def test_model_path_is_relative_to_the_config_file_and_means_embedded(tmp_path):
    r = resolved(tmp_path, '[profiles.g]\nmodel_path = "models/x.gguf"\n', profile="g")
    assert r.values["model_path"] == tmp_path / "models" / "x.gguf"
    assert r.endpoint.kind == "local" and r.sources["endpoint"] == "profile g"
    r = resolved(tmp_path, '[profiles.g]\nmodel_path = "/abs/x.gguf"\n', profile="g", base_url="http://h/v1")
    assert r.endpoint.kind == "custom" and r.values["model_path"] == Path("/abs/x.gguf")


def test_reading_never_imports_tomlkit(monkeypatch, tmp_path):
    """The TUI reads the file before its worker starts: tomllib only."""
    monkeypatch.setenv("STREAMTUI_CONFIG", str(write(tmp_path, OLLAMA)))
    code = (
        "import sys; from tui.cli import build_parser, resolve_args; "
        "r = resolve_args(build_parser().parse_args([])); assert r.profile == 'ollama', r.profile; "
        "assert 'tomlkit' not in sys.modules, 'tomlkit imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr


# -- writing back -----------------------------------------------------------------------------

COMMENTED = """\
# My streamtui settings.
theme = "textual-dark"   # changed in the app

# Where I run models.
[profiles.ollama]  # the box under the desk
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.2"   # small and quick

[profiles.work]
model = "gpt-4o"
"""


def test_set_theme_keeps_comments_and_layout(tmp_path):
    path = write(tmp_path, COMMENTED)
    config = ConfigFile.load(path)
    assert config.theme == "textual-dark" and config.profile_names == ["ollama", "work"]
    config.set_theme("nord")
    config.save()
    assert path.read_text(encoding="utf-8") == COMMENTED.replace('"textual-dark"', '"nord"')
    assert load_config(path).theme == "nord"


def test_set_default_profile_adds_a_line_and_keeps_the_rest(tmp_path):
    path = write(tmp_path, COMMENTED)
    config = ConfigFile.load(path)
    config.set_default_profile("work")
    config.save()
    text = path.read_text(encoding="utf-8")
    assert 'default_profile = "work"' in text
    for line in COMMENTED.splitlines():
        assert line in text
    assert load_config(path).default_profile == "work"
    config = ConfigFile.load(path)
    config.set_default_profile(None)
    config.save()
    assert path.read_text(encoding="utf-8") == COMMENTED  # the line goes, nothing else changes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Under the commented-out line of the example that --init writes.
        ('# theme = "textual-dark"\n\n[profiles.p]\nmodel = "m"\n', '# theme = "textual-dark"\ntheme = "nord"\n\n[profiles.p]\nmodel = "m"\n'),
        # Above the first table and the comment that introduces it, not between them.
        ('# Mine.\n\n# Servers:\n[profiles.p]\nmodel = "m"\n', '# Mine.\n\ntheme = "nord"\n\n# Servers:\n[profiles.p]\nmodel = "m"\n'),
        ('[profiles.p]\nmodel = "m"\n', 'theme = "nord"\n\n[profiles.p]\nmodel = "m"\n'),
    ],
)
def test_a_new_line_goes_where_a_person_would_put_it(tmp_path, text, expected):
    path = write(tmp_path, text)
    config = ConfigFile.load(path)
    config.set_theme("nord")
    config.save()
    assert path.read_text(encoding="utf-8") == expected


def test_the_example_takes_the_theme_under_its_comment(tmp_path):
    path = tmp_path / "config.toml"
    write_example(path)
    config = ConfigFile.load(path)
    config.set_theme("nord")
    config.set_default_profile("ollama")
    config.save()
    text = path.read_text(encoding="utf-8")
    assert '# theme = "textual-dark"\ntheme = "nord"\n' in text
    assert '# default_profile = "ollama"\ndefault_profile = "ollama"\n' in text
    assert text.replace('theme = "nord"\n', "", 1).replace('default_profile = "ollama"\n', "", 1) == EXAMPLE
    assert load_config(path).default_profile == "ollama" and mode(path) == 0o600


def test_set_default_profile_refuses_an_undefined_one(tmp_path):
    config = ConfigFile.load(write(tmp_path, COMMENTED))
    with pytest.raises(ConfigError, match=r'default_profile = "home".*defined: ollama, work'):
        config.set_default_profile("home")


def test_save_creates_a_private_file_in_a_private_folder(tmp_path):
    path = tmp_path / "xdg" / "streamtui" / "config.toml"
    config = ConfigFile.load()
    assert config.path == path and config.theme is None
    config.set_theme("nord")
    config.save()
    assert path.read_text(encoding="utf-8") == 'theme = "nord"\n'
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


def test_save_makes_a_readable_file_private(tmp_path):
    path = write(tmp_path, COMMENTED)
    path.chmod(0o644)
    config = ConfigFile.load(path)
    config.set_theme("nord")
    config.save()
    assert mode(path) == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == ["config.toml"]  # no temporary file left


def test_save_follows_a_symbolic_link(tmp_path):
    real = write(tmp_path, COMMENTED)
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    config = ConfigFile.load(link)
    config.set_theme("nord")
    config.save()
    assert link.is_symlink() and 'theme = "nord"' in real.read_text(encoding="utf-8")


def test_save_never_writes_a_file_the_next_start_would_refuse(tmp_path):
    path = write(tmp_path, COMMENTED + "colour = 1\n")
    before = path.read_text(encoding="utf-8")
    config = ConfigFile.load(path)
    config.set_theme("nord")
    with pytest.raises(ConfigError, match="colour"):
        config.save()
    assert path.read_text(encoding="utf-8") == before


def test_an_unreadable_document_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        ConfigFile.load(write(tmp_path, "theme = \n"))


def test_write_example_is_private_and_never_overwrites(tmp_path):
    path = tmp_path / "xdg" / "streamtui" / "config.toml"
    write_example(path)
    assert path.read_text(encoding="utf-8") == EXAMPLE
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    path.write_text("# mine\n", encoding="utf-8")
    with pytest.raises(FileExistsError):
        write_example(path)
    assert path.read_text(encoding="utf-8") == "# mine\n"


def test_write_example_leaves_an_existing_shared_folder_alone(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    write_example(shared / "streamtui.toml")
    assert mode(shared) == 0o755 and mode(shared / "streamtui.toml") == 0o600
