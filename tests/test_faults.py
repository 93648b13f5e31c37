"""The fault matrix (issue 10): every way a server or the network can fail a run, through the
real app (the streaming worker process, the real SDK, real sockets) against the scripted server.

Every case asserts the same five things: the app stays up; the failure is one clear line (no
newline, naming what happened) in the panel, in the pane when nothing arrived, and in the
notification; what arrived is kept on screen, in the run and in history; the run is recorded
with the right state; and the next prompt works.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.driving import (
    cell,
    make_app,
    on_the_wire,
    panel_text,
    send,
    settle,
    wait_for,
)
from tests.support.scripted_server import (
    Script,
    chunk,
    comment,
    drop,
    fin,
    gate,
    raw,
    responses_error,
    responses_failed,
    stop,
    stream_error,
    words,
)
from tui.engine.clock import ManualClock
from tui.engine.history import HistoryStore

SIZE = (140, 44)


def flat(text: str) -> str:
    """Whitespace folded, so a line wrapped in the panel compares with the message."""
    return " ".join(text.split())


@dataclass
class Case:
    """One fault: what the server does, and what the run must end as."""

    scripts: list[Script]
    state: str = "failed"
    kind: str | None = None
    #: Words the one line must contain (it names what happened).
    says: tuple[str, ...] = ()
    #: Words it must not contain (a wrong diagnosis).
    never: tuple[str, ...] = ()
    kept: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    #: Completion requests the server must have seen for this run.
    requests: int = 1


async def check_run(pilot, store: HistoryStore, case: Case):
    """The five assertions every fault shares; returns the run."""
    app = pilot.app
    main = app.main_screen
    run = app.session.runs[-1]
    metrics = run.metrics
    assert app.is_running
    assert metrics.state == case.state, (metrics.state, metrics.error)
    if case.kind is not None:
        assert metrics.error_kind == case.kind, metrics.error
    assert main.output.text == case.kept
    assert run.text == case.kept
    table = main.runs_table
    assert table.row_count >= 1 and cell(table, 0, "#").split()[0] == str(run.number)
    if case.state == "failed":
        message = metrics.error
        assert message and "\n" not in message and "\r" not in message
        for word in case.says:
            assert word in message, (word, message)
        for word in case.never:
            assert word not in message, (word, message)
        assert cell(table, 0, "Outcome") == "failed"
        assert flat(message) in flat(panel_text(app))
        # The same line as a notification, and in the pane when no text arrived to show.
        assert any(note.message == message for note in app._notifications)
        if not case.kept:
            assert flat(message) in flat(main.output.notice) and "\n" not in main.output.notice
    record = store.get(run.number)
    assert record is not None and record.final
    assert record.state == case.state and record.output == case.kept
    assert record.error == metrics.error and record.error_kind == metrics.error_kind
    return run


async def next_prompt_works(pilot, server) -> None:
    app = pilot.app
    server.push(Script(words("the next answer")))
    await send(pilot, "and now?")
    await settle(pilot)
    run = app.session.runs[-1]
    assert run.metrics.state == "done" and app.main_screen.output.text == "the next answer"
    assert server.requests[-1]["messages"][-1]["content"] == "and now?"


async def run_case(server, tmp_path, case: Case, url: str | None = None, *, next_works: bool = True):
    server.push(*case.scripts)
    store = HistoryStore(tmp_path / "history.sqlite3")
    settings = {"retries": 0, **case.settings}
    app = make_app(url or server.base_url, history=store, **settings)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "try")
        await settle(pilot)
        run = await check_run(pilot, store, case)
        assert len(server.requests) == case.requests
        if next_works:
            await next_prompt_works(pilot, server)
    store.close()
    return run


# -- status codes ------------------------------------------------------------------------------

#: What each status must say. A 400 or 422 is asked once: only one that names
#: ``stream_options`` is asked again without it (see the test below).
STATUS = {
    400: ("bad_request", ("400", "Bad Request", "rejected")),
    401: ("auth", ("401", "API key")),
    403: ("auth", ("403", "Forbidden")),
    404: ("not_found", ("404", "Not Found", "gpt-4o")),
    408: ("timeout", ("408", "Request Timeout")),
    409: ("bad_request", ("409", "Conflict")),
    422: ("bad_request", ("422", "Unprocessable")),
    429: ("rate_limit", ("429", "Too Many Requests", "rate limited")),
    500: ("server", ("500", "Internal Server Error")),
    502: ("server", ("502", "Bad Gateway")),
    503: ("server", ("503", "Service Unavailable")),
}
RETRIED = {408, 409, 429, 500, 502, 503}


def asked(status: int) -> int:
    return 1


@pytest.mark.parametrize("status", [400, 422])
async def test_a_server_that_refuses_stream_options_is_asked_again_without_them(server, tmp_path, status):
    """Some servers reject the field they do not know (as vLLM's strict mode and some proxies
    do, naming it): asked once more without it, the answer comes, without usage."""
    refusal = Script([], status=status, error_message="Unrecognized request argument supplied: stream_options")
    await run_case(server, tmp_path, Case([refusal, Script(words("answered"))], state="done", kept="answered", requests=2))
    assert "stream_options" in server.requests[0] and "stream_options" not in server.requests[1]


@pytest.mark.parametrize("status", sorted(STATUS))
async def test_a_status_without_retries_is_one_line_and_the_next_prompt_works(server, tmp_path, status):
    kind, says = STATUS[status]
    detail = f"the server's own words for {status}"
    scripts = [Script([], status=status, error_message=detail)] * asked(status)
    await run_case(server, tmp_path, Case(scripts, kind=kind, says=(*says, detail), requests=asked(status)))


@pytest.mark.parametrize("status", sorted(STATUS))
async def test_a_status_with_retries_on_is_retried_only_when_worth_it(server, tmp_path, status):
    """408, 409, 429 and 5xx are retried (visibly: the run counts the retry and the panel says
    so), and the run answered by the retry is done; 400, 401, 403, 404 and 422 are not."""
    kind, says = STATUS[status]
    failing = Script([], status=status, error_message="try again", error_headers={"retry-after-ms": "5"})
    if status in RETRIED:
        case = Case([failing, Script(words("answered on retry"))], state="done", kept="answered on retry", requests=2, settings={"retries": 2})
    else:
        case = Case([failing] * asked(status), kind=kind, says=says, requests=asked(status), settings={"retries": 2})
    server.push(*case.scripts)
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store, **case.settings)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "try")
        await settle(pilot)
        run = await check_run(pilot, store, case)
        assert len(server.requests) == case.requests
        if status in RETRIED:
            assert [(r.attempt, r.of, r.reason) for r in run.metrics.retries] == [(1, 2, str(status))]
            assert "Retries 1 before the request that answered" in flat(panel_text(app))
            assert store.get(run.number).retries == 1
        else:
            assert run.metrics.retries == []
        await next_prompt_works(pilot, server)
    store.close()


async def test_a_429_that_keeps_failing_says_so_after_its_retries(server, tmp_path):
    failing = Script([], status=429, error_message="slow down", error_headers={"retry-after-ms": "5"})
    case = Case([failing] * 3, kind="rate_limit", says=("429", "slow down"), requests=3, settings={"retries": 2})
    run = await run_case(server, tmp_path, case)
    assert [r.attempt for r in run.metrics.retries] == [1, 2]


# -- the connection ----------------------------------------------------------------------------


async def test_a_refused_connection_is_one_line(server, tmp_path, refused_url):
    case = Case([], kind="unreachable", says=("Cannot reach", refused_url.removeprefix("http://")), requests=0)
    await run_case(server, tmp_path, case, refused_url, next_works=False)


async def test_a_refused_connection_with_retries_waits_each_then_fails(tmp_path, refused_url):
    """A refused connection is retried after the SDK's first delay (0.5 s), then fails, and the
    panel says the retry happened. (The wait itself is shown as "…: retry 1/2 in 2.0 s", see
    the Retry-After test below: a test that looked for this one's 0.5 s of text missed it on
    a loaded machine.)"""
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(refused_url, history=store, retries=1)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "anyone?")
        await settle(pilot)
        run = await check_run(pilot, store, Case([], kind="unreachable", says=("Cannot reach",)))
        [retry] = run.metrics.retries
        assert (retry.reason, retry.attempt, retry.of, retry.delay) == ("connection", 1, 1, 0.5)
        assert "Retries 1, and the last failed too" in flat(panel_text(app))
    store.close()


async def test_a_stall_before_the_first_byte_is_a_read_timeout(server, tmp_path):
    """The server accepts the request and never answers: the read timeout ends it, named as
    such (with its length), not as a server that cannot be reached."""
    case = Case([Script([], headers_gate="never")], kind="timeout", says=("Timed out", "no answer within 0.3 s", "read timeout"), never=("Cannot reach",), settings={"read_timeout": 0.3})
    await run_case(server, tmp_path, case)


@pytest.mark.parametrize("kept", ["", "kept so far "])
async def test_a_stall_after_the_headers_is_a_stall(server, tmp_path, kept):
    # A read timeout long enough that the headers always beat it, even on a loaded machine where
    # the server's thread waits for the interpreter lock (at 0.3 s the headers once came too late,
    # and the stall read "Timed out: no answer").
    steps = [chunk(kept)] if kept else []
    says = ("Stalled", "1.5 s", "after 1 chunk" if kept else "after its headers")
    case = Case([Script([*steps, gate("never")])], kind="stalled", kept=kept, says=says, never=("Cannot reach", "running?"), settings={"read_timeout": 1.5})
    await run_case(server, tmp_path, case)


@pytest.mark.parametrize(
    ("ending", "says"),
    [(fin, ("Dropped mid-stream", "closed the connection", "after 2 chunks")), (drop, ("Dropped mid-stream", "reset", "after 2 chunks"))],
    ids=["FIN", "RST"],
)
async def test_a_connection_cut_mid_stream_keeps_the_partial_text(server, tmp_path, ending, says):
    case = Case([Script([chunk("kept "), chunk("so far"), ending()])], kind="dropped", kept="kept so far", says=says, never=("Cannot reach",))
    await run_case(server, tmp_path, case)


# -- the event stream --------------------------------------------------------------------------


async def test_malformed_json_mid_stream_is_named_and_quoted_safely(server, tmp_path):
    case = Case([Script([chunk("kept "), raw(b"data: {oops \x1b]0;title\x07\n\n")])], kind="malformed", kept="kept ", says=("Malformed", "after 1 chunk:", "{oops"))
    run = await run_case(server, tmp_path, case)
    assert "\x1b" not in run.metrics.error and "\x07" not in run.metrics.error


@pytest.mark.parametrize(
    "steps",
    [
        [chunk("one "), raw(b"retry: 1000\n\n"), chunk("two")],
        [chunk("one "), raw(b"id: 7\nretry: 10\n\n"), chunk("two")],
        [comment(), chunk("one "), comment("ping"), raw(b":\n\n"), chunk("two"), comment()],
    ],
    ids=["retry-only", "id-and-retry", "keep-alive comments"],
)
async def test_events_without_data_are_ignored(server, tmp_path, steps):
    await run_case(server, tmp_path, Case([Script(steps)], state="done", kept="one two"))


@pytest.mark.parametrize("api", ["chat", "completions", "responses"])
async def test_crlf_line_ends_stream_like_lf(server, tmp_path, api):
    case = Case([Script(words("crlf line ends"), crlf=True)], state="done", kept="crlf line ends", settings={"api": api})
    server.push(*case.scripts)
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store, retries=0, api=api)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "try")
        await settle(pilot)
        await check_run(pilot, store, case)
    store.close()


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_a_stream_that_ends_without_a_finish_is_truncated(server, tmp_path, api):
    case = Case([Script([chunk("kept "), stop()])], kind="truncated", kept="kept ", says=("ended before", "after 1 chunk."), settings={"api": api})
    await run_case(server, tmp_path, case, next_works=api == "chat")


async def test_an_empty_stream_is_truncated_with_nothing_kept(server, tmp_path):
    """200 and a body with no event at all."""
    case = Case([Script([stop()], role_chunk=False)], kind="truncated", says=("ended before", "after 0 chunks"))
    await run_case(server, tmp_path, case)


async def test_a_finished_stream_without_text_is_done_and_says_it_was_empty(server, tmp_path):
    server.push(Script([]))
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store, retries=0)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "try")
        await settle(pilot)
        await check_run(pilot, store, Case([], state="done"))
        assert "empty answer" in app.main_screen.output.notice
        await next_prompt_works(pilot, server)
    store.close()


@pytest.mark.parametrize(
    ("api", "event", "says"),
    [
        ("chat", stream_error("the model overloaded"), ("The server sent an error", "the model overloaded")),
        ("completions", stream_error("the model overloaded"), ("The server sent an error", "the model overloaded")),
        ("responses", responses_error("the model overloaded"), ("The server sent an error", "the model overloaded")),
        ("responses", responses_failed("the model overloaded"), ("The server failed the response", "the model overloaded")),
    ],
    ids=["chat-error", "completions-error", "responses-error", "responses-failed"],
)
async def test_an_error_object_in_the_stream_fails_the_run_and_keeps_the_text(server, tmp_path, api, event, says):
    case = Case([Script([chunk("kept "), event, chunk("never shown")])], kind="server", kept="kept ", says=says, settings={"api": api})
    await run_case(server, tmp_path, case, next_works=False)


# -- retries, visible --------------------------------------------------------------------------


async def test_a_429_retry_after_wait_is_shown_and_escape_cancels_it(server, tmp_path):
    """Retry-After: 2 is shown while it is waited ("429: retry 1/2 in 2.0 s"); Escape cancels
    the wait at once, the run is cancelled, and no retry ever reaches the server."""
    server.push(Script([], status=429, error_message="slow down", error_headers={"retry-after": "2"}))
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store, retries=2)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "try")
        await wait_for(pilot, lambda: "429: retry 1/2 in 2.0 s" in flat(panel_text(app)))
        run = app.session.runs[-1]
        assert run.metrics.state == "waiting" and len(server.requests) == 1
        pressed = time.monotonic()
        await pilot.press("escape")
        await wait_for(pilot, lambda: run.metrics.state == "cancelled")
        assert time.monotonic() - pressed < 1.0  # well before the 2 s wait would have ended
        await settle(pilot)
        assert "retry 1/2" not in panel_text(app) and "cancelled" in panel_text(app)
        record = store.get(run.number)
        assert record.state == "cancelled" and record.final
        await next_prompt_works(pilot, server)
        # Proving a negative takes the time: past the moment the retry was due, the server has
        # seen the first request and the next prompt's, nothing else.
        first = server.requests[0]["_received"]
        await wait_for(pilot, lambda: time.perf_counter() > first + 2.5)
        assert len(server.requests) == 2 and server.requests[1]["messages"][-1]["content"] == "and now?"
    store.close()


async def test_ttft_counts_from_the_request_that_answered(server, tmp_path):
    """A 429 answered at 1.0 s, retried at once: TTFT and E2E count from the retry's request
    (sent at 1.0 s), Elapsed from the send, and the panel says a retry happened."""
    server.push(
        Script([], status=429, headers_gate="first-answer", error_headers={"retry-after": "0"}),
        Script([gate("text"), chunk("answered")]),
    )
    clock = ManualClock()
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, clock=clock, history=store, retries=2)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "try")
        await wait_for(pilot, lambda: app.session.runs and app.session.runs[-1].metrics.sent_at is not None)
        run = app.session.runs[-1]
        clock.set(1.0)
        server.release("first-answer")
        await wait_for(pilot, lambda: len(server.requests) == 2)
        await on_the_wire(pilot, run)
        assert run.metrics.sent_at == pytest.approx(1.0)
        # Still running: the retry is not yet "before the request that answered".
        await wait_for(pilot, lambda: "Retries 1 so far" in flat(panel_text(app)))
        clock.set(1.25)
        server.release("text")
        await settle(pilot)
        metrics = run.metrics
        assert metrics.state == "done" and len(metrics.retries) == 1
        assert metrics.ttft == pytest.approx(0.25) and metrics.e2e == pytest.approx(0.25)
        assert metrics.elapsed == pytest.approx(1.25)
        text = flat(panel_text(app))
        assert "TTFT 250.0 ms" in text and "Retries 1 before the request that answered" in text
        assert store.get(run.number).ttft == pytest.approx(0.25)
    store.close()


# -- the scripted server does what the matrix says ----------------------------------------------


async def test_the_scripted_faults_are_what_they_claim_on_the_wire(server):
    """CRLF really ends every line with CRLF; fin() really cuts the chunked body; an empty
    stream really has no event; headers_gate really holds the status line."""
    import asyncio

    import httpx2

    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    url = server.base_url + "/chat/completions"
    async with httpx2.AsyncClient(timeout=5) as http:
        server.push(Script(words("a b"), crlf=True))
        wire = (await http.post(url, json=body)).content
        assert wire.count(b"\r\n\r\n") == 5 and wire.replace(b"\r\n", b"").count(b"\n") == 0
        server.push(Script([chunk("a"), fin()]))
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.post(url, json=body)
        server.push(Script([stop()], role_chunk=False))
        assert (await http.post(url, json=body)).content == b""
        server.push(Script([], status=429, headers_gate="answer"))
        pending = asyncio.ensure_future(http.post(url, json=body))
        async with asyncio.timeout(5):
            while not server.waiting_at("answer"):  # held at the gate: its status line unsent
                await asyncio.sleep(0.005)
        assert not pending.done()
        server.release("answer")
        assert (await pending).status_code == 429


# -- the pane after partial text --------------------------------------------------------------


async def test_the_pane_shows_the_failure_after_the_partial_text(server, tmp_path):
    server.push(Script([chunk("kept "), drop()]))
    app = make_app(server.base_url, retries=0)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "try")
        await settle(pilot)
        run = app.session.runs[-1]
        rows = ["".join(segment.text for segment in app.main_screen.output.render_line(y)) for y in range(6)]
        assert any("dropped mid-stream" in row.lower() for row in rows), rows
        assert run.metrics.state == "failed"


async def test_a_failed_run_is_written_to_the_log(server, tmp_path, monkeypatch):
    """Help says failures are logged: a run that fails leaves one line naming it and why."""
    monkeypatch.setenv("STREAMTUI_LOG", str(tmp_path / "streamtui.log"))
    server.push(Script([chunk("kept "), drop()]))
    app = make_app(server.base_url, retries=0)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "try")
        await settle(pilot)
        number = app.session.runs[-1].number
    log = (tmp_path / "streamtui.log").read_text()
    assert f"Run #{number} failed" in log and "dropped mid-stream" in log.lower()
