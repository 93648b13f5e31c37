"""What a streamed frame costs the screen: an append and a tick of the figures repaint their own
widget, never lay out the whole screen (a layout repaints every widget: on each streamed frame
it was most of the frame's cost). Counted with the screen's own layout signal."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tests.driving import make_app, on_the_wire, panel_text, send, wait_for
from tests.support.scripted_server import Script, ScriptedServer, chunk, gate
from tui.engine.clock import ManualClock
from tui.widgets.output_pane import OutputPane
from tui.widgets.prompt_input import PromptInput


class PaneApp(App):
    CSS = "OutputPane { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield OutputPane()


def count_layouts(app: App) -> list[int]:
    """A list that grows by one at each layout of the app's current screen."""
    layouts: list[int] = []
    app.screen.screen_layout_refresh_signal.subscribe(app, lambda _screen: layouts.append(1), immediate=True)
    return layouts


async def test_appending_below_a_full_pane_lays_nothing_out():
    app = PaneApp()
    async with app.run_test(size=(80, 12)) as pilot:
        pane = app.query_one(OutputPane)
        pane.append("".join(f"line {index}\n\n" for index in range(20)))
        await wait_for(pilot, lambda: pane.show_vertical_scrollbar)
        await pilot.pause()
        layouts = count_layouts(app)
        for index in range(20, 40):
            pane.append(f"line {index}\n\n")
            await pilot.pause()
        await wait_for(pilot, lambda: any("line 39" in pane.render_line(y).text for y in range(pane.size.height)))
        assert layouts == []
        assert pane.scroll_y == pane.max_scroll_y  # still following the end


async def test_the_figures_ticking_lay_nothing_out():
    clock = ManualClock()
    with ScriptedServer() as server:
        server.push(Script([chunk("First words. "), gate("rest"), chunk("The rest.")]))
        app = make_app(server.base_url, clock=clock)
        async with app.run_test(size=(140, 45)) as pilot:
            await send(pilot, "go")
            main = app.main_screen
            await wait_for(pilot, lambda: main.current is not None)
            run = main.current
            await on_the_wire(pilot, run)
            await wait_for(pilot, lambda: run.metrics.chunks == 1)
            await wait_for(pilot, lambda: "First words" in main.output.text)
            await pilot.pause()
            layouts = count_layouts(app)
            for tenth in range(1, 6):
                clock.set(tenth / 10)
                await wait_for(pilot, lambda: f"{tenth * 100:.1f} ms" in panel_text(app))
            assert layouts == []
            server.release("rest")
            await wait_for(pilot, lambda: not app.session.busy)


class PromptBesidePaneApp(App):
    CSS = "OutputPane { height: 1fr; } PromptInput { height: 5; }"

    def compose(self) -> ComposeResult:
        yield OutputPane()
        yield PromptInput()


def theme_readings(prompt: PromptInput) -> list[int]:
    """A list that grows by one each time the prompt reads its theme's styles from the CSS."""
    readings: list[int] = []
    theme = prompt._theme
    read = theme.apply_css

    def reading(text_area) -> None:  # noqa: ANN001
        readings.append(1)
        read(text_area)

    theme.apply_css = reading
    return readings


async def test_a_streamed_frame_leaves_the_prompt_as_drawn_and_a_key_draws_it():
    # The compositor calls every widget of a container for a repaint anywhere in it; Textual's
    # TextArea read its theme from the CSS at every call: about 1 ms of each streamed frame.
    app = PromptBesidePaneApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane, prompt = app.query_one(OutputPane), app.query_one(PromptInput)
        prompt.cursor_blink = False  # a blink redraws the cursor's line, as it should
        prompt.focus()
        await pilot.pause()
        readings = theme_readings(prompt)
        for index in range(30):
            pane.append(f"line {index}\n\n")
            await pilot.pause()
        await wait_for(pilot, lambda: any("line 29" in pane.render_line(y).text for y in range(pane.size.height)))
        assert readings == []
        await pilot.press("x")
        await wait_for(pilot, lambda: prompt.text == "x")
        await pilot.pause()  # the frame that draws it
        assert readings


async def test_the_prompt_takes_a_new_themes_colours():
    app = PromptBesidePaneApp()
    async with app.run_test(size=(80, 20)) as pilot:
        prompt = app.query_one(PromptInput)
        prompt.load_text("hello")
        await pilot.pause()

        def background() -> object:
            # As the screen has it: through the prompt's render_lines, as the compositor asks.
            x, y = prompt.content_region.offset
            return app.screen.get_style_at(x, y).bgcolor

        before = background()
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await wait_for(pilot, lambda: background() != before)
