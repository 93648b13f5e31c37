"""The ``streamtui`` command: the TUI by default, plus ``compare``, ``serve``, ``config`` and
``web``.

The shared options live in one parent parser, so they mean the same before and after a
subcommand's name (``streamtui --model M compare …`` and ``streamtui compare --model M …``).

Each setting is taken from the command line, else the environment (``OPENAI_BASE_URL``; the
key from its variable), else the config file's profile (``--profile NAME``, else
``default_profile``), else its default; :mod:`tui.engine.config` implements and documents it.
Every command's errors start with its own name (``streamtui compare: error: …``): a bad
option or config value exits 2, a failure while working exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .engine import validation
from .engine.request import APIS
from .engine.worker_process import PROMPT_ENV, discard_worker

if TYPE_CHECKING:
    from .engine.worker_client import WorkerProcess

ENDPOINT_HELP = """\
endpoint resolution (first match wins):
  --local or --model-path FILE  the embedded model (llama.cpp server, SmolLM2-135M)
  --base-url URL                that OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, …)
  OPENAI_BASE_URL               the same, from the environment
  the profile                   its base_url, or the embedded model for local = true or model_path
  OPENAI_API_KEY                OpenAI itself (the key's variable: --api-key-env NAME, else the
                                profile's api_key_env, else OPENAI_API_KEY)
  nothing configured            the embedded model (needs: pip install 'streamtui[local]')
"""

KEYS_HELP = """\
keys: Ctrl+J or Alt+Enter send · Escape cancel · Ctrl+T streaming on/off · Ctrl+O compare (send both ways)
      Ctrl+L chunk timeline · Ctrl+G history · Ctrl+R raw/Markdown view · Ctrl+Q quit
"""


def _settings_help() -> str:
    from .engine.config import config_path

    return (
        "settings, each one on its own (first match wins):\n"
        "  1. the command line     --model, --base-url, --temperature, --system, …\n"
        "  2. the environment      OPENAI_BASE_URL, and the API key from its variable\n"
        "  3. the profile          [profiles.NAME] in the config file: --profile NAME, else its\n"
        "                          default_profile (the file's top-level chat comes after it)\n"
        "  4. the defaults\n"
        f"  config file: {config_path()} (STREAMTUI_CONFIG=PATH for another)\n"
        "  `streamtui config` shows each setting and where it came from; `streamtui config --init`\n"
        "  writes a commented example. Keys never go in the file: api_key_env names their variable.\n"
    )


def _files_help() -> str:
    from .engine.logfile import log_path

    return (
        "files:\n"
        "  history   every run, in history.sqlite3 in the user data directory\n"
        "            (STREAMTUI_HISTORY=PATH to use another file, STREAMTUI_HISTORY=off to keep none)\n"
        f"  log       failures with their tracebacks: {log_path()} (STREAMTUI_LOG=PATH)\n"
    )


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (``streamtui: error: …``) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _checked(check: Callable[[str], object]) -> Callable[[str], object]:
    """An argparse type from a validation function: its message becomes the error."""

    def convert(value: str) -> object:
        try:
            return check(value)
        except validation.InvalidSetting as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = check.__name__
    return convert


def _whole(what: str, low: int, high: int | None = None) -> Callable[[str], int]:
    def check(value: str) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise validation.InvalidSetting(f"{what} must be a whole number, not {value!r}") from None
        if number < low or (high is not None and number > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise validation.InvalidSetting(f"{what} must be {bounds}, not {number}")
        return number

    check.__name__ = what.replace(" ", "_")
    return check


def _text(what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value.strip() or any(character.isspace() for character in value):
            raise validation.InvalidSetting(f"{what} must be one word without spaces")
        return value

    check.__name__ = what.replace(" ", "_")
    return check


def _env_name(value: str) -> str:
    """A variable's name; the message never repeats the value (it may be a key pasted here)."""
    import re

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise validation.InvalidSetting("must name the environment variable that holds the key (letters, digits and _), not the key itself")
    return value


def add_shared_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command takes. A subcommand's copies default to "not given"
    (``suppress``) so they never overwrite what was given before the subcommand."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--profile", default=default(None), metavar="NAME", help="use this profile of the config file (default: its default_profile)")
    parser.add_argument("--base-url", type=_checked(validation.base_url), default=default(None), metavar="URL", help="an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (default: $OPENAI_BASE_URL, else the profile's base_url)")
    parser.add_argument("--local", action="store_true", default=default(False), help="use the embedded local model even if an endpoint is configured")
    parser.add_argument("--model", default=default(None), metavar="NAME", help="model name (default: the profile's, else gpt-4o-mini on OpenAI, the first model a server lists, or the embedded model)")
    parser.add_argument("--model-path", type=Path, default=default(None), metavar="FILE.gguf", help="serve this GGUF as the embedded model")
    parser.add_argument("--api", choices=APIS, default=default(None), help="chat (/v1/chat/completions), completions (legacy /v1/completions) or responses (/v1/responses) (default: the profile's, else chat)")
    parser.add_argument("--max-tokens", type=_checked(validation.max_tokens), default=default(None), metavar="N", help="maximum tokens to generate (at least 1)")
    parser.add_argument("--temperature", type=_checked(validation.temperature), default=default(None), metavar="T", help="sampling temperature, 0 to 2")
    parser.add_argument("--seed", type=_checked(validation.seed), default=default(None), metavar="N", help="sampling seed, for servers that honour it")
    parser.add_argument("--system", default=default(None), metavar="TEXT", help="a system prompt (chat and responses)")
    parser.add_argument("--api-key-env", type=_checked(_env_name), default=default(None), metavar="NAME", help="read the API key from this environment variable (default: the profile's api_key_env, else OPENAI_API_KEY)")
    parser.add_argument("--encoding", type=_checked(validation.encoding), default=default(None), metavar="NAME", help="tiktoken encoding for counting (default: the model's, else o200k_base as an estimate)")
    parser.add_argument("--connect-timeout", type=_checked(lambda v: validation.timeout(v, "connect timeout")), default=default(None), metavar="S", help="seconds to open a connection (default: 10)")
    parser.add_argument("--read-timeout", type=_checked(lambda v: validation.timeout(v, "read timeout")), default=default(None), metavar="S", help="seconds of silence allowed before the headers and between reads (default: 120)")
    parser.add_argument("--retries", type=_checked(validation.retries), default=default(None), metavar="N", help="retries before the first byte (429, 5xx, refused), shown in the panel (default: 2)")


