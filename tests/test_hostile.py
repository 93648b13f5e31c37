"""Hostile input (issue 10): no server can drive the terminal, and no secret leaks.

Every field a server fills (answer, reasoning, HTTP error bodies, error objects inside a
stream, the Responses API's ``error`` and ``response.failed``, model names from /v1/models,
finish reasons, usage) is fed each payload of :data:`PAYLOADS`: terminal escape sequences
that set the title, write the clipboard, make links, query the terminal; C1 controls; NUL;
bidi overrides; and Rich/Textual markup.

What is asserted is what a terminal would receive: the screen rendered the way Textual's
driver renders an update (``Compositor.render_update(full=True)`` and
``LayoutUpdate.render_segments(console)``, as ``App._display`` and ``export_screenshot`` do; the
headless driver used by ``run_test`` writes nothing, so nothing else gets these bytes). The
only escape sequences in it may be Textual's own SGR styles and cursor moves; the payloads
show as visible text, markup literally, in the pane or panel that draws the field (table cells
are checked as the ``Text`` they hold: see :func:`assert_cell_is_text`). History rows and
exports are checked for raw control characters as well.
"""

from __future__ import annotations

import io
import json
import re

import pytest

from tests.driving import make_app, panel_text, send, settle, wait_for
from tests.support.scripted_server import (
    Script,
    chunk,
    reasoning,
    responses_error,
    responses_failed,
    stream_error,
    words,
)
from tui.engine.export import export_file
from tui.engine.history import HistoryStore
from tui.engine.sanitize import one_line, server_text

SIZE = (170, 50)

PAYLOADS = {
    "ESC": "\x1bc\x1b7\x1b8",  # full reset, save and restore the cursor
    "CSI": "\x1b[31mred\x1b[5mblink\x1b[2J\x1b[0m",
    "OSC 52": "\x1b]52;c;cHduZWQ=\x07",  # writes the clipboard
    "OSC 0": "\x1b]0;pwned title\x07",
    "OSC 2": "\x1b]2;pwned title\x1b\\",
    "OSC 8": "\x1b]8;;https://e.vil/\x1b\\click\x1b]8;;\x1b\\",
    "DCS": "\x1bP+q544e\x1b\\",  # an XTGETTCAP query: the terminal would answer on stdin
    "C1": "\x9b31m\x9d0;t\x9c\x85",  # CSI, OSC, ST and NEL as single C1 bytes
    "NUL": "a\x00b\x7fc\x08d",
    "bidi": "\u202eevil\u202c \u2066x\u2069 \u202ay",
    "markup": "[bold red]x[/] [link=https://e.vil]y[/link] [@click=app.quit]q[/]",
}
IDS = list(PAYLOADS)

#: What a terminal takes as a command, or what reorders text: never in server text once safe.
_RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: The sequences Textual itself writes for a frame: SGR styles and cursor positioning.
_TEXTUAL_SGR = re.compile(r"\x1b\[[0-9;]*m")
_TEXTUAL_MOVE = re.compile(r"\x1b\[(\d+);(\d+)H")


# -- the terminal's view -----------------------------------------------------------------------


def terminal_bytes(app) -> str:
    """What Textual would write to the terminal for a full frame of the current screen."""
    from rich.console import Console

    width, height = app.size
    console = Console(file=io.StringIO(), width=width, height=height, force_terminal=True, color_system="truecolor", legacy_windows=False, safe_box=False)
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return update.render_segments(console)


def foreign(output: str) -> list[str]:
    """Escape sequences and control bytes that Textual did not put there itself."""
    left = _TEXTUAL_MOVE.sub("", _TEXTUAL_SGR.sub("", output))
    return sorted({repr(char) for char in left if _RAW_CONTROL.match(char) or char == "\x1b"})


def screen_rows(output: str) -> dict[int, str]:
    """The frame as text, row by row (0-based), styles removed."""
    rows: dict[int, str] = {}
    parts = _TEXTUAL_MOVE.split(_TEXTUAL_SGR.sub("", output))
    for row, column, text in zip(parts[1::3], parts[2::3], parts[3::3]):
        line = rows.get(int(row) - 1, "")
        start = int(column) - 1
        rows[int(row) - 1] = line[:start].ljust(start) + text
    return rows


def drawn_in(app, selector: str, output: str) -> str:
    """What the frame shows inside one widget, as one string without whitespace (text that
    wraps or folds compares with the original)."""
    region = app.screen.query_one(selector).region
    rows = screen_rows(output)
    text = "".join(rows.get(y, "")[region.x : region.right] for y in range(region.y, region.bottom))
    return squeeze(text)


