"""Browser mode (``streamtui web``): the app served by textual-serve, used from headless Chromium.

The browser test starts ``python -m tui.web`` on a free port against the scripted server, loads
the page in Debian's Chromium and drives it over the Chrome DevTools Protocol (a websocket,
through aiohttp's client, which textual-serve already depends on). textual-serve draws the
terminal with xterm.js on a canvas, so the page's text is read from xterm.js's own buffer in the
page (a hook captures the page's Terminal object as the page creates it), never from the HTML
the server sent. Keys go in as browser input events, as a person's would.

Without Chromium the browser test skips (``.ci/run`` installs Debian's ``chromium``); the
tests of how a session's command line is built run everywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import inspect
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.scripted_server import Script, ScriptedServer, words
from tui import cli, web

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

# --------------------------------------------------------------------------- the session's command


def _sample_value(action: argparse.Action) -> str:
    """A value ``action`` accepts that differs from its default."""
    if action.choices:
        return next(str(choice) for choice in action.choices if choice != action.default)
    for candidate in ("-a value, with 'quotes', spaces\nand a newline", "2", "0.5", "http://127.0.0.1:9/v1", "cl100k_base"):
        try:
            value = action.type(candidate) if callable(action.type) else candidate
        except (argparse.ArgumentTypeError, ValueError, TypeError):
            continue
        if value != action.default:
            return candidate
    raise AssertionError(f"no sample value for {action.option_strings}")


def _every_option() -> list[str]:
    """The TUI's command line with every option it has set to something not its default."""
    argv: list[str] = []
    for action in cli.build_parser()._actions:
        if not action.option_strings or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        option = max(action.option_strings, key=len)
        argv.append(option if action.nargs == 0 else f"{option}={_sample_value(action)}")
    return argv


def test_every_tui_option_reaches_the_session():
    """Whatever options the TUI has (today's and later ones), the command each browser session
    runs parses to the same settings the web command was given, without host and port, and
    with the prompt in the environment."""
    given = web.parse_args(["--host", "127.0.0.2", "--port", "0", *_every_option()])
    environ: dict[str, str] = {}
    command = web.session_command(given, environ=environ)
    program = shlex.split(command)
    assert program[:4] == [sys.executable, "-P", "-m", "tui"]
    session = cli.build_parser().parse_args(program[4:])
    expected = {k: v for k, v in vars(given).items() if k not in ("host", "port")}
    assert vars(session) == {**expected, "command": None, "prompt": ""}
    assert environ[web.PROMPT_ENV] == given.prompt
    assert not any(item.startswith(("--host", "--port")) for item in program)


def test_defaults_give_a_bare_command_and_loopback():
    args = web.parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", web.DEFAULT_PORT)
    assert shlex.split(web.session_command(args, environ={}))[4:] == []


def test_a_password_in_the_base_url_never_goes_on_the_command_line():
    url = "http://user:hunter2-password@127.0.0.1:9/v1"
    environ: dict[str, str] = {}
    command = web.session_command(web.parse_args(["--base-url", url, "--model", "m"]), environ=environ)
    assert "hunter2" not in command and "user:" not in command and "@127.0.0.1" not in command
    assert environ["OPENAI_BASE_URL"] == url  # below --base-url in precedence: the same endpoint
    assert "--model=m" in command


