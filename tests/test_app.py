"""The app driven like a person would, against a scripted server over loopback."""

from __future__ import annotations

import pytest

from tests.driving import (
    cell,
    make_app,
    panel_text,
    send,
    settle,
    step_through,
    wait_for,
)
from tests.support.scripted_server import Script, chunk, drop, gate, raw, stop, words
from tui.engine.clock import ManualClock


async def test_send_streams_into_the_output_and_records_the_run(server):
    server.push(Script(words("The answer arrives word by word."), usage=(4, 7)))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 36)) as pilot:
        await send(pilot, "Say something")
        await settle(pilot)
        assert app.main_screen.output.text == "The answer arrives word by word."
        assert server.requests[-1]["messages"] == [{"role": "user", "content": "Say something"}]
        run = app.session.runs[-1]
        assert run.metrics.state == "done"
        assert run.metrics.server_completion_tokens == 7
        assert app.main_screen.runs_table.row_count == 1
        assert app.main_screen.prompt_input.text == ""


async def test_figures_come_from_the_injected_clock_exactly(server):
    server.push(Script([gate("g1"), chunk("one "), gate("g2"), chunk("two "), gate("g3"), chunk("three")]))
    clock = ManualClock()
    app = make_app(server.base_url, clock=clock)
    async with app.run_test(size=(120, 36)) as pilot:
        await send(pilot, "count")
        await wait_for(pilot, lambda: app.main_screen.current is not None and app.main_screen.current.metrics.state == "waiting")
        await step_through(pilot, server, clock, [(0.150, "g1", 1), (0.200, "g2", 2), (0.450, "g3", 3)])
        await settle(pilot)
        metrics = app.session.runs[-1].metrics
        assert metrics.ttft == pytest.approx(0.150)
        assert metrics.e2e == pytest.approx(0.450)
        gaps = metrics.gap_stats()
        assert gaps.p50 == pytest.approx(0.050) and gaps.max == pytest.approx(0.250)  # nearest rank of [0.05, 0.25]
        figures = panel_text(app)
        assert "150.0 ms" in figures and "450.0 ms" in figures


async def test_escape_cancels_and_keeps_the_partial_text(server):
    server.push(Script([chunk("partial "), chunk("answer"), gate("never")]), Script(words("next run")))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 36)) as pilot:
        await send(pilot, "long one")
        await wait_for(pilot, lambda: app.main_screen.current is not None and app.main_screen.current.metrics.chunks == 2)
        # The live run has its row from the start, not only once it ends.
        await wait_for(pilot, lambda: app.main_screen.runs_table.row_count == 1)
        assert cell(app.main_screen.runs_table, 0, "Outcome") == "running"
        await pilot.press("escape")
        await settle(pilot)
        run = app.session.runs[-1]
        assert run.metrics.state == "cancelled"
        assert app.main_screen.output.text == "partial answer"
        assert run.text == "partial answer"
        assert cell(app.main_screen.runs_table, 0, "Outcome") == "cancelled"
        # What arrived is counted, all of it, however soon the cancel came after it.
        count = run.metrics.token_count
        assert count is not None and count.answer_chars == len("partial answer") and count.answer == 2
        assert cell(app.main_screen.runs_table, 0, "Tokens") == "2 tiktoken"
        # The connection was closed and the app goes on: the next run works.
        await send(pilot, "again")
        await settle(pilot)
        assert app.main_screen.output.text == "next run"


async def test_ctrl_t_switches_streaming_off_and_the_answer_shows_at_once(server):
    server.push(Script([gate("done"), *words("all at once")], usage=(2, 3)))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("ctrl+t")
        assert app.session.params.stream is False
        await send(pilot, "wait for it")
        await wait_for(pilot, lambda: app.main_screen.current is not None and app.main_screen.current.metrics.state == "waiting")
        assert server.requests[-1]["stream"] is False
        assert app.main_screen.output.text == ""
        assert "Waiting for the complete response" in app.main_screen.output.notice
        server.release("done")
        await settle(pilot)
        run = app.session.runs[-1]
        assert app.main_screen.output.text == "all at once"
        assert run.metrics.ttft is None and run.metrics.chunks == 1
        assert run.metrics.server_completion_tokens == 3 and run.metrics.tiktoken_tokens == 3
        assert cell(app.main_screen.runs_table, 0, "Stream") == "off"