def squeeze(text: str) -> str:
    return "".join(text.split())


async def shows(pilot, selector: str, text: str) -> str:
    """Wait until the frame shows ``text`` (whitespace aside) inside the widget (tables and
    panels draw on their own schedule); returns the frame's bytes."""
    app = pilot.app
    try:
        await wait_for(pilot, lambda: squeeze(text) in drawn_in(app, selector, terminal_bytes(app)), timeout=5)
    except TimeoutError:
        pytest.fail(f"{text!r} is not drawn in {selector}: {drawn_in(app, selector, terminal_bytes(app))!r}")
    return terminal_bytes(app)


def assert_cell_is_text(table, row: int, column: str, expected: str) -> None:
    """A table cell holds ``expected`` as plain ``Text`` (no markup parsed, no style spans).

    Tables are checked by their cells, not their frame: Textual's DataTable measures new rows
    on idle without invalidating its line caches, so a frame drawn between a row's arrival and
    that idle keeps the header's column widths (a Textual race, reported, not this test's)."""
    from rich.text import Text

    value = table.get_row_at(row)[list(table.columns).index(column)]
    assert isinstance(value, Text) and not value.spans, (column, value)
    assert value.plain == expected, (column, value.plain, expected)


def assert_terminal_safe(app) -> str:
    output = terminal_bytes(app)
    assert foreign(output) == [], foreign(output)
    return output


# -- storage ---------------------------------------------------------------------------------


def assert_clean(value, where: str) -> None:
    """No raw control character in any string inside ``value``."""
    if isinstance(value, str):
        assert not _RAW_CONTROL.search(value), (where, value)
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_clean(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            assert_clean(item, f"{where}[{index}]")


def assert_stored_clean(store: HistoryStore, run, folder) -> None:
    """The run as stored and as exported (JSONL and Markdown) holds no raw control character."""
    record = store.get(run.number)
    assert record is not None and record.final
    for name, value in vars(record).items():
        assert_clean(value, f"history.{name}")
    for markdown in (False, True):
        path = export_file([record], folder, stem=f"run-{run.number}", markdown=markdown)
        text = path.read_text(encoding="utf-8")
        assert not _RAW_CONTROL.search(text.replace("\n", "")), (path.name, text)
        if not markdown:
            for line in text.splitlines():
                assert_clean(json.loads(line), path.name)


def assert_run_clean(run) -> None:
    metrics = run.metrics
    for name, value in (("text", run.text), ("reasoning", run.reasoning), ("error", metrics.error), ("finish", metrics.finish_reason), ("model", run.request.model)):
        assert_clean(value, f"run.{name}")


# -- every field, every payload ---------------------------------------------------------------


def _answer(payload):
    return Script([chunk("answer: "), chunk(payload)]), {}


def _reasoning(payload):
    return Script([reasoning("thinking: "), reasoning(payload), chunk("ok")]), {}


def _http_error(payload):
    return Script([], status=500, error_message=payload), {}


def _chat_error(payload):
    return Script([chunk("kept "), stream_error(payload)]), {}


def _responses_error(payload):
    return Script([chunk("kept "), responses_error(payload)]), {"api": "responses"}


def _responses_failed(payload):
    return Script([chunk("kept "), responses_failed(payload)]), {"api": "responses"}


def _finish_reason(payload):
    return Script(words("ok"), finish_reason=payload), {}


def _answer_waited(payload):
    return Script([chunk("answer: "), chunk(payload)]), {"stream": False}


#: field -> (script for a payload, app settings, the widgets that must show it literally)
FIELDS = {
    "answer": (_answer, ("#output",)),
    "answer, not streamed": (_answer_waited, ("#output",)),
    "reasoning": (_reasoning, ("#reasoning",)),
    "http error body": (_http_error, ("#metrics",)),
    "chat stream error": (_chat_error, ("#metrics",)),
    "responses error": (_responses_error, ("#metrics",)),
    "responses failed": (_responses_failed, ("#metrics",)),
    "finish reason": (_finish_reason, ()),
}


def _settings_of(field: str) -> dict:
    return FIELDS[field][0]("")[1]


@pytest.mark.parametrize("field", list(FIELDS))
async def test_hostile_text_in_a_server_field_never_reaches_the_terminal(server, tmp_path, field):
    """Each payload in turn through one field: the frame holds no sequence of the payload's,
    it shows the payload as visible text (markup literally) where the field is drawn, and the
    run, its history row and its exports hold no raw control character."""
    make, shown_in = FIELDS[field]
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store, retries=0, **_settings_of(field))
    async with app.run_test(size=SIZE) as pilot:
        for name, payload in PAYLOADS.items():
            server.push(make(payload)[0])
            await send(pilot, f"send {name}")
            await settle(pilot)
            run = app.session.runs[-1]
            assert run.request.prompt == f"send {name}"  # this payload's run, and the app is up
            for selector in shown_in:
                await shows(pilot, selector, server_text(payload))
            if field == "finish reason":  # kept to 40 characters, one line
                assert_cell_is_text(app.main_screen.runs_table, 0, "Outcome", f"done ({one_line(payload, 40)})")
            assert_terminal_safe(app)
            assert_run_clean(run)
            assert_stored_clean(store, run, tmp_path)
    store.close()


