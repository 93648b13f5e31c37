"""The command line: profiles and precedence end to end, ``config`` and ``config --init``,
``--prompt -``, ``compare --profile``, ``serve --host --port --api-key``, ``web``, and each
command's errors starting with its own name."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from tests.support.processes import child_pids
from tests.support.scripted_server import Script, ScriptedServer, chunk, gate, words
from tests.support.terminal import Terminal
from tui import cli
from tui.cli import build_parser, build_settings, main

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
#: The tests of the real command's processes read them in /proc (Linux).
needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="finds the app's processes through /proc")


@pytest.fixture(autouse=True)
def config_file(monkeypatch, tmp_path):
    """The config file every test here uses (absent until a test writes it); no endpoint
    variables from the machine."""
    path = tmp_path / "conf" / "config.toml"
    monkeypatch.setenv("STREAMTUI_CONFIG", str(path))
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return path


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def settings_for(argv):
    return build_settings(build_parser().parse_args(argv))


def one_error_line(capsys, prefix: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), err
    return lines[0]


# -- precedence through the command line --------------------------------------------------------


PROFILES = """\
    default_profile = "box"

    [profiles.box]
    base_url = "http://box:11434/v1"
    model = "llama3.2"
    api_key_env = "BOX_KEY"
    temperature = 0.2
    stream = false
    timeout = 30

    [profiles.other]
    base_url = "http://other:8000/v1"