def add_app_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options of the app itself (the TUI and ``web``)."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--stream", action=argparse.BooleanOptionalAction, default=default(None), help="start with streaming on or off; Ctrl+T toggles it (default: on, or the profile's stream)")
    parser.add_argument("--chat", action=argparse.BooleanOptionalAction, default=default(None), help="start in conversation mode, each prompt sent with the turns so far (default: off, or the config's chat)")
    parser.add_argument("--prompt", default=default(""), metavar="TEXT", help="prefill the prompt panel ('-' reads it from standard input)")


def build_parser() -> argparse.ArgumentParser:
    settings_help = _settings_help()
    parser = _Parser(
        prog="streamtui",
        description="Watch LLM completions stream in, token by token, with live latency figures. "
        "Without a command, the terminal app.",
        epilog=ENDPOINT_HELP + "\n" + settings_help + "\n" + KEYS_HELP + "\n" + _files_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_shared_options(parser, suppress=False)
    add_app_options(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"streamtui {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    compare = sub.add_parser(
        "compare",
        help="send one prompt streamed and not, N times each, and print the figures",
        description="The cookbook's experiment without the TUI: the same prompt N times each way, "
        "streamed and not, then a table of TTFT, E2E, chunks and tokens (medians with min–max). "
        "Progress goes to stderr, the figures to stdout.",
        epilog=ENDPOINT_HELP + "\n" + settings_help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_shared_options(compare, suppress=True)
    compare.add_argument("--prompt", required=True, metavar="TEXT", help="the prompt to send ('-' reads it from standard input)")
    compare.add_argument("--repeat", type=_checked(_whole("repeat", 1)), default=3, metavar="N", help="runs each way (default: 3)")
    compare.add_argument("--json", action="store_true", help="print machine-readable results")
    serve = sub.add_parser(
        "serve",
        help="run the embedded model's server alone, for other tools",
        description="Run the embedded llama.cpp server in the foreground and print its URL and key.",
    )
    add_shared_options(serve, suppress=True)
    serve.add_argument("--host", type=_checked(_text("host")), metavar="ADDRESS", help="address to listen on (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=_checked(_whole("port", 1, 65535)), metavar="N", help="port to listen on (default: a free one)")
    serve.add_argument("--api-key", metavar="KEY", help="the key clients must send (default: a new random one each start); "
                       "'-' reads it from standard input (other users of this machine can see a command line's arguments)")
    config = sub.add_parser(
        "config",
        help="show the config file's path and the settings in effect, with their sources",
        description="Print the config file's path and each effective setting with where it came from "
        "(keys masked). The shared options show what they would change.",
        epilog=settings_help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_shared_options(config, suppress=True)
    config.add_argument("--init", action="store_true", help="write a commented example config file (never over an existing one)")
    web = sub.add_parser(
        "web",
        help="serve the app in a web browser (textual-serve)",
        description="Serve the same app in a browser; it takes the same options as the terminal app.",
        epilog=ENDPOINT_HELP + "\n" + settings_help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_shared_options(web, suppress=True)
    add_app_options(web, suppress=True)
    from .web import add_web_options

    add_web_options(web)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("streamtui")
    except PackageNotFoundError:
        return "unknown"


#: The command line's dests that take part in :func:`tui.engine.config.resolve`.
_RESOLVED_DESTS = (
    "profile", "base_url", "local", "model", "model_path", "api", "max_tokens", "temperature", "seed", "system",
    "api_key_env", "encoding", "connect_timeout", "read_timeout", "retries", "stream", "chat",
)


def resolve_args(args: argparse.Namespace, environ=None):  # -> config.Resolved
    """The effective settings for ``args``: the command line over the environment over the
    config file's profile over the defaults. Cheap (tomllib, no SDK): the TUI starts its
    worker from this. Raises ConfigError with one line."""
    from .engine.config import load_config, resolve

    cli = {dest: getattr(args, dest, None) for dest in _RESOLVED_DESTS}
    return resolve(cli, load_config(environ=environ), environ)


def build_settings(args: argparse.Namespace, resolved=None):  # -> Settings
    """The Settings for ``args`` (resolving them unless ``resolved`` is given)."""
    from .engine.settings import Settings

    resolved = resolve_args(args) if resolved is None else resolved
    return Settings(
        endpoint=resolved.endpoint,
        **resolved.values,
        prompt=getattr(args, "prompt", "") or "",
        theme=resolved.config.theme,
        config_path=resolved.config.path,
        sources=dict(resolved.sources),
    )


def _likely_encoding(model: str | None) -> str | None:
    """The encoding tiktoken uses for ``model``, known without importing tiktoken: OpenAI's
    current models use o200k_base, the gpt-3.5/gpt-4 generation cl100k_base."""
    if model and model.rsplit("/", 1)[-1].startswith(("gpt-3.5", "gpt-4-", "gpt-4")) and not model.rsplit("/", 1)[-1].startswith(("gpt-4o", "gpt-4.1", "gpt-4.5")):
        return "cl100k_base"
    return None


def make_local_server(settings):  # -> LocalServer | None
    """The embedded server for a local endpoint, or None when the [local] extra is missing."""
    if settings.endpoint.kind != "local":
        return None
    from .engine.local_server import LocalServer, local_extra_available

    if settings.model_path is None and not local_extra_available():
        return None
    return LocalServer(settings.model_path)


def main(argv: list[str] | None = None, spawned: tuple[WorkerProcess, BinaryIO] | None = None) -> int:
    """``spawned``: the streaming worker ``tui.launch`` started before anything was imported
    (the TUI adopts it; anything else stops it at once)."""
    try:
        return _main(argv, spawned)
    except BrokenPipeError:
        # The reader of our output left (``streamtui compare --json | head``): not worth a
        # traceback. Standard output goes to /dev/null so the exit's flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _main(argv: list[str] | None, spawned: tuple[WorkerProcess, BinaryIO] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except BaseException:  # --help, --version or a refused option: no TUI, no worker
        discard_worker(spawned)
        raise
    if args.command is not None:  # a sub-command streams in-process, if at all
        discard_worker(spawned)
    if args.command is None and not args.prompt:
        # streamtui web hands each browser session its prompt here, off the command line
        # (popped: the worker and other children need not hold it).
        args.prompt = os.environ.pop(PROMPT_ENV, "")
    prog = "streamtui" if args.command is None else f"streamtui {args.command}"
    if args.command == "config" and args.init:
        return _config_init(prog)
    # The TUI's streaming worker starts first of all: it imports the SDK while the settings are
    # read and the interface starts (the first send waits for nothing else).
    streamer = _start_worker(spawned) if args.command is None else None
    from .engine.config import ConfigError

    try:
        resolved = resolve_args(args)
    except ConfigError as exc:
        if streamer is not None:
            streamer.stop()
        return _fail(prog, str(exc), 2)
    if streamer is not None:
        _warm_worker(streamer, resolved)
    if getattr(args, "prompt", None) == "-":
        try:
            args.prompt = sys.stdin.read().rstrip("\n")
        except BaseException:  # Ctrl+C while waiting for input
            if streamer is not None:
                streamer.stop()
            raise
        if args.command == "compare" and not args.prompt.strip():
            return _fail(prog, "--prompt -: standard input gave an empty prompt", 2)
        if args.command is None and not _keys_from_the_terminal():
            if streamer is not None:
                streamer.stop()
            return _fail(prog, "--prompt -: the prompt came from standard input, and there is no terminal (/dev/tty) to read keys from", 2)
    if args.command == "compare" and not args.prompt.strip():
        return _fail(prog, "--prompt is empty", 2)
    if args.command == "serve":
        return _serve(args, resolved, prog)
    if args.command == "config":
        from .engine.config import report

        sys.stdout.write(report(resolved))
        return 0
    if args.command == "web":
        return _web(args, prog)
    settings = build_settings(args, resolved)
    if args.command == "compare":
        return _compare(settings, args)
    return _tui(settings, streamer)


def _keys_from_the_terminal() -> bool:
    """After the prompt was read from a pipe, make standard input the terminal again: Textual
    reads keys from it. False if there is no terminal."""
    if sys.stdin.isatty():
        return True
    try:
        terminal = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        return False
    os.dup2(terminal, 0)
    os.close(terminal)
    return True


def _fail(prog: str, message: str, code: int) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def _config_init(prog: str) -> int:
    from .engine.config import config_path, write_example

    path = config_path()
    try:
        write_example(path)
    except FileExistsError:
        return _fail(prog, f"{path} exists already; not overwriting it (edit it, or move it away and run --init again)", 1)
    except OSError as exc:
        return _fail(prog, f"cannot write {path}: {exc.strerror or exc}", 1)
    print(f"Wrote an example configuration to {path} (private: mode 0600). `streamtui config` shows what applies.")
    return 0


def _serve(args: argparse.Namespace, resolved, prog: str) -> int:  # noqa: ANN001
    """`streamtui serve`: the embedded server in the foreground (its errors say `streamtui serve:`)."""
    import asyncio

    from .engine.local_server import serve_forever

    if args.api_key == "-":
        args.api_key = sys.stdin.readline().strip()
    if args.api_key is not None:
        try:
            _text("API key")(args.api_key)
        except validation.InvalidSetting as exc:
            return _fail(prog, str(exc), 2)
    extra = {name: value for name in ("host", "api_key") if (value := getattr(args, name, None)) is not None}
    return asyncio.run(serve_forever(resolved.values["model_path"], args.port, **extra))


def _web(args: argparse.Namespace, prog: str) -> int:
    from .web import main as web_main

    return web_main(args) or 0


def _start_worker(spawned: tuple[WorkerProcess, BinaryIO] | None = None):  # -> WorkerStreamer
    """Start the streaming worker (or adopt the one ``tui.launch`` started) before the rest of
    the app is even imported: it loads the SDK (about a second on a small machine) while the
    interface starts."""
    from .engine.worker_client import WorkerStreamer

    streamer = WorkerStreamer()
    streamer.start(spawned)
    return streamer


def _warm_worker(streamer, resolved) -> None:  # noqa: ANN001
    """Have the worker build the client for the resolved endpoint, and its token counter the
    tiktoken encoding the first run will count with (a second later, or with that run's first
    text if it comes sooner: beside the streams, delaying none)."""
    from .engine.target import Target
    from .engine.tokens import FALLBACK_ENCODING

    endpoint, values = resolved.endpoint, resolved.values
    target = Target(endpoint.base_url, endpoint.api_key, values["connect_timeout"], values["read_timeout"], values["retries"])
    streamer.warm(target, values["api"], values["encoding"] or _likely_encoding(values["model"]) or FALLBACK_ENCODING)


def _compare(settings, args: argparse.Namespace) -> int:  # noqa: ANN001
    import asyncio

    from .compare import main as compare_main
    from .engine.connection import Connection
    from .engine.stream import InProcessStreamer

    connection = Connection(settings.endpoint, InProcessStreamer(), local_server=make_local_server(settings), model=settings.model, target=settings.target())
    try:
        return asyncio.run(compare_main(settings, connection, args.prompt, args.repeat, args.json))
    finally:
        if connection.local_server is not None:
            connection.local_server.stop()


def _tui(settings, streamer) -> int:  # noqa: ANN001
    from .engine.history import HistoryStore
    from .engine.settings import open_session

    local_server = history = session = None
    try:
        local_server = make_local_server(settings)
        history = HistoryStore()
        session = open_session(settings, streamer=streamer, history=history, local_server=local_server)
        from .app import StreamTuiApp
        from .profiles import Profiles

        app = StreamTuiApp(session, prompt=settings.prompt, profiles=Profiles.of(settings), theme=settings.theme, config_path=settings.config_path, freeze_heap=True)
        app.run()
    finally:  # whatever failed on the way, nothing the TUI started outlives it
        if session is not None:
            session.writer.close()
        streamer.stop()
        if local_server is not None:
            local_server.stop()
        if history is not None:
            history.close()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
