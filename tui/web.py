"""``streamtui web``: the same app in a browser, served by textual-serve.

textual-serve runs one command per browser session and relays its terminal to xterm.js in the
page. The command is streamtui itself (``python -P -m tui``) with the options this command was
given, rebuilt from the parsed namespace against the TUI's own parser, so every option the TUI
takes works in the browser, today's and those added later.

Secrets never go on a command line (``ps`` shows command lines to every user): the API key
stays in the environment, which each session inherits (``--api-key-env`` names the variable,
never the key), and a base URL with credentials in it goes to the session through
``OPENAI_BASE_URL`` instead of ``--base-url``, and the prompt (``--prompt``, perhaps read from
standard input) through ``STREAMTUI_PROMPT``. What this server prints or logs, including a
session's error output, goes through the same redaction as streamtui's log file.

Whoever can drive a session can read every stored prompt and answer and spend the API key, and
binding to 127.0.0.1 keeps out neither other users of this machine nor other pages in the
browser (websockets know no CORS; DNS rebinding makes a page look same-origin). So every
request must name this server in its Host header, a websocket must come from this server's
page (its Origin), and the page and its websocket need this run's random token: in the URL
printed at start (``/?token=…``), then in the cookie the page sets (HttpOnly, SameSite=Strict).
Anything else gets a 403 with one line saying why.

    python -m tui.web [--host H] [--port N] [streamtui's options…]
"""

from __future__ import annotations

# Only what the TUI imports anyway: tui/cli.py imports this module to build its parser, on
# every launch. The server's own imports (asyncio, aiohttp, textual-serve) wait for main().
import argparse
import os
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

# Where a session finds its prompt (the TUI reads it when it has no --prompt).
from .engine.worker_process import PROMPT_ENV

if TYPE_CHECKING:
    import socket

PROG = "streamtui web"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: The namespace's own entries, never passed on to a session.
WEB_DESTS = frozenset({"host", "port", "command"})
#: Addresses that listen on every interface.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
#: The names of this machine's loopback interface that a browser may put in a Host header.
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
#: Routes served without the token (textual-serve's route names): the page's scripts and styles.
OPEN_ROUTES = frozenset({"static"})

DESCRIPTION = (
    "Serve streamtui in a browser through textual-serve: every browser tab runs its own "
    "streamtui session with the options given here."
)


# --------------------------------------------------------------------------- options


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, not {port}")
    return port


