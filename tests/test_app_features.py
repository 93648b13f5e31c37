"""The daily-tool features of the main screen (issues 11 and 12), driven like a person would:
keys, the command palette, help, layout at small sizes, copying, settings, the model picker,
conversations and the History screen's search, delete and resend."""

from __future__ import annotations

import pytest
from textual import events

from tests.driving import cell, keys_from_a_terminal, make_app, panel_text, send, settle, wait_for
from tests.support.scripted_server import Script, chunk, gate, words
from tui.engine.history import HistoryStore


async def test_f1_and_question_mark_open_help_with_every_key_and_figure(server):
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f1")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        text = app.screen.query_one("Markdown")._markdown
        for words_in_help in ("Send the prompt", "Compare", "Timeline", "History", "Copy answer", "Ctrl+P", "TTFT", "E2E", "Client", "Gap p50", "First thought", "Tok/s"):
            assert words_in_help in text, words_in_help
        # One way of naming keys (it mixed "Ctrl+J" and "^o"), and the keys that move about.
        assert "Ctrl+O" in text and "Alt+C" in text and "^" not in text
        assert "Tab" in text and "Ctrl+End" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen)
        # "?" types into the prompt while it has focus; elsewhere it opens help.
        await pilot.press("question_mark")
        assert app.main_screen.prompt_input.text == "?"
        app.main_screen.runs_table.focus()
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")


async def test_tab_from_the_prompt_goes_to_the_answer_and_ctrl_end_follows_it(server):
    """Tab went from the prompt to the Run panel and the Runs table, the answer last; after a
    wheel scroll (focus stays in the prompt), End moved the prompt's cursor and the view could
    not follow again without Shift+Tab."""
    server.push(Script(words("line of the answer\n\n" * 60) + [gate("more"), chunk("the last line")]))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.main_screen
        await send(pilot, "long")
        output = main.output
        await wait_for(pilot, lambda: output.max_scroll_y > 10 and output.scroll_offset.y == output.max_scroll_y)
        assert main.prompt_input.has_focus
        await pilot.press("tab")
        assert output.has_focus
        await pilot.press("shift+tab")
        assert main.prompt_input.has_focus
        await pilot.press("pageup")  # a one-line prompt has no page: the answer scrolls
        assert main.prompt_input.has_focus
        await wait_for(pilot, lambda: output.scroll_offset.y < output.max_scroll_y)
        await pilot.press("ctrl+end")
        await wait_for(pilot, lambda: output.scroll_offset.y == output.max_scroll_y)
        for _ in range(3):  # the wheel, over the answer: the focus stays in the prompt
            await pilot.pause()
            output.post_message(events.MouseScrollUp(output, 2, 2, 0, 0, 0, False, False, False, screen_x=2, screen_y=2))
        await wait_for(pilot, lambda: output.scroll_offset.y < output.max_scroll_y)
        assert "Ctrl+End" in str(output.border_subtitle)  # says it is behind, and how to follow again
        await pilot.press("ctrl+end")
        server.release("more")
        await settle(pilot)
        assert output.scroll_offset.y == output.max_scroll_y and main.prompt_input.has_focus
        assert not output.border_subtitle


async def test_the_palette_runs_what_the_key_runs(server):
    """Ctrl+P lists the main screen's actions; an entry does exactly what its key does."""
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.session.params.stream is True
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press(*"Stream")

        def stream_highlighted() -> bool:
            from textual.command import CommandList

            hits = app.screen.query_one(CommandList)
            return hits.highlighted is not None and "Stream" in str(hits.get_option_at_index(hits.highlighted).prompt)

        await wait_for(pilot, stream_highlighted)  # the search is done, its best hit chosen
        hits = app.screen.query_one("CommandList")
        assert "Ctrl+T" in str(hits.get_option_at_index(hits.highlighted).prompt)  # its key, named as the help names it
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session.params.stream is False)
        assert app.screen is app.main_screen