@pytest.mark.parametrize(
    ("script", "kept", "kind"),
    [
        (Script([chunk("kept "), drop()]), "kept ", "dropped"),
        (Script([chunk("kept "), raw(b"data: {oops\n\n")]), "kept ", "malformed"),
        (Script([chunk("kept "), stop()]), "kept ", "truncated"),
        (Script([], status=401), "", "auth"),
        (Script([], status=404), "", "not_found"),
        (Script([], status=429), "", "rate_limit"),
        (Script([], status=500), "", "server"),
    ],
)
async def test_failures_say_what_went_wrong_and_keep_what_arrived(server, script, kept, kind):
    server.push(script)
    app = make_app(server.base_url, retries=0)
    async with app.run_test(size=(120, 36)) as pilot:
        await send(pilot, "try")
        await settle(pilot)
        run = app.session.runs[-1]
        assert run.metrics.state == "failed" and run.metrics.error_kind == kind
        assert app.main_screen.output.text == kept
        assert "\n" not in run.metrics.error
        assert cell(app.main_screen.runs_table, 0, "Outcome") == "failed"
        assert app.is_running


async def test_an_unreachable_server_fails_clearly(refused_url):
    app = make_app(refused_url)
    async with app.run_test(size=(120, 36)) as pilot:
        await send(pilot, "hello?")
        await settle(pilot)
        assert f"Cannot reach {refused_url}" in app.session.runs[-1].metrics.error
        assert app.main_screen.runs_table.row_count == 1


async def test_an_empty_prompt_sends_nothing_and_hints(server):
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 36)) as pilot:
        await send(pilot, "   \n ")
        await pilot.pause()
        assert server.requests == []
        assert app.session.runs == []
        assert "Type a prompt first" in app.main_screen.metrics_panel.message


async def test_model_output_is_never_markup_or_escape_sequences(server):
    hostile = "[bold]x[/] [link=http://e.vil]y[/link] \x1b[31mred\x1b[0m \x07bell"
    server.push(Script([chunk(hostile)]))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 36)) as pilot:
        await send(pilot, "be hostile")
        await settle(pilot)
        # Made safe where it enters (the stream parser), the same length: stored as drawn.
        from tui.engine.sanitize import server_text

        assert app.session.runs[-1].text == server_text(hostile) and len(server_text(hostile)) == len(hostile)
        drawn = "".join(segment.text for y in range(4) for segment in app.main_screen.output.render_line(y))  # below its prompt
        assert "[bold]x[/] [link=http://e.vil]y[/link]" in drawn
        assert "\x1b" not in drawn and "\x07" not in drawn
        assert "␛[31mred" in drawn
        svg = app.export_screenshot()
        assert "[bold]x[/]" in svg


async def test_prompt_history_is_recalled_with_ctrl_up_and_down(server):
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 36)) as pilot:
        for prompt in ("first prompt", "second\nprompt"):
            await send(pilot, prompt)
            await settle(pilot)
        prompt_input = app.main_screen.prompt_input
        prompt_input.load_text("a draft")
        await pilot.press("ctrl+up")
        assert prompt_input.text == "second\nprompt"
        await pilot.press("ctrl+up")
        assert prompt_input.text == "first prompt"
        await pilot.press("ctrl+down", "ctrl+down")
        assert prompt_input.text == "a draft"