def add_web_options(parser: argparse.ArgumentParser) -> None:
    """``--host`` and ``--port``: for the ``web`` subcommand's parser in ``tui/cli.py``."""
    parser.add_argument("--host", default=DEFAULT_HOST, metavar="HOST", help=f"address to listen on (default: {DEFAULT_HOST}; anyone who can reach it and has the printed URL can use the app and its API key)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, metavar="N", help=f"port to listen on (default: {DEFAULT_PORT}; 0 picks a free one)")


def app_argv(args: argparse.Namespace) -> list[str]:
    """The TUI's command-line options that reproduce ``args`` (host and port left out).

    Walks the TUI's own parser (``tui.cli.build_parser``): an option whose value differs from
    its default is written back as ``--option=value``, so a value that starts with ``-`` stays a
    value. An action of a kind this does not know raises, rather than silently dropping an option.
    """
    from .cli import build_parser

    argv: list[str] = []
    for action in build_parser()._actions:
        if not action.option_strings or action.dest in WEB_DESTS or action.dest == argparse.SUPPRESS:
            continue
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        if not hasattr(args, action.dest):
            continue
        value = getattr(args, action.dest)
        if value == action.default:
            continue
        option = max(action.option_strings, key=len)
        if isinstance(action, argparse.BooleanOptionalAction):
            positive = next(o for o in action.option_strings if not o.startswith("--no-"))
            argv.append(positive if value else "--no-" + positive.removeprefix("--"))
        elif isinstance(action, argparse._CountAction):
            argv.extend([option] * int(value or 0))
        elif action.nargs == 0:  # store_true, store_false, store_const
            if value == action.const:
                argv.append(option)
            else:
                raise ValueError(f"{option}: cannot pass {value!r} on to the app")
        elif isinstance(action, argparse._AppendAction):
            argv.extend(f"{option}={item}" for item in value)
        elif type(action) is argparse._StoreAction and action.nargs in (None, "?"):
            if value is not None:
                argv.append(f"{option}={value}")
        else:
            raise ValueError(f"{option}: {type(action).__name__} options cannot be passed on to the app yet")
    return argv


def _has_credentials(url: str) -> bool:
    try:
        return "@" in urlsplit(url).netloc
    except ValueError:
        return False


def session_command(args: argparse.Namespace, environ: MutableMapping[str, str] = os.environ) -> str:
    """The shell command textual-serve runs for each browser session, and what it needs in the
    environment (written into ``environ``): nothing secret, nor the prompt, is ever part of the
    command."""
    argv = app_argv(args)
    base_url = getattr(args, "base_url", None)
    if base_url and _has_credentials(base_url):
        # --base-url wins over OPENAI_BASE_URL, so this is the same endpoint, off the command line.
        argv = [item for item in argv if not item.startswith("--base-url=")]
        environ["OPENAI_BASE_URL"] = base_url
    prompt = getattr(args, "prompt", None)
    if prompt:
        # A prompt may be private (`--prompt -` reads it from standard input to keep it off `ps`).
        argv = [item for item in argv if not item.startswith("--prompt=")]
        environ[PROMPT_ENV] = prompt
    import shlex

    root = str(Path(__file__).resolve().parent.parent)
    if not _installed_at(root):
        # A checkout (or an editable install): the sessions import this very copy. With -P,
        # the current directory never decides which ``tui`` is imported.
        existing = environ.get("PYTHONPATH")
        environ["PYTHONPATH"] = root + (os.pathsep + existing if existing else "")
    return shlex.join([sys.executable, "-P", "-m", "tui", *argv])


def _installed_at(root: str) -> bool:
    import site
    import sysconfig

    places = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    if site.ENABLE_USER_SITE:
        places.add(site.getusersitepackages())
    return any(os.path.realpath(place) == os.path.realpath(root) for place in places)


# --------------------------------------------------------------------------- output


class _Redacting:
    """A text stream that hides every known secret, for what textual-serve writes (it copies a
    failed session's error output to standard output)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from .engine.secrets import redact_all

        self._stream.write(redact_all(text))
        self._stream.flush()
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _register_secrets(args: argparse.Namespace) -> None:
    """Make this process know the API key and any URL password, so that redaction hides them."""
    from .engine.secrets import register_credentials, register_secret

    for name in {"OPENAI_API_KEY", getattr(args, "api_key_env", None) or "OPENAI_API_KEY"}:
        register_secret(os.environ.get(name))
    for url in (getattr(args, "base_url", None), os.environ.get("OPENAI_BASE_URL")):
        register_credentials(None, url or "")  # its password and query values


def _url_host(host: str) -> str:
    import socket

    if host in WILDCARD_HOSTS:
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_host_names(host: str) -> frozenset[str]:
    """The names a browser may use for a server listening on ``host``, as its Host header has
    them (lower case, IPv6 without brackets): ``host`` itself, the loopback names on a loopback
    address, and on a wildcard address the machine's name (the printed URL's) and the loopback
    names. (A request may also name the address it arrived at: see ``WebServer``.)"""
    import socket

    if host in WILDCARD_HOSTS:
        return LOOPBACK_NAMES | {socket.gethostname().lower()}
    name = host.lower().strip("[]")
    return LOOPBACK_NAMES | {name} if _is_loopback(name) else frozenset({name})


def _host_name(host: str) -> str | None:
    """The name in a Host header (``name``, ``name:port``, ``[v6]:port``), lower case and IPv6
    without brackets; None when it is not one."""
    try:
        parts = urlsplit("//" + host)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return None
    if parts.netloc != host or parts.username is not None or not parts.hostname:
        return None
    return parts.hostname


def _address(sockname: Any) -> str | None:
    """The IP address of a socket's own end, an IPv4 one as such even on a dual-stack socket."""
    import ipaddress

    try:
        address = ipaddress.ip_address(sockname[0])
    except (TypeError, IndexError, ValueError):
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


# --------------------------------------------------------------------------- server