async def test_escape_closes_the_figures_drawer_when_nothing_runs(server):
    app = make_app(server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        await pilot.press("ctrl+f")
        assert main.has_class("-figures-open")
        await pilot.press("escape")
        assert not main.has_class("-figures-open")


async def test_at_80x24_the_key_figures_show_and_the_panel_is_a_drawer(server):
    server.push(Script(words("A short answer."), usage=(3, 4)))
    app = make_app(server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        await send(pilot, "hi")
        await settle(pilot)
        assert main.has_class("-narrow")
        bar = str(main.query_one("#figures").content)
        assert "done" in bar and "TTFT" in bar and "E2E" in bar and "4 tok (usage)" in bar
        side = main.query_one("#side")
        assert not side.display
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: side.display)
        assert "TTFT" in panel_text(app)
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: not side.display)


async def test_copy_keys_put_the_answer_and_the_prompt_on_the_clipboard(server):
    server.push(Script(words("Here is the answer.")))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "the prompt")
        await settle(pilot)
        await pilot.press("alt+c")
        assert app.clipboard == "Here is the answer."
        await pilot.press("alt+p")
        assert app.clipboard == "the prompt"


async def test_ctrl_b_maximizes_the_output_and_escape_returns(server):
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: app.main_screen.maximized is app.main_screen.output)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.main_screen.maximized is None)


async def test_settings_apply_to_the_next_run_and_refuse_bad_values(server):
    """F2: a temperature and a seed reach the next request; a temperature of 9 is refused with
    one line naming it, and nothing changes."""
    from tui.screens.settings import SettingsScreen

    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        screen = app.screen
        screen.query_one("#temperature").value = "9"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "temperature" in str(screen.query_one("#problem").content))
        assert isinstance(app.screen, SettingsScreen) and app.session.params.temperature is None
        screen.query_one("#temperature").value = "0.3"
        screen.query_one("#seed").value = "42"
        screen.query_one("#system_prompt").value = "Be terse."
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.main_screen)
        await send(pilot, "hello")
        await settle(pilot)
        body = server.requests[-1]
        assert body["temperature"] == 0.3 and body["seed"] == 42
        assert body["messages"][0] == {"role": "system", "content": "Be terse."}
        assert "temperature 0.3" in panel_text(app) and "seed 42" in panel_text(app)


async def test_the_model_picker_lists_the_server_models_and_switches(server):
    from tui.screens.model_picker import ModelPicker

    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker))
        picker = app.screen
        await wait_for(pilot, lambda: picker.models == ["scripted-model"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is app.main_screen)
        await send(pilot, "hello")
        await settle(pilot)
        assert server.requests[-1]["model"] == "scripted-model"


async def test_a_conversation_sends_the_turns_so_far(server):
    """Ctrl+N: each prompt goes with the turns before it; the runs keep their own figures and
    share a conversation id; single prompts again have no memory."""
    server.push(Script(words("First answer.")), Script(words("Second answer.")), Script(words("Alone.")))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+n")
        await send(pilot, "one")
        await settle(pilot)
        await send(pilot, "two")
        await settle(pilot)
        messages = server.requests[-1]["messages"]
        assert [m["content"] for m in messages] == ["one", "First answer.", "two"]
        first, second = app.session.runs
        assert first.conversation_id == second.conversation_id == first.number
        assert (first.turn, second.turn) == (1, 2)
        assert "conversation" in panel_text(app)
        app.main_screen.action_single_prompts()
        await send(pilot, "three")
        await settle(pilot)
        assert [m["content"] for m in server.requests[-1]["messages"]] == ["three"]


async def test_history_search_delete_and_send_again(server, tmp_path):
    from tui.screens.confirm import Confirm
    from tui.screens.history import HistoryScreen

    server.push(Script(words("About cats.")), Script(words("About dogs.")), Script(words("Cats again.")))
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store)
    async with app.run_test(size=(140, 40)) as pilot:
        for prompt in ("tell me about cats", "tell me about dogs"):
            await send(pilot, prompt)
            await settle(pilot)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and len(app.screen.records) == 2)
        screen = app.screen
        screen.query_one("#search").value = "dogs"
        await wait_for(pilot, lambda: [r.prompt for r in screen.records] == ["tell me about dogs"])
        screen.query_one("#history-runs").focus()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and screen.records == [])
        screen.query_one("#search").value = ""
        await wait_for(pilot, lambda: [r.prompt for r in screen.records] == ["tell me about cats"])
        screen.query_one("#history-runs").focus()
        await pilot.press("r")
        await wait_for(pilot, lambda: app.screen is app.main_screen and len(server.requests) == 3)
        assert server.requests[-1]["messages"][-1]["content"] == "tell me about cats"
        await settle(pilot)
        assert [cell(app.main_screen.runs_table, row, "Prompt") for row in range(3)][0] == "tell me about cats"
    assert [record.prompt for record in store.list_runs()] == ["tell me about cats", "tell me about cats"]
    store.close()