@pytest.mark.parametrize("argv", [["--port", "70000"], ["--port", "x"], ["compare"], ["serve"]])
def test_refused_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        web.parse_args(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("streamtui web: error:")


def _parser_with_web() -> argparse.ArgumentParser:
    """streamtui's parser with its ``web`` subcommand: tui/cli.py's own once it has one, until
    then the hook as specified (the shared options, ``--no-stream``, ``--prompt``, host, port)."""
    parser = cli.build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "web" not in subcommands.choices:
        web_parser = subcommands.add_parser("web")
        cli.add_shared_options(web_parser, suppress=True)
        web_parser.add_argument("--no-stream", action="store_true", default=argparse.SUPPRESS)
        web_parser.add_argument("--prompt", default=argparse.SUPPRESS, metavar="TEXT")
        web.add_web_options(web_parser)
    return parser


def test_options_before_and_after_web_reach_the_session():
    """``main(args)`` gets the namespace of ``streamtui [options] web [options]``."""
    args = _parser_with_web().parse_args(["--model", "m1", "web", "--temperature", "0.25", "--no-stream", "--prompt", "hi", "--port", "0"])
    assert (args.command, args.host, args.port) == ("web", "127.0.0.1", 0)
    environ: dict[str, str] = {}
    assert shlex.split(web.session_command(args, environ=environ))[4:] == ["--model=m1", "--temperature=0.25", "--no-stream"]
    assert environ[web.PROMPT_ENV] == "hi"


def test_streamtui_web_runs_tui_web_main(monkeypatch):
    subcommands = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    if "web" not in subcommands.choices:
        pytest.skip("tui/cli.py has no web subcommand yet (another branch adds it)")
    called: list[argparse.Namespace] = []
    monkeypatch.setattr(web, "main", lambda args: called.append(args) or 0)
    assert cli.main(["--model", "m1", "web", "--port", "0"]) == 0
    assert [(a.command, a.model, a.host, a.port) for a in called] == [("web", "m1", "127.0.0.1", 0)]


def test_a_port_in_use_is_one_line_and_exit_1(capsys, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)  # main() sets it for the sessions
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        assert web.main(web.parse_args(["--port", str(port)])) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"streamtui web: error: cannot listen on 127.0.0.1:{port}: ") and err.count("\n") == 1