async def test_enter_inserts_a_newline_and_ctrl_j_sends(server):
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("a", "enter", "b")
        assert app.main_screen.prompt_input.text == "a\nb"
        assert server.requests == []
        await pilot.press("ctrl+j")
        await settle(pilot)
        assert server.requests[-1]["messages"][0]["content"] == "a\nb"


async def test_the_output_follows_the_end_unless_scrolled_up(server):
    long_text = "".join(f"line {i}\n" for i in range(200))
    server.push(Script(words(long_text)), Script([chunk("x\n" * 50), gate("more"), chunk("y\n" * 50)]))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 36)) as pilot:
        await send(pilot, "long")
        await settle(pilot)
        output = app.main_screen.output
        assert output.max_scroll_y > 0 and output.scroll_y == output.max_scroll_y
        await send(pilot, "again")
        await wait_for(pilot, lambda: output.text.count("x") == 50)
        await pilot.pause()
        output.scroll_to(y=0, animate=False)
        await pilot.pause()
        server.release("more")
        await settle(pilot)
        assert output.text.count("y") == 50
        assert output.scroll_y == 0


async def test_raw_view_shades_alternate_chunks(server):
    server.push(Script([chunk("aaa"), chunk("bbb"), chunk("ccc")]))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 36)) as pilot:
        await send(pilot, "chunks")
        await settle(pilot)
        await pilot.press("ctrl+r")
        assert app.main_screen.output.mode == "raw"
        output = app.main_screen.output
        segments = [segment for segment in output.render_line(output.lead_rows) if segment.text.strip()]  # below its prompt
        assert [segment.text for segment in segments[:3]] == ["aaa", "bbb", "ccc"]
        shades = [(segment.style.color, segment.style.bgcolor) for segment in segments]  # (each also says where it is)
        assert shades[0] != shades[1] and shades[0] == shades[2]


@pytest.mark.parametrize("api", ["completions", "responses"])
async def test_other_apis_stream_through_the_same_path(server, api):
    server.push(Script(words("1, 2, 3, 4"), usage=(4, 7)))
    app = make_app(server.base_url, api=api)
    async with app.run_test(size=(120, 36)) as pilot:
        await send(pilot, "1,2,3,")
        await settle(pilot)
        run = app.session.runs[-1]
        assert server.requests[-1]["_path"].endswith("/completions" if api == "completions" else "/responses")
        assert app.main_screen.output.text == "1, 2, 3, 4" and run.metrics.state == "done"
        assert run.metrics.chunks == 4 and run.metrics.server_completion_tokens == 7


async def test_compare_resends_the_last_prompt_both_ways_as_a_pair(server):
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 36)) as pilot:
        await send(pilot, "the same prompt")
        await settle(pilot)
        await pilot.press("ctrl+o")  # the panel is empty: Compare takes the last prompt
        await wait_for(pilot, lambda: len(app.session.runs) == 3)
        assert any("last prompt" in str(n.message) and "the same prompt" in str(n.message) for n in app._notifications)  # and says so
        await settle(pilot)
        first, streamed, waited = app.session.runs
        # A discarded warm-up (1 token) first, then the pair; both with temperature 0 and one seed.
        assert [request["stream"] for request in server.requests] == [True, True, True, False]
        warm_up, *pair = server.requests[1:]
        assert warm_up["max_tokens"] == 1 and "stream_options" not in warm_up
        assert all(request["messages"][-1]["content"] == "the same prompt" for request in server.requests)
        assert all(request["temperature"] == 0 and request["seed"] == 1234 for request in pair)
        assert first.pair_id is None and streamed.pair_id is not None and streamed.pair_id == waited.pair_id
        # Newest first, as in History; each run of the pair is marked with the other's number.
        assert [cell(app.main_screen.runs_table, row, "#") for row in range(3)] == ["3 ⇄2", "2 ⇄3", "1"]
        text = panel_text(app)
        assert "Compare" in text and "sooner" in text