async def test_a_stored_conversation_can_be_continued(server, tmp_path):
    server.push(Script(words("Answer one.")), Script(words("Answer two.")))
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("ctrl+n")
        await send(pilot, "first")
        await settle(pilot)
        app.main_screen.action_single_prompts()
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HistoryScreen" and app.screen.records)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is app.main_screen and app.session.conversation is not None and app.session.conversation.turns)
        await send(pilot, "second")
        await settle(pilot)
        assert [m["content"] for m in server.requests[-1]["messages"]] == ["first", "Answer one.", "second"]
        assert app.session.runs[-1].conversation_id == app.session.runs[0].number
    store.close()


@pytest.mark.parametrize("api", ["completions"])
async def test_the_completions_api_has_no_conversation(server, api):
    app = make_app(server.base_url, api=api)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.session.conversation is None


async def test_a_profile_picked_in_settings_is_used_and_remembered(server, tmp_path):
    """F2 → Profile: the next run goes with that profile's model and parameters, and the config
    file remembers it as default_profile (its comments kept)."""
    from tui.engine.config import ConfigFile
    from tui.profiles import Profiles
    from tui.screens.settings import SettingsScreen

    config = tmp_path / "config.toml"
    config.write_text(
        "# my endpoints\n"
        f'[profiles.fast]\nbase_url = "{server.base_url}"\nmodel = "fast-model"\n\n'
        f'[profiles.careful]\nbase_url = "{server.base_url}"\nmodel = "careful-model"\ntemperature = 0.7\n'
    )
    app = make_app(server.base_url, profiles=Profiles(config, ["careful", "fast"], None))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        app.screen.query_one("#profile").value = "careful"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.main_screen)
        await send(pilot, "hello")
        await settle(pilot)
        assert server.requests[-1]["model"] == "careful-model" and server.requests[-1]["temperature"] == 0.7
        await wait_for(pilot, lambda: ConfigFile.load(config).default_profile == "careful")
    assert "# my endpoints\n[profiles.fast]" in config.read_text()  # the comment kept with its table


async def test_a_theme_picked_in_the_app_is_remembered(server, tmp_path):
    from tui.engine.config import ConfigFile

    config = tmp_path / "config.toml"
    config.write_text("# comment kept\n")
    app = make_app(server.base_url, config_path=config, theme="textual-light")
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.theme == "textual-light"
        app.theme = "nord"
        await wait_for(pilot, lambda: ConfigFile.load(config).theme == "nord")
        # Said, not done silently: where it was written.
        await wait_for(pilot, lambda: any("nord" in str(n.message) and str(config.name) in str(n.message) for n in app._notifications))
    assert config.read_text().startswith("# comment kept\n")
    # The next launch applies it without a word (it said "saved" again at every launch).
    app = make_app(server.base_url, config_path=config, theme="nord")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.theme == "nord")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not any("Theme" in str(n.message) for n in app._notifications)


