"""`streamtui compare` against a scripted server whose timings are known.

Tolerance: a client cannot see a chunk before the server sends it, so each measured time is
at least the scripted one. Above it, the request's own cost (connection setup, the SDK building
the request, loopback) and scheduling jitter on a loaded 2-core machine: 60 ms covers both with
room, and is still far smaller than the 100 ms / 350 ms being measured.
"""

from __future__ import annotations

import json

import pytest

from tui.cli import main
from tui.scripted_server import Script, chunk

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
    # Streamed and waited requests alternate their order between repeats.
    assert [request["stream"] for request in server.requests] == [True, False, False, True]


def test_compare_prints_a_table(server, capsys):
    server.default = timed_script()
    assert main(["compare", "--base-url", server.base_url, "--model", "gpt-4o", "--prompt", "x", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for label in ("TTFT streamed", "E2E waited", "Sooner by", "median", "tiktoken on"):
        assert label in out


@pytest.mark.parametrize(("status", "words"), [(401, "401"), (500, "500")])
def test_compare_fails_with_one_clear_line(server, capsys, status, words):
    server.default = Script([], status=status)
    assert main(["compare", "--base-url", server.base_url, "--model", "m", "--prompt", "x"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("streamtui compare:") and words in err
    assert "\n" not in err and "Traceback" not in err


def test_compare_unreachable(capsys):
    assert main(["compare", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--prompt", "x"]) == 1
    assert "Cannot reach" in capsys.readouterr().err
