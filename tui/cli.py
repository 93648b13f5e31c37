"""The ``streamtui`` command: the TUI by default, plus ``serve`` and ``compare``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .engine.request import APIS

ENDPOINT_HELP = """\
endpoint resolution (first match wins):
  --local                       the embedded model (llama.cpp server, SmolLM2-135M)
  --base-url URL                that OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, …)
  OPENAI_BASE_URL               the same, from the environment
  OPENAI_API_KEY (or --api-key-env NAME)   OpenAI itself
  nothing configured            the embedded model (needs: pip install 'streamtui[local]')

keys: Ctrl+J send · Escape cancel · Ctrl+T streaming on/off · Ctrl+O compare (send both ways)
      Ctrl+L chunk timeline · Ctrl+G history · Ctrl+R raw/Markdown view · Ctrl+Q quit

history: every run is kept in history.sqlite3 in the user data directory
         (STREAMTUI_HISTORY=PATH to use another file, STREAMTUI_HISTORY=off to keep none)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamtui",
        description="Watch LLM completions stream in, token by token, with live latency figures.",
        epilog=ENDPOINT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_endpoint_options(parser)
    parser.add_argument("--no-stream", action="store_true", help="start with streaming off (Ctrl+T toggles it)")
    parser.add_argument("--prompt", default="", metavar="TEXT", help="prefill the prompt panel")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the embedded model's server alone, for other tools", description="Run the embedded llama.cpp server in the foreground and print its URL and key.")
    serve.add_argument("--model-path", type=Path, metavar="FILE.gguf", help="serve this GGUF instead of the bundled SmolLM2-135M")
    serve.add_argument("--port", type=int, help="port to listen on (default: a free one)")
    compare = sub.add_parser(
        "compare",
        help="send one prompt streamed and not, N times each, and print the figures",
        description="The cookbook's experiment without the TUI: the same prompt N times each way, "
        "streamed and not, then a table of TTFT, E2E, chunks and tokens (medians with min–max).",
        epilog=ENDPOINT_HELP.split("\nkeys:")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("--prompt", required=True, metavar="TEXT", help="the prompt to send")
    compare.add_argument("--repeat", type=int, default=3, metavar="N", help="runs each way (default: 3)")
    compare.add_argument("--json", action="store_true", help="print machine-readable results")
    add_endpoint_options(compare)
    return parser


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", metavar="URL", help="an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (default: $OPENAI_BASE_URL)")
    parser.add_argument("--local", action="store_true", help="use the embedded local model even if an endpoint is configured")
    parser.add_argument("--model", metavar="NAME", help="model name (default: gpt-4o-mini on OpenAI, the first model a server lists, or the embedded model)")
    parser.add_argument("--model-path", type=Path, metavar="FILE.gguf", help="serve this GGUF as the embedded model")
    parser.add_argument("--api", choices=APIS, default="chat", help="chat (/v1/chat/completions, default), completions (legacy /v1/completions) or responses (/v1/responses)")
    parser.add_argument("--max-tokens", type=int, metavar="N", help="maximum tokens to generate")
    parser.add_argument("--temperature", type=float, metavar="T", help="sampling temperature")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="NAME", help="read the API key from this environment variable (default: OPENAI_API_KEY)")
    parser.add_argument("--encoding", metavar="NAME", help="tiktoken encoding for counting (default: the model's, else o200k_base as an estimate)")


def build_settings(args: argparse.Namespace):
    from .engine.endpoint import resolve_endpoint
    from .engine.settings import Settings

    endpoint = resolve_endpoint(base_url=args.base_url, api_key_env=args.api_key_env, local=args.local or bool(args.model_path))
    return Settings(
        endpoint=endpoint,
        model=args.model,
        api=args.api,
        stream=not getattr(args, "no_stream", False),
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        encoding=args.encoding,
        prompt=getattr(args, "prompt", ""),
        model_path=args.model_path,
    )


def make_local_server(settings):
    """The embedded server for a local endpoint, or None when the [local] extra is missing."""
    if settings.endpoint.kind != "local":
        return None
    from .engine.local_server import LocalServer, local_extra_available

    if settings.model_path is None and not local_extra_available():
        return None
    return LocalServer(settings.model_path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.encoding:
        from .engine.tokens import SUPPORTED_ENCODINGS

        if args.encoding not in SUPPORTED_ENCODINGS:
            print(f"streamtui: unknown --encoding {args.encoding!r}; choose one of {', '.join(SUPPORTED_ENCODINGS)}", file=sys.stderr)
            return 2
    if args.command == "serve":
        import asyncio

        from .engine.local_server import serve_forever

        return asyncio.run(serve_forever(args.model_path, args.port))
    settings = build_settings(args)
    if args.command == "compare":
        import asyncio

        from .compare import main as compare_main
        from .engine.connection import Connection

        if args.repeat < 1:
            print("streamtui compare: --repeat must be at least 1", file=sys.stderr)
            return 2
        connection = Connection(settings.endpoint, local_server=make_local_server(settings), model=settings.model)
        return asyncio.run(compare_main(settings, connection, args.prompt, args.repeat, args.json))
    from .app import StreamTuiApp
    from .engine.history import HistoryStore

    local_server = make_local_server(settings)
    history = HistoryStore()
    app = StreamTuiApp(settings, local_server=local_server, history=history)
    try:
        app.run()
    finally:
        if local_server is not None:
            local_server.stop()
        history.close()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