async def test_a_theme_that_cannot_be_remembered_says_so(server, tmp_path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    app = make_app(server.base_url, config_path=blocked / "config.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        app.theme = "nord"
        await wait_for(pilot, lambda: any("not saved" in str(n.message) for n in app._notifications))
        assert app.theme == "nord"  # the theme itself still changed


async def test_the_same_prompt_sent_both_ways_is_compared_without_compare(server):
    """Ctrl+T between two sends of one prompt: the panel compares them as Compare would; a
    different prompt, or a failed run, is no comparison."""
    server.push(Script(words("Streamed answer.")), Script(words("Waited answer.")), Script(words("Other.")))
    app = make_app(server.base_url)
    async with app.run_test(size=(140, 45)) as pilot:
        await send(pilot, "same prompt")
        await settle(pilot)
        await pilot.press("ctrl+t")
        await send(pilot, "same prompt")
        await settle(pilot)
        first, second = app.session.runs
        pair = app.session.pair_of(second)
        assert pair is not None and (pair.streamed, pair.waited) == (first, second)
        assert "First text" in panel_text(app)
        await send(pilot, "another prompt")
        await settle(pilot)
        assert app.session.pair_of(app.session.runs[-1]) is None
        assert "First text" not in panel_text(app)


async def test_alt_keys_from_a_terminal_run_their_action_and_type_nothing(server):
    """A terminal sends Alt+C as ESC c, which Textual reads as the key alt+c with the character
    "c": with the prompt focused, the letter must not land in the prompt, and Alt+K copies the
    last code block."""
    server.push(Script(words("Try this:\n\n```python\nprint('hi')\n```\n")))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "the prompt")
        await settle(pilot)
        prompt = app.main_screen.prompt_input
        assert prompt.has_focus
        await pilot.press(*"draft")
        await keys_from_a_terminal(pilot, "\x1bc")
        await wait_for(pilot, lambda: app.clipboard.startswith("Try this:"))
        await keys_from_a_terminal(pilot, "\x1bk")
        await wait_for(pilot, lambda: app.clipboard == "print('hi')")
        await keys_from_a_terminal(pilot, "\x1bp")
        await wait_for(pilot, lambda: app.clipboard == "the prompt")
        assert prompt.text == "draft"


async def test_the_timeline_plot_counts_characters_in_whole_numbers(server):
    """The plot's y axis is characters: its labels are whole numbers ("1,141", never "1141.0"
    or "950.8")."""
    import re

    from textual_plotext import PlotextPlot

    server.default = Script([chunk("x" * 1141)])
    app = make_app(server.base_url)
    async with app.run_test(size=(140, 45)) as pilot:
        await send(pilot, "go")
        await wait_for(pilot, lambda: not app.session.busy)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: app.screen.query(PlotextPlot))
        plot = app.screen.query_one(PlotextPlot)
        await wait_for(pilot, lambda: plot.size.height > 0)
        await pilot.pause()
        rows = [plot.render_line(y).text for y in range(plot.size.height)]
        labels = [match for row in rows for match in re.findall(r"^\s*([\d,.]+)\s*[┤│┼]", row)]
        assert labels, rows
        assert not any("." in label for label in labels), labels
        assert "1,141" in labels, labels


async def test_the_timeline_counts_each_chunks_tokens_in_the_worker_not_the_app(server, encodings_built_here):
    """The Timeline's Tokens column, chunk by chunk, is tiktoken's count of each chunk alone.
    It comes from the streaming worker's token counter: the app used to build the encoding
    itself on the first Timeline, 80 MB for good and a fifth of a second with the interface
    frozen."""
    from tui.engine.tokens import load_encoding

    pieces = ["Hello there", ", friend", " of many words and more"]
    server.default = Script([chunk(piece) for piece in pieces])
    app = make_app(server.base_url)
    async with app.run_test(size=(140, 45)) as pilot:
        await send(pilot, "go")
        await wait_for(pilot, lambda: not app.session.busy)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: app.screen.query("#chunks") and app.screen.query_one("#chunks").row_count == len(pieces))
        table = app.screen.query_one("#chunks")
        tokens = [table.get_row_at(row)[3] for row in range(len(pieces))]
    assert dict(encodings_built_here) == {}
    encode = load_encoding("o200k_base").encode_ordinary
    assert tokens == [len(encode(piece)) for piece in pieces]