# --------------------------------------------------------------------------- processes


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    children, found, todo = _children(), [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


async def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``condition`` (a function or a coroutine function) until it gives something true."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


class Process:
    """A child in its own process group, its output collected; stopped by its own id, then its
    group (its children, which it started) if anything of it is left."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output: list[str] = []
        self._readers = [asyncio.create_task(self._read(stream)) for stream in (process.stdout, process.stderr) if stream]

    @classmethod
    async def start(cls, *argv: str, stdin: bytes | None = None, **options: Any) -> Process:
        """Started with ``stdin`` as its standard input (then closed), else none."""
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, **options
        )
        if process.stdin is not None:
            process.stdin.write(stdin or b"")
            await process.stdin.drain()
            process.stdin.close()
        return cls(process)

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.output.append(line.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "".join(self.output)

    async def stop(self, grace: float = 15) -> list[int]:
        """SIGTERM, wait, and return what was left of its descendants after it exited (then
        ended by group)."""
        family = descendants(self.process.pid)
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        with contextlib.suppress(AssertionError):
            await wait_until(lambda: not any(alive(pid) for pid in family), 5, "the children to exit")
        left = [pid for pid in family if alive(pid)]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await asyncio.wait_for(asyncio.gather(*self._readers, return_exceptions=True), 5)
        return left


# --------------------------------------------------------------------------- the browser

#: Runs before the page's scripts: keeps the xterm.js Terminal that textual-serve's page assigns
#: to ``this.terminal``, so the test can read the screen from xterm.js's buffer.
CAPTURE_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
    if (value && value.buffer && typeof value.write === "function") window.__streamtuiTerminal = value;
  },
});
"""

#: The terminal's visible rows, as xterm.js holds them; null until the page made its terminal.
READ_SCREEN = """(() => {
  const terminal = window.__streamtuiTerminal;
  if (!terminal) return null;
  const buffer = terminal.buffer.active, rows = [];
  for (let y = 0; y < terminal.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
})()"""


class DevTools:
    """A Chrome DevTools Protocol session on one page, over its websocket."""

    def __init__(self, websocket: Any) -> None:
        self.websocket = websocket
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.websocket:
                data = json.loads(message.data)
                future = self._pending.pop(data.get("id", -1), None)
                if future is not None and not future.done():
                    future.set_result(data)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the DevTools connection closed"))

    async def call(self, method: str, timeout: float = 10, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        await self.websocket.send_json({"id": self._next_id, "method": method, "params": params})
        reply = await asyncio.wait_for(future, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}…: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


class Page:
    """The served app in the browser: its screen (the terminal's text) and the keyboard."""

    def __init__(self, devtools: DevTools, artifacts: Path) -> None:
        self.devtools = devtools
        self.artifacts = artifacts
        self.screen = ""

    async def read_screen(self) -> str:
        self.screen = await self.devtools.evaluate(READ_SCREEN) or ""
        return self.screen

    async def wait_for(self, condition: Callable[[str], Any], what: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while not condition(await self.read_screen()):
            if time.monotonic() > deadline:
                shot = await self.screenshot("failure")
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; screenshot {shot}; the screen:\n{self.screen}")
            await asyncio.sleep(0.05)
        return self.screen

    async def type(self, text: str) -> None:
        await self.devtools.evaluate("window.__streamtuiTerminal.focus()")
        await self.devtools.call("Input.insertText", text=text)

    async def ctrl(self, letter: str) -> None:
        code = ord(letter.upper())
        for kind in ("keyDown", "keyUp"):
            await self.devtools.call(
                "Input.dispatchKeyEvent", type=kind, modifiers=2, key=letter, code=f"Key{letter.upper()}", windowsVirtualKeyCode=code, nativeVirtualKeyCode=code
            )

    async def screenshot(self, name: str) -> Path | None:
        try:
            shot = await self.devtools.call("Page.captureScreenshot", format="png")
        except Exception:  # noqa: BLE001 - a diagnostic only
            return None
        path = self.artifacts / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@contextlib.asynccontextmanager
async def chromium(profile: Path, url: str, artifacts: Path):
    """Headless Chromium with ``url`` loaded, as a :class:`Page`; the browser ends on the way out."""
    import aiohttp

    profile.mkdir()
    browser = await Process.start(
        CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1280,800", "about:blank"
    )
    try:
        port_file = profile / "DevToolsActivePort"

        def devtools_port() -> int | None:
            if browser.process.returncode is not None:
                raise AssertionError(f"Chromium exited ({browser.process.returncode}):\n{browser.text}")
            lines = port_file.read_text().split() if port_file.exists() else []
            return int(lines[0]) if lines else None

        port = await wait_until(devtools_port, 20, "Chromium's DevTools port")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            target = next(t for t in targets if t["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as websocket:
                devtools = DevTools(websocket)
                try:
                    await devtools.call("Page.enable")
                    await devtools.call("Page.addScriptToEvaluateOnNewDocument", source=CAPTURE_TERMINAL)
                    await devtools.call("Page.navigate", url=url)
                    yield Page(devtools, artifacts)
                    with contextlib.suppress(Exception):
                        await devtools.call("Browser.close", timeout=5)
                finally:
                    await devtools.close()
    finally:
        await browser.stop(grace=5)


# --------------------------------------------------------------------------- the browser test

ANSWER = "Streaming shows the first words at once, then the rest as it arrives."
PROMPT = "Why stream answers?"
PROMPT_PANEL = "Prompt · Ctrl+J send"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (/usr/bin/chromium): apt-get install chromium")
async def test_the_app_in_a_browser_sends_a_prompt_and_shows_the_answer(tmp_path: Path):
    started = time.monotonic()
    key = "sk-canary-" + os.urandom(12).hex()
    log_file = tmp_path / "streamtui.log"
    environ = {name: value for name, value in os.environ.items() if not name.startswith(("OPENAI_", "STREAMTUI_"))}
    environ.update(OPENAI_API_KEY=key, STREAMTUI_HISTORY="off", STREAMTUI_LOG=str(log_file), TEXTUAL_ANIMATIONS="none")
    seen: list[str] = []  # every text the key must not be in

    # The server insists on the key: an answer proves the key reached the session (by environment).
    with ScriptedServer(Script(words(ANSWER, delay=0.01)), api_key=key) as scripted:
        server = await Process.start(
            sys.executable, "-m", "tui.web", "--port", "0",
            "--base-url", scripted.base_url, "--model", "scripted-model", "--temperature", "0.3", "--system", "Be brief.",
            cwd=ROOT, env=environ,
        )  # fmt: skip
        left: list[int] = []
        try:
            found = await wait_until(lambda: re.search(r"serving streamtui on (http://\S+)", server.text) or server.process.returncode is not None, 20, "the web server's URL")
            assert not isinstance(found, bool), f"streamtui web exited:\n{server.text}"
            url = found.group(1)
            assert url.startswith("http://127.0.0.1:"), url  # loopback unless --host says otherwise
            served_at = time.monotonic()

            async with chromium(tmp_path / "profile", url, tmp_path) as page:
                await page.wait_for(lambda s: PROMPT_PANEL in s and "Runs" in s and "Output" in s, "the app's prompt panel", 40)
                shown_at = time.monotonic()
                await page.type(PROMPT)
                await page.wait_for(lambda s: PROMPT in s, "the typed prompt", 10)
                await page.ctrl("j")
                screen = await page.wait_for(
                    lambda s: ANSWER in s and re.search(r"State\s+done", s) and re.search(rf"^│ 1\s+on\s+done\s.*scripted-model\s+{re.escape(PROMPT)}", s, re.MULTILINE),
                    "the whole answer, the run done and in the runs table",
                    20,
                )
                answered_at = time.monotonic()
                assert "scripted-model" in screen
                await page.screenshot("answered")
                seen += [screen, await page.devtools.evaluate("document.documentElement.outerHTML + document.body.innerText")]

                # What `ps` shows of the server and every session process: the options, no key.
                family = descendants(server.process.pid)
                command_lines = [command_line(pid) for pid in [server.process.pid, *family]]
                assert any(" -m tui " in line and "--temperature=0.3" in line for line in command_lines), command_lines
                seen += command_lines

                # Stopped with the tab still open: every session's app ends with the server,
                # and the page says so.
                stopping = time.monotonic()
                left = await server.stop()
                stopped_in = time.monotonic() - stopping
                # About 2 s when the server ends the sessions itself; waiting out aiohttp's grace
                # period (5 s) instead took about 11 s.
                assert stopped_in < 8, f"the server took {stopped_in:.1f} s to stop"
                await wait_until(lambda: page.devtools.evaluate("document.body.classList.contains('-closed')"), 10, "the page to show the session ended")

            request = scripted.requests[-1]
            assert request["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}]
            assert request["temperature"] == 0.3 and request["model"] == "scripted-model"
        finally:
            left += await server.stop()
        seen.append(server.text)
        assert not left, f"processes left after the server stopped: {[command_line(pid) for pid in left]}"
    assert server.process.returncode == 0, server.text
    if log_file.exists():
        seen.append(log_file.read_text())
    for text in seen:
        assert key not in text and key[3:-4] not in text
    timings = (
        f"served {served_at - started:.1f} s, app on screen {shown_at - served_at:.1f} s, answered {answered_at - shown_at:.1f} s, "
        f"server stopped {stopped_in:.1f} s, total {time.monotonic() - started:.1f} s"
    )
    print(f"browser test: {timings}")


# --------------------------------------------------------------------------- who may use the server

class Served:
    """A running ``python -m tui.web``: its process, the URL it printed, that URL's address
    (``127.0.0.1:PORT``) and token."""

    def __init__(self, server: Process, url: str) -> None:
        self.server = server
        self.url = url
        parts = urlsplit(url)
        self.address = parts.netloc
        self.port = parts.port
        self.token = parse_qs(parts.query).get("token", [""])[0]


@contextlib.asynccontextmanager
async def served(tmp_path: Path, *options: str, stdin: bytes | None = None):
    """``python -m tui.web --port 0`` with ``options`` on a refused endpoint, as :class:`Served`
    once it printed its URL; on the way out it must stop cleanly, leave no process behind, and
    have shown its token nowhere but in that URL."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith(("OPENAI_", "STREAMTUI_"))}
    environ.update(STREAMTUI_HISTORY="off", STREAMTUI_LOG=str(tmp_path / "streamtui.log"), TEXTUAL_ANIMATIONS="none")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, never listening: the endpoint refuses at once
        base_url = f"http://127.0.0.1:{holder.getsockname()[1]}/v1"
        server = await Process.start(sys.executable, "-m", "tui.web", "--port", "0", "--base-url", base_url, "--model", "m", *options, cwd=ROOT, env=environ, stdin=stdin)
        try:
            found = await wait_until(lambda: re.search(r"serving streamtui on (http://\S+)", server.text) or server.process.returncode is not None, 20, "the URL")
            assert not isinstance(found, bool), f"streamtui web exited:\n{server.text}"
            yield Served(server, found.group(1))
        finally:
            left = await server.stop()
    assert not left and server.process.returncode == 0, server.text
    token = parse_qs(urlsplit(found.group(1)).query).get("token", [""])[0]
    assert token and server.text.count(token) == 1, server.text
    log_file = tmp_path / "streamtui.log"
    assert not log_file.exists() or token not in log_file.read_text()


async def test_the_page_links_follow_the_address_the_browser_used(tmp_path: Path):
    """Through an SSH tunnel (``ssh -L 9000:127.0.0.1:8000``, then http://localhost:9000) the page
    must point the browser at the tunnel, not at the server's own address. And the server stops
    cleanly on SIGTERM."""
    import aiohttp

    async with served(tmp_path) as web_server, aiohttp.ClientSession() as http:
        for host in (web_server.address, "localhost:9000"):
            async with http.get(web_server.url, headers={"Host": host}) as response:
                page = await response.text()
            assert f'data-session-websocket-url="ws://{host}/ws"' in page
            assert f'src="http://{host}/static/js/textual.js"' in page


async def websocket_status(http: Any, url: str, **options: Any) -> int:
    """101 if the websocket opened (then closed again), else the status the server refused it with."""
    import aiohttp

    try:
        websocket = await http.ws_connect(url, **options)
    except aiohttp.WSServerHandshakeError as refused:
        return refused.status
    await websocket.close()
    return 101


async def assert_refused(response: Any) -> None:
    """HTTP 403 with one line of plain text saying why."""
    text = await response.text()
    assert response.status == 403, (response.status, text[:200])
    assert response.content_type == "text/plain" and text.startswith("streamtui web: refused: ") and text.count("\n") == 1, text


async def test_a_websocket_from_another_origin_is_refused(tmp_path: Path):
    """Browsers apply no CORS to websockets: any page in any tab could open ``/ws`` and drive the
    app. Only the page this server served may: its Origin is this server, with the same scheme."""
    import aiohttp

    async with served(tmp_path) as web_server, aiohttp.ClientSession() as http:
        url = f"ws://{web_server.address}/ws?token={web_server.token}"
        origins = ["http://evil.example", f"http://evil.example:{web_server.port}", "http://localhost:1", f"https://{web_server.address}", "null", None]
        statuses = {origin: await websocket_status(http, url, origin=origin) for origin in origins}
        assert statuses == dict.fromkeys(origins, 403)
        # Each refusal is one line on stderr, through the redacting logger (the token masked).
        await wait_until(lambda: web_server.server.text.count("refused GET /ws") == len(origins), 10, "the refusals logged")
        assert "'http://evil.example'" in web_server.server.text


async def test_a_host_that_is_not_this_server_is_refused(tmp_path: Path):
    """DNS rebinding: a page at evil.example:PORT whose name now resolves to 127.0.0.1 is
    same-origin with itself, and its requests name evil.example in their Host header."""
    import aiohttp

    async with served(tmp_path) as web_server, aiohttp.ClientSession() as http:
        rebound = f"evil.example:{web_server.port}"
        async with http.get(f"http://{web_server.address}/?token={web_server.token}", headers={"Host": rebound}) as response:
            await assert_refused(response)
        url = f"ws://{web_server.address}/ws?token={web_server.token}"
        assert await websocket_status(http, url, headers={"Host": rebound}, origin=f"http://{rebound}") == 403
        async with http.get(f"http://{web_server.address}/static/js/textual.js", headers={"Host": rebound}) as response:
            await assert_refused(response)


async def test_without_the_token_the_page_and_the_websocket_are_refused(tmp_path: Path):
    """Binding to 127.0.0.1 keeps out no other user of this machine, nor a page that guessed
    nothing: the page and its websocket need this run's token. The static files need none."""
    import aiohttp

    async with served(tmp_path) as web_server:
        origin = f"http://{web_server.address}"
        cookie = f"streamtui-token-{web_server.port}"
        async with aiohttp.ClientSession() as http:
            for query in ("", "?token=", "?token=not-the-token", f"?token={web_server.token[:-1]}", "?token=%C3%A9"):
                async with http.get(f"{origin}/{query}") as response:
                    await assert_refused(response)
            assert await websocket_status(http, f"ws://{web_server.address}/ws", origin=origin) == 403
            assert await websocket_status(http, f"ws://{web_server.address}/ws?token=not-the-token", origin=origin) == 403
            async with http.get(f"{origin}/static/js/textual.js") as response:
                assert response.status == 200
        async with aiohttp.ClientSession(cookies={cookie: "not-the-token"}) as http:
            assert await websocket_status(http, f"ws://{web_server.address}/ws", origin=origin) == 403


async def test_the_token_opens_the_page_and_its_cookie_the_websocket(tmp_path: Path):
    """The printed URL's token opens the page, which sets it as a cookie (HttpOnly: no script
    reads it; SameSite=Strict: no other site's request carries it); the page's websocket
    carries the cookie and its session starts. A prompt read from standard input reaches the
    sessions off their command lines (``ps`` shows those to every user) and is never printed."""
    import aiohttp

    prompt = "canary prompt " + os.urandom(6).hex()
    async with served(tmp_path, "--prompt", "-", stdin=prompt.encode()) as web_server:
        assert web_server.url == f"http://{web_server.address}/?token={web_server.token}" and len(web_server.token) >= 32
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # unsafe: cookies for an IP address
            async with http.get(web_server.url) as response:
                assert response.status == 200 and "data-session-websocket-url" in await response.text()
                cookie = response.cookies[f"streamtui-token-{web_server.port}"]
            assert cookie.value == web_server.token
            assert cookie["httponly"] is True and cookie["samesite"] == "Strict" and cookie["path"] == "/"
            async with http.get(f"http://{web_server.address}/") as response:  # the cookie alone
                assert response.status == 200

            async with http.ws_connect(f"ws://{web_server.address}/ws?width=100&height=30", origin=f"http://{web_server.address}") as websocket:
                screen = b""
                async with asyncio.timeout(40):
                    while PROMPT_PANEL not in screen.decode(errors="replace"):
                        message = await websocket.receive()
                        assert message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), message
                        if message.type == aiohttp.WSMsgType.BINARY:
                            screen += message.data
                sessions = [pid for pid in descendants(web_server.server.process.pid) if " -m tui" in command_line(pid)]
                assert sessions, "no session process"
                for pid in [web_server.server.process.pid, *descendants(web_server.server.process.pid)]:
                    assert prompt not in command_line(pid), command_line(pid)
    assert prompt not in web_server.server.text


def test_the_prompt_never_goes_on_the_command_line():
    """``ps`` shows every user the sessions' command lines: the prompt goes through the
    environment, which only its owner can read."""
    environ: dict[str, str] = {}
    command = web.session_command(web.parse_args(["--prompt", "my secret plan", "--model", "m"]), environ=environ)
    assert "secret" not in command and "--prompt" not in command
    assert environ[web.PROMPT_ENV] == "my secret plan"
    assert "--model=m" in command
    environ = {}
    web.session_command(web.parse_args([]), environ=environ)
    assert web.PROMPT_ENV not in environ


def test_which_host_names_a_server_answers_to():
    loopback = {"127.0.0.1", "localhost", "::1"}
    assert web.allowed_host_names("127.0.0.1") == loopback
    assert web.allowed_host_names("::1") == loopback
    assert web.allowed_host_names("LocalHost") == loopback
    assert web.allowed_host_names("192.0.2.7") == {"192.0.2.7"}
    assert web.allowed_host_names("0.0.0.0") == {*loopback, socket.gethostname().lower()}