@pytest.mark.parametrize("name", IDS)
async def test_a_hostile_model_name_from_the_model_list_is_shown_as_text(server, tmp_path, name):
    """With no --model the app takes the first model /v1/models lists: its name shows as
    text in the panel and the Runs table, and is stored without control characters."""
    payload = f"m-{PAYLOADS[name]}"
    server.models = [payload, "second-model"]
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store, model=None, retries=0)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "which model?")
        await settle(pilot)
        run = app.session.runs[-1]
        assert run.metrics.state == "done"
        assert run.request.model == server_text(payload)
        await shows(pilot, "#metrics", server_text(payload))
        assert_cell_is_text(app.main_screen.runs_table, 0, "Model", one_line(payload, 40))
        assert_terminal_safe(app)
        assert_run_clean(run)
        assert_stored_clean(store, run, tmp_path)
    store.close()


USAGE = {
    "strings": {"prompt_tokens": PAYLOADS["OSC 52"], "completion_tokens": PAYLOADS["markup"], "completion_tokens_details": {"reasoning_tokens": PAYLOADS["CSI"]}},
    "floats": {"prompt_tokens": 1.5, "completion_tokens": 7.25, "completion_tokens_details": {"reasoning_tokens": float("1e308")}},
    "booleans and negatives": {"prompt_tokens": True, "completion_tokens": -7, "completion_tokens_details": {"reasoning_tokens": False}},
    "absurd": {"prompt_tokens": 10**40, "completion_tokens": 2**64, "completion_tokens_details": {"reasoning_tokens": 10**30}},
    "containers": {"prompt_tokens": [1], "completion_tokens": {"n": 7}, "completion_tokens_details": [PAYLOADS["OSC 0"]]},
}


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_usage_that_is_not_a_count_neither_crashes_nor_shows(server, tmp_path, api):
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store, retries=0, api=api)
    async with app.run_test(size=SIZE) as pilot:
        for name, usage in USAGE.items():
            if api == "responses":
                usage = {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"], "output_tokens_details": usage["completion_tokens_details"]}
            server.push(Script(words("counted here"), usage=usage))
            await send(pilot, f"usage {name}")
            await settle(pilot)
            run = app.session.runs[-1]
            assert run.metrics.state == "done" and run.text == "counted here", name
            assert run.metrics.usage is None or run.metrics.usage.completion_tokens is None, (name, run.metrics.usage)
            assert "Usage not reported" in " ".join(panel_text(app).split())
            output = assert_terminal_safe(app)
            for text in ("cHduZWQ", "x[/]", "1e+308", "10000000000"):
                assert text not in squeeze(output)
            record = store.get(run.number)
            assert record.final and record.server_completion_tokens is None and record.server_prompt_tokens is None
            assert_stored_clean(store, run, tmp_path)
    store.close()


# -- the History screen --------------------------------------------------------------------------


async def _history_of_hostile_runs(pilot, server):
    from tui.screens.history import HistoryScreen

    app = pilot.app
    for name in ("OSC 0", "markup"):
        server.push(Script([chunk(PAYLOADS[name])], finish_reason=PAYLOADS[name][:30]))
        await send(pilot, f"send {name}")
        await settle(pilot)
    await pilot.press("ctrl+g")
    await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and len(app.screen.records) == 2)
    await pilot.pause()


async def test_history_shows_hostile_runs_as_text(server, tmp_path):
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store, retries=0)
    async with app.run_test(size=SIZE) as pilot:
        await _history_of_hostile_runs(pilot, server)
        table = app.screen.query_one("#history-runs")
        for row, name in enumerate(("markup", "OSC 0")):  # newest first
            assert_cell_is_text(table, row, "Outcome", f"done ({one_line(PAYLOADS[name][:30], 40)})")
            assert_cell_is_text(table, row, "Prompt", f"send {name}")
        assert_terminal_safe(app)
    store.close()