async def test_typing_after_selecting_in_the_output_goes_to_the_prompt(server):
    """A click or a drag in the output pane (to select text) focuses it: the keys typed next
    went nowhere, and Ctrl+O then compared the previous prompt. They go to the prompt."""
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.main_screen
        await pilot.click(main.output)
        await wait_for(pilot, lambda: app.focused is main.output)
        await pilot.press("h", "i", "space", "t", "h", "e", "r", "e")
        await wait_for(pilot, lambda: main.prompt_input.text == "hi there")
        assert app.focused is main.prompt_input


async def test_the_footer_fits_80_columns_while_a_run_streams(server):
    """At 80 columns the footer's Cancel (offered while a run streams) pushed Help and Quit off
    the line. While a run streams on a narrow screen, the footer leaves out Timeline and History
    (F1 and the palette list them) and every key it shows fits."""
    from textual.widgets._footer import FooterKey

    server.push(Script([chunk("Some words "), gate("footer"), chunk("and the rest.")]))
    app = make_app(server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        await send(pilot, "go")
        await wait_for(pilot, lambda: main.current is not None and main.current.metrics.chunks == 1)

        def shown() -> dict[str, int]:
            return {key.action: key.region.right for key in main.query(FooterKey) if key.region.width}

        await wait_for(pilot, lambda: "cancel" in shown())
        keys = shown()
        assert {"cancel", "send", "compare", "help", "quit"} <= set(keys), keys
        assert max(keys.values()) <= 80, keys
        server.release("footer")
        await settle(pilot)
        await wait_for(pilot, lambda: "cancel" not in shown() and "timeline" in shown())


async def test_the_figures_bar_at_80_columns_keeps_the_comparison_and_drops_what_matters_least(server):
    """The line was cut at its end: the hint became "^f", and with longer figures the
    comparison itself (the point of Compare) went first."""
    from tui.widgets.figures_bar import FiguresBar

    server.default = Script(words("A fair answer of some words here."))
    app = make_app(server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        main.prompt_input.load_text("compare me")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: len(app.session.runs) == 2)
        await settle(pilot)
        bar = main.query_one(FiguresBar)
        shown = bar.render_line(0).text.strip()
        assert "streamed: text" in shown and "sooner" in shown and "E2E" in shown
        assert "…" not in shown and not shown.endswith("^f")
        await pilot.resize_terminal(60, 24)  # narrower still: redrawn to fit, the comparison kept
        await wait_for(pilot, lambda: bar.content_size.width == 58)
        await pilot.pause()
        shown = bar.render_line(0).text.strip()
        assert "sooner" in shown and "…" not in shown


async def test_the_figures_bar_names_the_token_source_as_the_table_does(server):
    """A model tiktoken does not know is counted with o200k_base as an estimate: the table said
    "tiktoken est.", the bar "(tiktoken)"."""
    from tui.widgets.figures_bar import FiguresBar

    server.default = Script(words("Some words of an answer."))
    app = make_app(server.base_url, model="some-local-model")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "hello")
        await settle(pilot)
        assert "tok (tiktoken est.)" in app.main_screen.query_one(FiguresBar).render().plain
        await pilot.resize_terminal(120, 36)  # the table has its Tokens column from 100 columns
        table = app.main_screen.runs_table
        await wait_for(pilot, lambda: "Tokens" in table.columns)
        assert cell(table, 0, "Tokens").endswith("tiktoken est.")


async def test_a_compare_warm_up_is_shown_and_its_cancel_gives_the_prompt_back(server):
    """At 80×24, Ctrl+O: during the warm-up the figures bar said nothing new and the footer had
    no Cancel; Escape then dropped the prompt without a word. The bar says it warms up, Cancel
    is offered, and Escape puts the prompt back with one line."""
    from textual.widgets._footer import FooterKey

    from tui.widgets.figures_bar import FiguresBar

    server.push(Script([gate("warm"), chunk("w")]))
    app = make_app(server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        main.prompt_input.load_text("escape test")
        await pilot.press("ctrl+o")
        bar = main.query_one(FiguresBar)
        await wait_for(pilot, lambda: "warming up" in bar.render().plain)
        await wait_for(pilot, lambda: any(key.action == "cancel" for key in main.query(FooterKey)))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.session.busy)
        await wait_for(pilot, lambda: main.prompt_input.text == "escape test")
        assert app.session.runs == []
        assert any("prompt is back" in str(n.message) for n in app._notifications)
        server.release("warm")