def _make_server(command: str, sock: socket.socket, public_url: str, token: str, host_names: frozenset[str], announce: TextIO):  # -> textual_serve.server.Server
    """``announce``: where the URL with the token is printed, the one place it is shown (so
    not through the redaction, which hides it everywhere else)."""
    import asyncio
    import hmac
    import logging
    import signal

    from aiohttp import web
    from textual_serve.server import Server

    from .engine.secrets import redact_all

    log = logging.getLogger("textual-serve")
    token_bytes = token.encode()
    # The port in its name: two servers on one machine do not overwrite each other's cookie
    # (browsers keep cookies by host name, not by port).
    token_cookie = f"streamtui-token-{sock.getsockname()[1]}"

    class RedactingFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return redact_all(super().format(record))

    class WebServer(Server):
        """textual-serve's server on a socket bound beforehand (so ``--port 0`` works and the
        printed URL is the real one), the page's links following the address the browser used,
        plain, redacted logging (textual-serve's own shows local variables in tracebacks, and
        they include the sessions' environment), every session closed, its app quit, when
        the server stops, and every request checked first (``refusal``)."""

        def __init__(self) -> None:
            host, port = sock.getsockname()[:2]
            super().__init__(command, host=host, port=port, title="streamtui", public_url=public_url)
            self._sessions: set[asyncio.Task[Any]] = set()

        def initialize_logging(self) -> None:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(RedactingFormatter(f"{PROG}: %(levelname)s %(message)s"))
            textual_serve_log = logging.getLogger("textual-serve")
            textual_serve_log.handlers[:] = [handler]
            textual_serve_log.setLevel(logging.DEBUG if self.debug else logging.WARNING)
            textual_serve_log.propagate = False

        def refusal(self, request: web.Request) -> str | None:
            """Why ``request`` is refused, or None. The Host header must name this server (a
            page whose own name was rebound to this address names itself: DNS rebinding). A
            websocket must come from this server's page: same scheme, same host and port
            (browsers send Origin on every websocket, and apply no CORS to them). And all but
            the static files need this run's token, in the URL or the page's cookie."""
            host = request.headers.get("Host", "")
            name = _host_name(host)
            transport = request.transport
            arrived_at = _address(transport.get_extra_info("sockname")) if transport is not None else None
            if name is None or (name not in host_names and name != arrived_at):
                return f"Host {host!r} is not this server"
            route = request.match_info.route.name
            if route == "websocket":
                origin = request.headers.get("Origin")
                if origin is None or origin.lower() != f"{request.scheme}://{host}".lower():
                    return f"a websocket from Origin {origin!r}, not from this server's page"
            if route not in OPEN_ROUTES:
                given = (request.query.get("token", ""), request.cookies.get(token_cookie, ""))
                if not any(hmac.compare_digest(value.encode(), token_bytes) for value in given):
                    return "no valid token: open the URL streamtui web printed when it started"
            return None

        @web.middleware
        async def guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
            reason = self.refusal(request)
            if reason is None:
                return await handler(request)
            log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote, reason)
            return web.Response(status=403, text=f"{PROG}: refused: {reason}\n")

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(self.guard)
            return app

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            # The page's links (its websocket, its scripts) follow the address the browser used,
            # so the page works through an SSH tunnel or a wildcard bind too. (Nothing awaits
            # between this and textual-serve reading it.)
            self.public_url = f"{request.scheme}://{request.host}"
            response = await super().handle_index(request)
            # For the page's websocket: HttpOnly, no script reads it; SameSite=Strict, no other
            # site's page makes the browser send it.
            response.set_cookie(token_cookie, token, httponly=True, samesite="Strict", path="/")
            response.headers["Referrer-Policy"] = "no-referrer"  # the page's URL may hold the token
            return response

        async def on_startup(self, app: web.Application) -> None:
            print(f"{PROG}: serving streamtui on {public_url}/?token={token}  (open it in a browser; Ctrl+C stops)", file=announce, flush=True)
            print(f"{PROG}: each browser tab runs: {command}", flush=True)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            task = asyncio.current_task()
            assert task is not None
            self._sessions.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                self._sessions.discard(task)

        async def on_shutdown(self, app: web.Application) -> None:
            # textual-serve quits a session's app when its handler ends: end them all now,
            # rather than after aiohttp's grace period.
            sessions = list(self._sessions)
            for task in sessions:
                task.cancel()
            if sessions:
                await asyncio.wait(sessions, timeout=10)

        def serve(self, debug: bool = False) -> None:
            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for signum in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(signum, self.request_exit)
                except (NotImplementedError, RuntimeError):
                    pass
            try:
                web.run_app(self._make_app(), sock=sock, handle_signals=False, loop=loop, print=None, shutdown_timeout=5)
            finally:
                loop.close()

    return WebServer()


def _listen(host: str, port: int) -> socket.socket:
    import socket

    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family)


def main(args: argparse.Namespace) -> int:
    """Serve the app with the options in ``args`` (``host``, ``port`` and the TUI's options)."""
    host = getattr(args, "host", None) or DEFAULT_HOST
    port = getattr(args, "port", None)
    port = DEFAULT_PORT if port is None else port
    if getattr(args, "prompt", None) == "-":
        args.prompt = sys.stdin.read().rstrip("\n")  # as the TUI reads it
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        print(f"{PROG}: error: needs the textual-serve package (pip install textual-serve)", file=sys.stderr)
        return 1
    try:
        command = session_command(args)
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    _register_secrets(args)
    from secrets import token_urlsafe

    from .engine.secrets import register_secret

    token = token_urlsafe(32)
    register_secret(token)  # printed once, in the URL; masked in anything else
    from .cli import build_settings

    try:
        # The settings every session will build: a bad one is refused here, once, rather than
        # in each browser tab (where a session that cannot start shows only a blank page).
        build_settings(args)
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        sock = _listen(host, port)
    except OSError as exc:
        print(f"{PROG}: error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    bound_port = sock.getsockname()[1]
    if not _is_loopback(host):
        print(f"{PROG}: warning: listening on {host}: plain HTTP, so anyone who sees the URL's token on the way can use the app, and its API key", file=sys.stderr)
    stdout = sys.stdout
    server = _make_server(command, sock, f"http://{_url_host(host)}:{bound_port}", token, allowed_host_names(host), announce=stdout)
    sys.stdout = _Redacting(stdout)  # type: ignore[assignment]
    try:
        server.serve()
    finally:
        sys.stdout = stdout
        sock.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The standalone command's parser: the TUI's own, with ``--host`` and ``--port``."""
    from .cli import build_parser as build_tui_parser

    parser = build_tui_parser()
    parser.prog = PROG
    parser.description = DESCRIPTION
    # A browser session runs the app itself: no subcommands here.
    for action in [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]:
        parser._remove_action(action)
        for group in parser._action_groups:
            if action in group._group_actions:
                group._group_actions.remove(action)
    parser._subparsers = None
    add_web_options(parser)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse_args()))
