"""`streamtui compare` against a scripted server whose timings are known.

Tolerance: a client cannot see a chunk before the server sends it, so each measured time is
at least the scripted one. Above it, the request's own cost (connection setup, the SDK building
the request, loopback) and scheduling jitter on a loaded 2-core machine: 60 ms covers both with
room, and is still far smaller than the 100 ms / 350 ms being measured.
"""

from __future__ import annotations

import json

import pytest

from tests.support.scripted_server import Script, chunk
from tui.cli import main

FIRST = 0.100
REST = [0.050] * 5
SLACK = 0.060


def timed_script() -> Script:
    return Script([chunk("First", delay=FIRST), *(chunk(f" word{i}", delay=delay) for i, delay in enumerate(REST))], usage=(3, 6))


def test_compare_json_agrees_with_the_script(server, capsys):
    server.default = timed_script()
    code = main(["compare", "--base-url", server.base_url, "--model", "gpt-4o", "--prompt", "time me", "--repeat", "2", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["repeat"] == 2 and len(result["runs"]) == 4
    streamed = [run for run in result["runs"] if run["stream"]]
    waited = [run for run in result["runs"] if not run["stream"]]
    end = FIRST + sum(REST)
    for run in streamed:
        assert FIRST <= run["ttft"] < FIRST + SLACK
        assert end <= run["e2e"] < end + SLACK
        assert run["chunks"] == 6
        assert run["output"] == "First word0 word1 word2 word3 word4"
        assert run["tiktoken_tokens"] == 11
    for run in waited:
        assert run["ttft"] is None
        assert end <= run["e2e"] < end + SLACK
        assert run["server_completion_tokens"] == 6
        assert run["usage_difference"] == 6 - 11
    saved = result["summary"]["time_saved"]
    assert sum(REST) - SLACK < saved["median"] < sum(REST) + SLACK
    # Each pair: a discarded 1-token warm-up, then both ways, their order alternating; both
    # with temperature 0 and the same seed, since none was set.
    warm_ups = [request for request in server.requests if request.get("max_tokens") == 1]
    measured = [request for request in server.requests if request.get("max_tokens") != 1]
    assert len(warm_ups) == 2 and [request["stream"] for request in measured] == [True, False, False, True]
    assert all(request["temperature"] == 0 and request["seed"] == 1234 for request in measured)
    assert result["fair"] == {"temperature": 0.0, "seed": 1234} and result["warm_up"] is True
    assert all(run["encoding"] == "o200k_base" and run["estimated"] is False for run in result["runs"])


def test_compare_prints_a_table(server, capsys):
    server.default = timed_script()
    assert main(["compare", "--base-url", server.base_url, "--model", "gpt-4o", "--prompt", "x", "--repeat", "1"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    for label in ("TTFT, streamed", "E2E, waited", "First text sooner by", "median", "min – max", "Tokens, streamed"):
        assert label in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "run 1/2: streamed" in captured.err and "run 2/2: waited" in captured.err  # progress on stderr


@pytest.mark.parametrize(("status", "words"), [(401, "401"), (500, "500")])
def test_compare_fails_with_one_clear_line(server, capsys, status, words):
    server.default = Script([], status=status)
    assert main(["compare", "--base-url", server.base_url, "--model", "m", "--prompt", "x", "--retries", "0"]) == 1
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1]  # after the progress lines: one line that says why
    assert last.startswith("streamtui compare:") and words in last
    assert "Traceback" not in err


def test_compare_unreachable(capsys, refused_url):
    assert main(["compare", "--base-url", refused_url, "--model", "m", "--prompt", "x", "--retries", "0"]) == 1
    assert "Cannot reach" in capsys.readouterr().err


def test_compare_into_a_closed_pipe_ends_without_a_traceback(server):
    """``streamtui compare … --json | head -1``: the reader leaves before the output is written.
    The command ends quietly (exit 1, as Python's own guidance has it), with no BrokenPipeError
    traceback on the terminal."""
    import subprocess
    import sys

    server.default = timed_script()
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "compare", "--base-url", server.base_url, "--model", "gpt-4o", "--prompt", "p", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader is gone before anything was written
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 1
    assert b"Traceback" not in errors and b"BrokenPipe" not in errors, errors.decode()