async def test_the_runs_table_at_80_columns_shows_the_prompt(server):
    """The Prompt column came after Model and Chunks, off the screen at 80 columns; a narrow
    table leaves out what the Run panel and History show, and widens again."""
    server.default = Script(words("An answer."))
    app = make_app(server.base_url, model="a-model-with-a-rather-long-name-q8_0")
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "tell me about cats")
        await settle(pilot)
        table = app.main_screen.runs_table

        def prompt_column_start() -> int:
            widths = [column.get_render_width(table) for column in table.ordered_columns]
            labels = [column.label.plain for column in table.ordered_columns]
            return sum(widths[: labels.index("Prompt")]) if "Prompt" in labels else 10**6

        assert prompt_column_start() <= table.content_region.width - 10
        assert cell(table, 0, "Prompt") == "tell me about cats" and cell(table, 0, "Outcome") == "done"
        await pilot.resize_terminal(160, 40)
        await wait_for(pilot, lambda: "Model" in [column.label.plain for column in table.ordered_columns])
        assert cell(table, 0, "Model") == "a-model-with-a-rather-long-name-q8_0" and cell(table, 0, "Prompt") == "tell me about cats"
        # The same breakpoint as the screen's (the table is 2 cells narrower than the terminal).
        await pilot.resize_terminal(99, 30)
        await wait_for(pilot, lambda: "Model" not in table.columns and app.main_screen.has_class("-narrow"))
        await pilot.resize_terminal(100, 30)
        await wait_for(pilot, lambda: "Model" in table.columns and app.main_screen.has_class("-wide"))


async def test_the_timeline_at_80_columns_stacks_its_charts_under_the_chunks(server):
    """Side by side at 80 columns, the chunks table left its Text column 3 characters."""
    server.default = Script(words("one two three four five six seven"))
    app = make_app(server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "go")
        await settle(pilot)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: app.screen is not app.main_screen and app.screen.query_one("#chunks").row_count == 7)
        await pilot.pause()
        chunks, charts = app.screen.query_one("#chunks"), app.screen.query_one("#charts")
        text_width = chunks.content_region.width - sum(column.get_render_width(chunks) for column in chunks.ordered_columns if column.label.plain != "Text")
        assert text_width >= 30
        assert charts.region.y >= chunks.region.bottom and charts.region.height >= 8
        await pilot.resize_terminal(140, 45)  # wide: side by side again
        await wait_for(pilot, lambda: charts.region.x > chunks.region.x)


async def test_the_timeline_of_a_waited_run_has_no_full_gap_chart(server):
    """A waited run (one chunk) has no gaps: its gap chart was a full block, as if every gap
    were the largest. It says there are none; a streamed run's chart names its scale."""
    from textual.widgets import Sparkline

    server.default = Script(words("one two three four"))
    app = make_app(server.base_url, stream=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await send(pilot, "go")
        await wait_for(pilot, lambda: not app.session.busy)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: app.screen is not app.main_screen and app.screen.query("#gaps"))
        gaps = app.screen.query_one("#gaps")
        assert not isinstance(gaps, Sparkline)
        assert "one chunk" in str(gaps.render())