async def test_a_compare_pair_is_counted_from_one_source_in_the_runs_table(server):
    """The waited run had the server's usage and the streamed one only tiktoken's count: the
    rows read "7 usage" beside "6 tiktoken" for the same answer. A pair's rows share a source."""
    answer = "An answer of a few words."
    server.push(Script(words(answer)), Script(words(answer)), Script(words(answer), usage=(3, 7)))
    app = make_app(server.base_url)
    async with app.run_test(size=(140, 36)) as pilot:
        app.main_screen.prompt_input.load_text("the prompt")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: len(app.session.runs) == 2 and not app.session.busy)
        await settle(pilot)
        table = app.main_screen.runs_table
        tokens = [cell(table, row, "Tokens") for row in range(2)]
        assert tokens[0].split()[1:] == tokens[1].split()[1:] == ["tiktoken"], tokens


async def test_a_compare_is_not_judged_before_both_runs_end(server):
    """While the pair's second run was still going, the panel compared its partial count with
    the first's: "answers differ: 40 vs 132 tokens", gone once it ended."""
    server.push(Script(words("warm")), Script(words("one two three four five six seven eight")), Script([gate("end")] + words("one two three four five six seven eight")))
    app = make_app(server.base_url)
    async with app.run_test(size=(140, 45)) as pilot:
        app.main_screen.prompt_input.load_text("the prompt")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: len(app.session.runs) == 2 and app.session.runs[1].metrics.state == "waiting")
        await wait_for(pilot, lambda: "streamed /" in panel_text(app))
        from tui.widgets.figures_bar import FiguresBar

        assert "compare 2/2" in app.main_screen.query_one(FiguresBar).render().plain  # the bar says a Compare is under way
        text = " ".join(panel_text(app).split())  # as read, whatever the wrapping
        assert "once both runs have ended" in text and "Saved" not in text and "differ" not in text
        server.release("end")
        await settle(pilot)
        assert "Saved" in panel_text(app)


async def test_a_compare_warm_up_stops_reading_a_server_that_ignores_its_cap(server):
    """The warm-up asks for 1 token; a server that streams on regardless is not read to its end
    (that was the whole answer, with nothing shown but "warming up")."""
    server.push(Script(words("many words " * 40) + [gate("never")]), Script(words("Streamed.")), Script(words("Waited.")))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 36)) as pilot:
        app.main_screen.prompt_input.load_text("the prompt")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: len(app.session.runs) == 2 and not app.session.busy)
        assert [run.metrics.state for run in app.session.runs] == ["done", "done"]
        assert server.requests[0]["max_tokens"] == 1


async def test_compare_drops_a_fair_parameter_the_model_refuses_and_says_so(server):
    """Reasoning models refuse any temperature but their default: the warm-up finds out, the
    pair is sent without it, and the panel says so (a Compare that always failed, before)."""
    refusal = "Unsupported value: 'temperature' does not support 0.0 with this model. Only the default (1) value is supported."
    server.push(Script([], status=400, error_message=refusal), Script(words("warm")), Script(words("the answer")), Script(words("the answer")))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        app.main_screen.prompt_input.load_text("think first")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: len(app.session.runs) == 2)
        await settle(pilot)
        streamed, waited = app.session.runs
        assert streamed.metrics.state == waited.metrics.state == "done"
        warm_up, retried, *pair = server.requests
        assert warm_up["temperature"] == 0 and "temperature" not in retried
        assert all("temperature" not in request and request["seed"] == 1234 for request in pair)
        text = panel_text(app)
        assert "temperature" in text and "refused" in text


async def test_compare_warm_up_asks_for_16_tokens_on_the_responses_api(server):
    """OpenAI's Responses API refuses max_output_tokens below 16."""
    app = make_app(server.base_url, api="responses")
    async with app.run_test(size=(120, 40)) as pilot:
        app.main_screen.prompt_input.load_text("hello")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: len(app.session.runs) == 2)
        await settle(pilot)
        assert server.requests[0]["max_output_tokens"] == 16