async def test_a_model_named_like_markup_does_not_break_the_history_filter(server, tmp_path):
    server.models = ["[/] [@click=app.quit]q[/]", "other"]
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store, retries=0, model=None)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "which model?")
        await settle(pilot)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: getattr(app.screen, "records", None))
        select = app.screen.query_one("#model")
        select.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: select.expanded or not app.is_running)
        await pilot.pause()
        assert app.is_running
        output = assert_terminal_safe(app)
        assert squeeze("[/] [@click=app.quit]q[/]") in squeeze("".join(screen_rows(output).values()))
    store.close()


# -- secrets ---------------------------------------------------------------------------------------

PASSWORD = "Pa55w0rd-9c1e-secret"
KEY = "sk-proj-Qm7Zt2Lw9Xc4Vb8Nh3Jk6Rp1Sd5Fg0HyTu2Ei7Wo4Aq9Cz3wxyz"


def keyed_app(base_url: str, key: str, *, history, streamer=None, **settings):
    """The app as ``OPENAI_API_KEY=key streamtui --base-url URL --model gpt-4o`` builds it."""
    from tests.driving import shared_worker
    from tui.app import StreamTuiApp
    from tui.engine.clock import ManualClock
    from tui.engine.endpoint import resolve_endpoint
    from tui.engine.settings import Settings, open_session

    endpoint = resolve_endpoint(base_url=base_url, environ={"OPENAI_API_KEY": key})
    resolved = Settings(endpoint, **{"model": "gpt-4o", "retries": 0, **settings})
    session = open_session(resolved, streamer=streamer or shared_worker(), history=history, clock=ManualClock())
    return StreamTuiApp(session)


def with_password(url: str) -> str:
    return url.replace("http://", f"http://streamtui:{PASSWORD}@", 1)


class FaultyStreamer:
    """Streams in this process (so its log lines land in this test's log file) and fails with a
    bug of streamtui's own whose message holds the URL with its password."""

    def __init__(self, message: str) -> None:
        from tui.engine.stream import InProcessStreamer

        self.inner = InProcessStreamer()
        self.message = message

    def batches(self, request, target, clock):
        async def faulty():
            async for batch in self.inner.batches(request, target, clock):
                yield batch
                if any(type(event).__name__ in ("Delta", "Deltas") for event in batch):
                    raise ValueError(self.message)

        return faulty()

    async def list_models(self, target):
        return await self.inner.list_models(target)

    async def close(self):
        await self.inner.close()


def everything_shown_and_kept(app, store: HistoryStore, folder) -> dict[str, str]:
    """Every place a secret could leak to, as text: the frame, the panel, the notifications, the
    runs, their history rows, and their JSONL and Markdown exports."""
    records = store.list_runs()
    frame = terminal_bytes(app)
    places = {
        "screen": "\n".join(screen_rows(frame).values()),
        # Wrapped lines read as one: a secret cut at the edge of a row is still a secret.
        "panel as drawn": drawn_in(app, "#metrics", frame),
        "pane as drawn": drawn_in(app, "#output", frame),
        "panel": panel_text(app),
        "notifications": "\n".join(note.message for note in app._notifications),
        "runs": "\n".join(f"{run.endpoint_label} {run.metrics.error} {run.text}" for run in app.session.runs),
        "history": "\n".join(repr(vars(record)) for record in records),
    }
    for markdown in (False, True):
        path = export_file(records, folder, stem="everything", markdown=markdown)
        places[path.name] = path.read_text(encoding="utf-8")
    return places


async def test_a_password_in_the_base_url_is_never_shown_or_stored(server, tmp_path, monkeypatch, refused_url):
    """``http://user:PASSWORD@host/v1``: the Endpoint line, error notes (a server that echoes the
    URL, a refused connection, an internal error), history, exports and the log file show
    ``***@host`` and never the password."""
    log = tmp_path / "streamtui.log"
    monkeypatch.setenv("STREAMTUI_LOG", str(log))
    url = with_password(server.base_url)
    server.push(
        Script(words("fine")),
        Script([], status=404, error_message=f"No model at {url}/chat/completions (asked by {url})"),
    )
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(url, history=store, retries=0, streamer=FaultyStreamer(f"a bug while talking to {url}"))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello")  # FaultyStreamer fails the first run that has text: the internal error
        await settle(pilot)
        assert app.session.runs[-1].metrics.error_kind == "internal"
        await send(pilot, "echo the url")
        await settle(pilot)
        assert app.session.runs[-1].metrics.error_kind == "not_found"
        await shows(pilot, "#metrics", f"***@127.0.0.1:{server.port}/v1")
        places = everything_shown_and_kept(app, store, tmp_path)
    places["log"] = log.read_text()
    assert "a bug while talking to" in places["log"]
    refused_app = make_app(with_password(refused_url), history=store, retries=0)
    async with refused_app.run_test(size=SIZE) as pilot:
        await send(pilot, "anyone?")
        await settle(pilot)
        assert "Cannot reach http://***@127.0.0.1" in refused_app.session.runs[-1].metrics.error
        places["refused screen"] = "\n".join(screen_rows(terminal_bytes(refused_app)).values())
        places["refused panel"] = panel_text(refused_app)
    places["history after"] = "\n".join(repr(vars(record)) for record in store.list_runs())
    store.close()
    for where, text in places.items():
        assert PASSWORD not in text and PASSWORD[:8] not in text, where
    assert "***@127.0.0.1" in places["history"] and "***@127.0.0.1" in places["panel"]