async def test_replacing_a_compare_in_its_warm_up_keeps_the_old_prompt_out_of_the_box(server):
    """Ctrl+O, then a new prompt sent twice (to replace it) during the warm-up: the cancelled
    Compare gave its prompt back into the box while the new prompt ran."""
    server.push(Script([gate("warm-replaced"), chunk("w")]), Script(words("The new answer.")))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.main_screen
        main.prompt_input.load_text("first")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: app.session.activity is not None)
        main.prompt_input.load_text("second")
        await pilot.press("ctrl+j")
        await wait_for(pilot, lambda: main.prompt_input.text == "second")  # "still running": back
        await pilot.press("ctrl+j")
        await wait_for(pilot, lambda: len(app.session.runs) == 1)
        server.release("warm-replaced")  # the server answers the next request once this one ends
        await settle(pilot)
        assert app.session.runs[0].request.prompt == "second"
        assert main.prompt_input.text == ""


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light", "catppuccin-latte", "solarized-light"])
async def test_the_unfocused_output_border_shows_on_every_theme(server, theme):
    """The Output pane's border, unfocused, stands out from the background on dark and light
    themes alike (it was the panel's colour lightened: white on white in catppuccin-latte)."""
    from textual.color import Color

    app = make_app(server.base_url, theme=theme)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.theme == theme and app.main_screen.prompt_input.has_focus
        await pilot.pause()
        x, y = app.main_screen.output.region.offset
        style = app.screen.get_style_at(x, y + 1)  # the left edge, below the title
        line, background = Color.from_rich_color(style.color), Color.from_rich_color(style.bgcolor)
        assert abs(line.brightness - background.brightness) >= 0.12, (line.hex, background.hex)


async def test_escape_during_a_compare_says_the_comparison_is_dropped(server):
    """Escape during a Compare run said only "Cancelled: the partial answer is kept.": nothing
    told that the pair, which needs both runs, was not compared."""
    server.push(Script(words("warm")))  # the discarded warm-up
    server.push(Script([chunk("partial "), gate("held"), chunk("rest")]))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.main_screen
        main.prompt_input.load_text("compare and cancel")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: main.current is not None and main.current.text == "partial ")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.session.busy)
        error = main.current.metrics.error
        assert error.startswith("Cancelled: the partial answer is kept") and "comparison" in error, error
        server.release("held")


async def test_ctrl_o_during_a_run_names_ctrl_o_as_the_key_that_replaces_it(server):
    """Ctrl+O while a run streams said "Press Ctrl+J again … to stop it and send this prompt";
    Ctrl+J with the box empty then sent nothing. The notice names the key that was pressed."""
    server.push(Script([chunk("streaming "), gate("held"), chunk("on")]))
    app = make_app(server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        await send(pilot, "first")
        await wait_for(pilot, lambda: main.current is not None and main.current.text == "streaming ")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: any("still running" in str(n.message) for n in app._notifications))
        message = next(str(n.message) for n in app._notifications if "still running" in str(n.message))
        assert "Ctrl+O again" in message and "Ctrl+J" not in message, message
        server.release("held")


async def test_a_run_cancelled_before_any_text_says_so_and_its_timeline_says_no_chunk_came(server):
    """A run cancelled while it waited (a Compare's waited half) said "the partial answer is
    kept" of no answer at all, and its Timeline "No gaps: the answer came in one chunk." beside
    "0 chunks"."""
    from textual.widgets import Static

    server.push(Script([chunk("never")], headers_gate="held"))
    app = make_app(server.base_url)
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.main_screen
        await send(pilot, "wait for it")
        await wait_for(pilot, lambda: main.current is not None and main.current.metrics.state == "waiting")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.session.busy)
        assert main.current.metrics.error == "Cancelled before any text arrived.", main.current.metrics.error
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "TimelineScreen")
        gaps = app.screen.query_one("#gaps", Static)
        assert str(gaps.render()) == "No answer chunk arrived: there are no gaps to show.", str(gaps.render())
        server.release("held")


async def test_at_80_columns_the_figures_bar_says_streaming_is_off_for_the_next_run(server):
    """At 80×24, Ctrl+T's toast faded and nothing on the main screen said streaming was off:
    the footer reads "Stream" either way, and only the drawer said so."""
    from tui.widgets.figures_bar import FiguresBar

    server.default = Script(words("An answer."))
    app = make_app(server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.main_screen
        bar = main.query_one(FiguresBar)
        assert "streaming off" not in bar.render().plain
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "next: streaming off" in bar.render().plain)
        await send(pilot, "waited")
        await settle(pilot)
        assert main.current.metrics.state == "done" and "next: streaming off" in bar.render().plain, bar.render().plain
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "streaming off" not in bar.render().plain)