"""


def test_the_default_profile_fills_in_what_the_command_line_leaves(config_file):
    write(config_file, PROFILES)
    settings = settings_for(["--temperature", "1.5"])
    assert settings.profile == "box" and settings.endpoint.base_url == "http://box:11434/v1"
    assert settings.model == "llama3.2" and settings.temperature == 1.5 and settings.stream is False
    assert settings.read_timeout == 30 and settings.config_path == config_file
    assert settings.sources["temperature"] == "--temperature" and settings.sources["model"] == "profile box"
    assert settings.sources["endpoint"] == "profile box" and settings.sources["stream"] == "profile box"


def test_profile_before_or_after_the_subcommand(config_file):
    write(config_file, PROFILES)
    for argv in (["--profile", "other", "compare", "--prompt", "p"], ["compare", "--prompt", "p", "--profile", "other"]):
        settings = settings_for(argv)
        assert settings.profile == "other" and settings.endpoint.base_url == "http://other:8000/v1"
        assert settings.sources["profile"] == "--profile"


def test_environment_over_profile_command_line_over_environment(config_file, monkeypatch):
    write(config_file, PROFILES)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env:1/v1")
    monkeypatch.setenv("BOX_KEY", KEY)
    settings = settings_for([])
    assert settings.endpoint.base_url == "http://env:1/v1" and settings.sources["endpoint"] == "OPENAI_BASE_URL"
    assert settings.endpoint.api_key == KEY  # the profile's api_key_env still names the key
    settings = settings_for(["--base-url", "http://cli:2/v1", "--model", "m", "--stream"])
    assert settings.endpoint.base_url == "http://cli:2/v1" and settings.sources["endpoint"] == "--base-url"
    assert (settings.model, settings.stream) == ("m", True)
    assert (settings.sources["model"], settings.sources["stream"]) == ("--model", "--stream")


def test_no_config_file_keeps_the_old_defaults():
    settings = settings_for([])
    assert settings.endpoint.kind == "local" and settings.api == "chat" and settings.stream is True
    assert settings.profile is None and settings.sources["model"] == "default"
    assert settings_for(["--no-stream"]).stream is False


def test_chat_mode_from_the_command_line_and_the_file(config_file):
    assert settings_for(["--chat"]).chat is True
    write(config_file, "chat = true\n")
    assert settings_for([]).chat is True and settings_for([]).sources["chat"] == "config file"
    assert settings_for(["--no-chat"]).chat is False


def test_the_tui_worker_starts_from_the_profile_before_anything_else(config_file, monkeypatch):
    write(config_file, PROFILES)
    monkeypatch.setenv("BOX_KEY", KEY)
    seen = {}

    def fake_worker(spawned=None):
        seen["started"] = len(seen)  # before the settings were even resolved
        return "streamer"

    def fake_warm(streamer, resolved):
        seen["worker"] = resolved

    def fake_tui(settings, streamer):
        seen["tui"] = (settings, streamer)
        return 0

    monkeypatch.setattr(cli, "_start_worker", fake_worker)
    monkeypatch.setattr(cli, "_warm_worker", fake_warm)
    monkeypatch.setattr(cli, "_tui", fake_tui)
    assert main(["--model", "qwen"]) == 0
    assert seen["started"] == 0
    resolved = seen["worker"]
    assert resolved.endpoint.base_url == "http://box:11434/v1" and resolved.endpoint.api_key == KEY
    assert resolved.values["model"] == "qwen" and resolved.values["read_timeout"] == 30
    settings, streamer = seen["tui"]
    assert streamer == "streamer" and settings.endpoint == resolved.endpoint and settings.model == "qwen"


def _terminal_environ(tmp_path) -> dict[str, str]:
    """The real command's environment: no endpoint of the machine's, no history, this test's
    log and config, and a temporary folder of its own (``tmp_path / "tmp"``, empty: where the
    streaming worker's stderr file would go if it had a name)."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    environ = {name: value for name, value in os.environ.items() if not name.startswith(("OPENAI_", "STREAMTUI_"))}
    environ.update(STREAMTUI_HISTORY="off", STREAMTUI_LOG=str(tmp_path / "log"), STREAMTUI_CONFIG=str(tmp_path / "config.toml"), TERM="xterm-256color", TMPDIR=str(tmp_path / "tmp"))
    return environ


def test_the_tui_reads_its_prompt_from_a_pipe_then_its_keys_from_the_terminal(server, tmp_path):
    """``echo … | streamtui --prompt -`` in a terminal: the prompt comes from the pipe, and the
    keys from the terminal (Textual reads keys from standard input, which the pipe used up: it
    must be the terminal again, or Ctrl+Q does nothing and the idle app spins on EOF)."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"a prompt from a pipe\n")
    os.close(write_end)
    with Terminal(["--base-url", server.base_url, "--model", "gpt-4o", "--prompt", "-"], _terminal_environ(tmp_path), stdin=read_end) as terminal:
        os.close(read_end)
        assert terminal.shows(b"a prompt from a pipe"), terminal.screen[-2000:]
        terminal.type(b"\x11")  # Ctrl+Q, typed at the terminal
        assert terminal.wait() == 0, "Ctrl+Q at the terminal did not quit the app"


# -- config errors: one line, exit code 2, the command's name first -----------------------------


@pytest.mark.parametrize(
    ("text", "argv", "prefix", "words"),
    [
        (PROFILES, ["--profile", "nope"], "streamtui: error: ", ('--profile "nope"', "box, other")),
        (PROFILES, ["compare", "--profile", "nope", "--prompt", "p"], "streamtui compare: error: ", ('--profile "nope"',)),
        ("[profiles.p]\ncolour = 1\n", ["config"], "streamtui config: error: ", ("profiles.p.colour = 1", "unknown key")),
        ("[profiles.p]\ntemperature = 'hot'\n", ["serve"], "streamtui serve: error: ", ('profiles.p.temperature = "hot"', "number")),
        ("[profiles.p]\ntemperature = 5\n", ["web"], "streamtui web: error: ", ("profiles.p.temperature = 5", "between 0 and 2")),
        (f"[profiles.p]\napi_key = '{KEY}'\n", [], "streamtui: error: ", ("profiles.p.api_key", "api_key_env")),
    ],
)
def test_a_config_error_is_one_line_and_exit_2(config_file, monkeypatch, capsys, text, argv, prefix, words):
    write(config_file, text)
    started = []
    start = cli._start_worker

    def start_and_note(spawned=None):  # -> WorkerStreamer
        streamer = start(spawned)
        started.append(streamer._process)
        return streamer

    monkeypatch.setattr(cli, "_start_worker", start_and_note)
    assert main(argv) == 2
    line = one_error_line(capsys, prefix + str(config_file) + ": ")
    for word in words:
        assert word in line
    assert KEY[8:-4] not in line
    # The TUI's worker starts before the settings are read (it imports the SDK meanwhile): the
    # error stops it.
    for process in started:
        assert process.wait(timeout=10) is not None


# -- streamtui config ---------------------------------------------------------------------------


def test_config_prints_the_path_and_the_settings_with_their_sources_keys_masked(config_file, monkeypatch, capsys):
    write(config_file, PROFILES.replace("http://box:11434/v1", "http://me:hunter2pass@box:11434/v1"))
    monkeypatch.setenv("BOX_KEY", KEY)
    assert main(["config", "--seed", "9"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"config file: {config_file}\n")
    rows = {line[:16].strip(): line for line in out.splitlines()[1:] if line.strip()}
    assert "box" in rows["profile"] and "default_profile" in rows["profile"]
    assert "http://***@box:11434/v1" in rows["endpoint"] and "profile box" in rows["endpoint"]
    assert "sk-…0123" in rows["api key"] and "BOX_KEY" in rows["api key"]
    assert "llama3.2" in rows["model"] and rows["model"].endswith("profile box")
    assert rows["seed"].split()[1:] == ["9", "--seed"]
    assert rows["retries"].split()[1:] == ["2", "default"]
    assert KEY not in out and KEY[8:-4] not in out and "hunter2pass" not in out
    assert "command line, then environment, then profile, then defaults" in out


def test_config_says_when_the_environment_overrides_the_profile(config_file, monkeypatch, capsys):
    write(config_file, PROFILES)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env:1/v1")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "OPENAI_BASE_URL" in out and "note: OPENAI_BASE_URL is set, so it is used instead of profile box's base_url" in out


def test_config_without_a_file_says_how_to_make_one(config_file, capsys):
    assert main(["config"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert str(config_file) in first and "not found" in first and "--init" in first


def test_config_init_writes_a_private_example_and_refuses_to_overwrite(config_file, capsys):
    assert main(["config", "--init"]) == 0
    assert str(config_file) in capsys.readouterr().out
    assert stat.S_IMODE(os.stat(config_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(config_file.parent).st_mode) == 0o700
    assert main(["config", "--profile", "ollama"]) == 0  # the example works as it is
    capsys.readouterr()
    config_file.write_text("# mine, hand-written\n", encoding="utf-8")
    assert main(["config", "--init"]) == 1
    line = one_error_line(capsys, "streamtui config: error: ")
    assert str(config_file) in line and "not overwriting" in line
    assert config_file.read_text(encoding="utf-8") == "# mine, hand-written\n"


# -- compare ------------------------------------------------------------------------------------


def test_compare_with_a_profile_and_the_prompt_from_standard_input(config_file, monkeypatch, capsys):
    with ScriptedServer(Script(words("Hello there.")), api_key=KEY) as server:
        write(config_file, f"""\
            [profiles.scripted]
            base_url = "{server.base_url}"
            model = "scripted-model"
            api_key_env = "SCRIPTED_KEY"
            system_prompt = "Be brief."
        """)
        monkeypatch.setenv("SCRIPTED_KEY", KEY)
        monkeypatch.setattr(sys, "stdin", io.StringIO("piped prompt\n"))
        code = main(["compare", "--profile", "scripted", "--prompt", "-", "--repeat", "1", "--json"])
        requests = list(server.requests)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["profile"] == "scripted" and result["model"] == "scripted-model" and result["prompt"] == "piped prompt"
    measured = [request for request in requests if request.get("max_tokens") != 1]
    assert len(measured) == 2
    for request in measured:
        assert request["model"] == "scripted-model"
        assert request["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "piped prompt"}]


def test_compare_names_the_profile_in_its_table(config_file, server, capsys):
    write(config_file, f'[profiles.s]\nbase_url = "{server.base_url}"\nmodel = "m"\n')
    assert main(["compare", "--profile", "s", "--prompt", "x", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("profile s · ") and max(len(line) for line in out.splitlines()) <= 80


@pytest.mark.parametrize(("stdin", "argv"), [("\n", ["--prompt", "-"]), ("", ["--prompt", ""])])
def test_compare_refuses_an_empty_prompt(monkeypatch, capsys, stdin, argv):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert main(["compare", "--base-url", "http://127.0.0.1:9/v1", *argv]) == 2
    assert "empty" in one_error_line(capsys, "streamtui compare: error: --prompt")


def test_compare_argument_errors_start_with_its_name(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["compare", "--prompt", "x", "--repeat", "0"])
    assert exited.value.code == 2
    assert "--repeat" in one_error_line(capsys, "streamtui compare: error: ")


# -- serve --------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["serve", "--port", "70000"], ["serve", "--host", ""]])
def test_serve_argument_errors_start_with_its_name(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    one_error_line(capsys, "streamtui serve: error: argument --")


# -- web ----------------------------------------------------------------------------------------


def test_web_argument_errors_start_with_its_name(capsys):
    with pytest.raises(SystemExit):
        main(["web", "--port", "x"])
    one_error_line(capsys, "streamtui web: error: argument --port")


# -- help and version ---------------------------------------------------------------------------


def test_help_names_every_command_and_the_precedence(capsys, config_file):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("compare", "serve", "config", "web"):
        assert f"    {command} " in out
    assert "1. the command line" in out and "2. the environment" in out and "3. the profile" in out and "4. the defaults" in out
    assert str(config_file) in out and "--profile NAME" in out


@pytest.mark.parametrize(("command", "words"), [
    ("compare", ("--profile", "--prompt", "--repeat", "standard input")),
    ("serve", ("--host", "--port", "--api-key")),
    ("config", ("--init", "--profile")),
    ("web", ("--host", "--port", "127.0.0.1", "--chat", "--prompt")),
])
def test_each_command_has_its_help(capsys, command, words):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: streamtui {command}")
    for word in words:
        assert word in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.startswith("streamtui ")


def test_a_key_given_as_api_key_env_is_refused_without_echoing_it(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--api-key-env", KEY])
    assert exited.value.code == 2
    line = one_error_line(capsys, "streamtui: error: argument --api-key-env: ")
    assert KEY[3:] not in line and "not the key itself" in line


# -- the streamtui command: the worker started before anything is imported ---------------------


def test_every_sub_command_is_known_to_the_launcher_as_not_the_tui():
    from tui.launch import _NOT_THE_TUI

    sub = next(action for action in build_parser()._actions if action.dest == "command")
    assert set(sub.choices) <= _NOT_THE_TUI


@pytest.mark.parametrize("argv", [["--no-such-option"], ["config", "--seed", "9"]])
def test_a_worker_started_for_a_command_that_is_not_the_tui_is_stopped(argv, capsys):
    from tui.engine.worker_process import spawn_worker

    spawned = spawn_worker()
    try:
        main(argv, spawned=spawned)
    except SystemExit:
        pass  # argparse refused the option
    assert spawned[0].poll() is not None
    assert spawned[1].closed


def test_the_worker_started_first_never_holds_a_web_sessions_prompt(monkeypatch):
    """streamtui web hands a session its prompt in the environment: the worker (and its token
    counter, which inherits the worker's) never gets it, though it starts before it is popped."""
    from tui.engine.worker_process import PROMPT_ENV, discard_worker, spawn_worker

    monkeypatch.setenv(PROMPT_ENV, "my secret plan")
    spawned = spawn_worker()
    try:
        # Popen returns once the exec has begun; until the new program's memory is set up, its
        # environ reads empty.
        deadline = time.monotonic() + 10
        while not (environ := open(f"/proc/{spawned[0].pid}/environ", "rb").read()) and time.monotonic() < deadline:
            time.sleep(0.001)
        environ = environ.split(b"\0")
        assert not any(entry.startswith(PROMPT_ENV.encode() + b"=") for entry in environ)
        assert any(entry.startswith(b"PYTHONPATH=") for entry in environ)
    finally:
        discard_worker(spawned)


def _processes_marked(marker: str) -> list[int]:
    """The live processes whose environment holds ``marker`` (a forked worker's is its app's)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ, open(f"/proc/{entry}/stat") as stat:
                if marker.encode() in environ.read().split(b"\0") and stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry))
        except (OSError, ValueError):  # not a process, one that just ended, or not ours to read
            continue
    return found


@needs_proc
def test_the_command_started_for_a_refused_option_leaves_no_worker_and_no_file(tmp_path):
    """``streamtui --no-such-option`` (the real command): the worker it started before anything
    else is stopped, and no file of its is left."""
    marker = f"STREAMTUI_TEST_MARK={tmp_path.name}"
    environ = _terminal_environ(tmp_path) | dict([marker.split("=", 1)])
    done = subprocess.run([sys.executable, "-m", "tui", "--no-such-option"], env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--no-such-option" in done.stderr
    assert list((tmp_path / "tmp").iterdir()) == []
    assert _processes_marked(marker) == []


def _forked_worker(app_pid: int) -> int:
    """The app's streaming worker: its child running the app's own command line (a fork)."""
    def command(pid: int) -> bytes:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()

    forks = [pid for pid in child_pids(app_pid) if command(pid) == command(app_pid)]
    assert len(forks) == 1, f"the app's children: {[command(pid) for pid in child_pids(app_pid)]}"
    return forks[0]


def _ended(pid: int, timeout: float = 10.0) -> bool:
    """Whether process ``pid`` ends (or is a zombie, waiting to be collected) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.01)
    return False


@needs_proc
def test_the_worker_forked_at_launch_streams_the_answer_and_ends_with_the_app(tmp_path):
    """The real command: its streaming worker is a fork of itself, made before anything is
    imported (no second interpreter to start: about 70 ms sooner on two cores, see
    worker_process.py). It streams a sent prompt's answer, and it ends when the app quits,
    leaving nothing in the temporary folder."""
    with ScriptedServer(Script(words("The answer came through the forked worker."))) as server:
        with Terminal(["--base-url", server.base_url, "--model", "gpt-4o", "--prompt", "hello"], _terminal_environ(tmp_path)) as terminal:
            assert terminal.shows(b"Prompt"), terminal.screen[-2000:]
            worker = _forked_worker(terminal.pid)
            terminal.type(b"\n")  # Ctrl+J: send
            assert terminal.shows(b"forked worker."), terminal.screen[-2000:]
            counter = child_pids(worker)  # the worker's token counter, if it started yet
            terminal.type(b"\x11")  # Ctrl+Q
            assert terminal.wait() == 0
    assert all(_ended(pid) for pid in [worker, *counter])
    assert list((tmp_path / "tmp").iterdir()) == []


@needs_proc
def test_a_killed_app_takes_its_forked_worker_with_it(tmp_path):
    """The app killed at once (SIGKILL, no goodbye): its forked worker sees its commands' pipe
    close and ends; no other process holds that pipe open."""
    with ScriptedServer() as server:
        with Terminal(["--base-url", server.base_url, "--model", "gpt-4o"], _terminal_environ(tmp_path)) as terminal:
            assert terminal.shows(b"Prompt"), terminal.screen[-2000:]
            worker = _forked_worker(terminal.pid)
            os.kill(terminal.pid, signal.SIGKILL)
            assert terminal.wait() == -signal.SIGKILL
            assert _ended(worker)


@pytest.mark.parametrize(("prompt", "kind"), [(None, "ForkedWorker"), ("my secret plan", "Popen")])
def test_a_web_sessions_command_starts_its_worker_as_a_new_interpreter(prompt, kind, tmp_path):
    """A fork would carry the web session's prompt in its memory (the environment it started
    with); with the prompt in the environment, the worker is a new interpreter instead. In a
    fresh interpreter, as the command starts (no thread yet, which alone means no fork)."""
    from tui.engine.worker_process import PROMPT_ENV

    environ = _terminal_environ(tmp_path)
    if prompt is not None:
        environ[PROMPT_ENV] = prompt
    code = "from tui.engine.worker_process import discard_worker, fork_worker\nspawned = fork_worker()\nprint(type(spawned[0]).__name__)\ndiscard_worker(spawned)"
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == kind, done.stderr


@needs_proc
def test_a_terminal_closed_under_the_app_leaves_no_file_of_its_worker(tmp_path):
    """A closed terminal (tmux kill-session, a closed window) hangs the app up: SIGHUP ends it
    with no clean-up. The worker's stderr file must not stay behind in the temporary folder (91
    of them piled up in /tmp over a day of benchmarks): it has no name from the start."""
    with ScriptedServer() as server:
        with Terminal(["--base-url", server.base_url, "--model", "gpt-4o"], _terminal_environ(tmp_path)) as terminal:
            assert terminal.shows(b"Prompt"), terminal.screen[-2000:]
            worker = _forked_worker(terminal.pid)
            counter = child_pids(worker)
            os.killpg(terminal.pid, signal.SIGHUP)  # as a closed terminal: its whole process group
            assert terminal.wait() == -signal.SIGHUP
            assert all(_ended(pid) for pid in [worker, *counter])
    assert list((tmp_path / "tmp").iterdir()) == []


@needs_proc
def test_a_forked_worker_that_crashes_is_explained_and_the_app_goes_on(tmp_path):
    """The forked worker's stderr is its file, not the terminal: a segfault's report (Python's
    fault handler) goes to the log, never onto the screen, whose run says it in one line."""
    environ = _terminal_environ(tmp_path) | {"PYTHONFAULTHANDLER": "1"}
    with ScriptedServer(Script([chunk("first words "), gate("held"), chunk("never")])) as server:
        with Terminal(["--base-url", server.base_url, "--model", "gpt-4o", "--prompt", "hello"], environ, size=(140, 45)) as terminal:
            assert terminal.shows(b"Prompt"), terminal.screen[-2000:]
            worker = _forked_worker(terminal.pid)
            terminal.type(b"\n")  # Ctrl+J: send
            assert terminal.shows(b"first words"), terminal.screen[-2000:]
            os.kill(worker, signal.SIGSEGV)
            assert terminal.shows(b"SIGSEGV"), terminal.screen[-3000:]
            assert b"most recent call first" not in terminal.screen  # the fault handler's report: the log's
            server.release("held")
            terminal.type(b"\x11")  # Ctrl+Q: the app went on
            assert terminal.wait() == 0
    assert "Fatal Python error: Segmentation fault" in (tmp_path / "log").read_text()


@needs_proc
def test_an_openai_module_in_the_current_folder_does_not_reach_the_forked_worker(tmp_path):
    """As ``python -P``: the worker leaves out the folder ``python -m tui`` put first on its
    path, so an ``openai.py`` there is not the SDK it imports."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "openai.py").write_text("raise SystemExit('the wrong openai')\n")
    with ScriptedServer(Script(words("The real SDK answered."))) as server:
        with Terminal(["--base-url", server.base_url, "--model", "gpt-4o", "--prompt", "hello"], _terminal_environ(tmp_path), cwd=str(folder)) as terminal:
            assert terminal.shows(b"Prompt"), terminal.screen[-2000:]
            _forked_worker(terminal.pid)
            terminal.type(b"\n")
            assert terminal.shows(b"SDK answered."), terminal.screen[-2000:]
            terminal.type(b"\x11")
            assert terminal.wait() == 0