def revealed_of_key(text: str, secret: str = KEY) -> list[str]:
    from tests.test_secrets import revealed_beyond_mask

    return revealed_beyond_mask(text, secret)


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_an_echoed_key_is_redacted_on_screen_in_history_and_exports(server, tmp_path, api):
    """A server that echoes the key, whole, starred, or as fragments (11 characters of its
    middle, the head, the tail), in every kind of error: nothing of 4 characters or more of the
    key is shown or stored, but the last 4 of its mask."""
    from tests.support.scripted_server import raw

    echoes = [
        Script([], status=401, error_message=f"Incorrect API key provided: {KEY[:12]}{'*' * 30}{KEY[-4:]}."),
        Script([], status=500, error_message=f"upstream refused key {KEY} (Bearer {KEY})"),
        Script([chunk("kept "), raw(b'data: {"oops": "' + KEY[8:40].encode() + b"\n\n")]),
    ]
    if api == "chat":
        echoes.append(Script([chunk("kept "), stream_error(f"key ...{KEY[9:20]}... is over quota")]))
    else:
        echoes.append(Script([chunk("kept "), responses_error(f"key ...{KEY[9:20]}... is over quota")]))
        echoes.append(Script([chunk("kept "), responses_failed(f"bad key {KEY[:30]}…{KEY[-12:]}")]))
    server.push(*echoes)
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = keyed_app(server.base_url, KEY, history=store, api=api)
    async with app.run_test(size=SIZE) as pilot:
        for index in range(len(echoes)):
            await send(pilot, f"echo {index}")
            await settle(pilot)
            run = app.session.runs[-1]
            assert run.metrics.state == "failed" and run.metrics.error
            for where, text in everything_shown_and_kept(app, store, tmp_path).items():
                assert revealed_of_key(text) == [], (index, where, revealed_of_key(text))
    store.close()


def test_the_streaming_worker_knows_the_secrets_it_is_given():
    """The worker process never builds an Endpoint: the targets it receives register their key
    and URL password, so its own messages (an internal error's text) are redacted too."""
    import subprocess
    import sys

    script = (
        "from tui.engine.stream import InProcessStreamer\n"
        "from tui.engine.target import Target\n"
        "from tui.engine.secrets import redact_all\n"
        f"InProcessStreamer().client(Target('http://user:{PASSWORD}@127.0.0.1:9/v1', {KEY!r}))\n"
        f"print(redact_all('key {KEY} password {PASSWORD}'))\n"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert KEY not in shown and KEY[-8:] not in shown
    assert PASSWORD not in shown and PASSWORD[:8] not in shown


_SURROGATE = re.compile("[\ud800-\udfff]")


@pytest.mark.parametrize("field", list(FIELDS))
async def test_a_lone_surrogate_in_a_server_field_is_replaced_and_the_run_ends_and_is_stored(server, tmp_path, field):
    """JSON's ``"\\ud800"`` decodes to a lone surrogate, which no UTF-8 encoder takes (tiktoken's
    counter, SQLite): in every field it becomes U+FFFD, and the run ends and is stored."""
    payload = "lone \ud800 surrogate, then one two three four five six seven eight"
    make, shown_in = FIELDS[field]
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store, retries=0, **_settings_of(field))
    async with app.run_test(size=SIZE) as pilot:
        server.push(make(payload)[0])
        await send(pilot, "send a surrogate")
        await settle(pilot)
        run = app.session.runs[-1]
        assert run.request.prompt == "send a surrogate"
        for selector in shown_in:
            await shows(pilot, selector, server_text(payload))
        record = store.get(run.number)
        assert record is not None and record.final
        metrics = run.metrics
        for value in (run.text, run.reasoning, metrics.error, metrics.finish_reason, *vars(record).values()):
            assert not (isinstance(value, str) and _SURROGATE.search(value)), (field, value)
    store.close()
