"""The screens other than the main one show server and typed strings as text, never markup.

A model id from ``/v1/models``, a server's error message, a run's prompt, a profile name from
the config file and a value typed into Settings are data: drawn literally, never parsed as
Textual markup (where ``[/]`` raises MarkupError and ends the app, and ``[@click=app.quit]x[/]``
becomes a clickable action). The app is driven for real (the scripted server over loopback,
keys and clicks); what is asserted is what a terminal would get (``terminal_bytes``).
"""

from __future__ import annotations

import pytest

from tests.driving import make_app, send, settle, wait_for
from tests.test_hostile import (
    PAYLOADS,
    assert_terminal_safe,
    screen_rows,
    shows,
    squeeze,
    terminal_bytes,
)
from tui.engine.history import HistoryStore
from tui.engine.sanitize import one_line, server_text

SIZE = (120, 40)

#: Markup that crashes (an unmatched closing tag), acts (a click action), or styles.
MARKUP = {
    "close": "[/]",
    "close bold": "x [/b]",
    "click": "[@click=app.quit]x[/]",
    "style": "[bold red]red[/]",
}


def _frame_text(app) -> str:
    return squeeze("".join(screen_rows(terminal_bytes(app)).values()))


def _inside(app, selector: str) -> str:
    """What the frame shows inside a widget's borders (an option that wraps reads as one)."""
    region = app.screen.query_one(selector).content_region
    rows = screen_rows(terminal_bytes(app))
    return squeeze("".join(rows.get(y, "")[region.x : region.right] for y in range(region.y, region.bottom)))


async def _click_the_x_of(pilot, selector: str, shown: str) -> None:
    """Click the "x" of ``shown`` (``[@click=app.quit]x[/]``) where the frame draws it inside
    the widget: where markup would have made a clickable action."""
    app = pilot.app
    region = app.screen.query_one(selector).region
    rows = screen_rows(terminal_bytes(app))
    (y,) = [y for y in range(region.y, region.bottom) if shown in rows.get(y, "")[region.x : region.right]]
    x = rows[y].index(shown, region.x) + shown.index("x")
    await pilot.click(offset=(x, y))


# -- the model picker (F3) ---------------------------------------------------------------------


async def _open_picker(pilot):
    from tui.screens.model_picker import ModelPicker

    app = pilot.app
    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker) or not app.is_running)
    return app.screen


async def test_model_ids_from_the_server_are_listed_as_text_and_picked_exactly(server):
    """F3 with model ids of markup and every hostile payload: the app stays up, each id is drawn
    literally, and clicking ``[@click=app.quit]x[/]`` picks that model (it is no action): the
    next request names it exactly as the server listed it."""
    hostile = [f"m{index}-{payload}" for index, payload in enumerate(PAYLOADS.values())]
    server.models = [*MARKUP.values(), *hostile]
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        picker = await _open_picker(pilot)
        await wait_for(pilot, lambda: len(picker.models) == len(server.models) or not app.is_running)
        await pilot.pause()
        assert app.is_running
        await shows(pilot, "#models", server.models[0])
        shown = _inside(app, "#models")
        for model in server.models:
            assert squeeze(one_line(server_text(model), 200)) in shown, (model, shown)
        assert_terminal_safe(app)
        # Click the option's "x", where the markup would have put its action.
        target = MARKUP["click"]
        await _click_the_x_of(pilot, "#models", target)
        await wait_for(pilot, lambda: app.screen is app.main_screen or not app.is_running)
        assert app.is_running
        assert app.session.connection.model == target
        await send(pilot, "which model?")
        await settle(pilot)
        assert server.requests[-1]["model"] == target


async def test_the_picker_status_shows_the_current_model_as_text(server):
    """The status line names the current model (given by a person or taken from the server)."""
    current = "[b]mine[/b] [/]"
    app = make_app(server.base_url, model=current)
    async with app.run_test(size=SIZE) as pilot:
        picker = await _open_picker(pilot)
        await wait_for(pilot, lambda: picker.models or not app.is_running)
        await pilot.pause()
        assert app.is_running
        await shows(pilot, "#status", f"1 models · now: {current}")
        assert_terminal_safe(app)


async def test_the_picker_status_shows_a_server_error_as_text(server):
    """A server that cannot list its models says why, and its message (here a 404 that repeats
    the request path, which holds markup) is drawn literally."""
    base_url = server.base_url.replace("/v1", "/[/][@click=app.quit]q[/]/v1")
    app = make_app(base_url)
    async with app.run_test(size=SIZE) as pilot:
        picker = await _open_picker(pilot)
        await wait_for(pilot, lambda: "not exist" in str(picker.query_one("#status").content) or not app.is_running)
        await pilot.pause()
        assert app.is_running
        await shows(pilot, "#status", "Unknown request URL: GET /[/][@click=app.quit]q[/]/v1/models")
        assert_terminal_safe(app)


# -- Settings (F2) -----------------------------------------------------------------------------


async def _open_settings(pilot):
    from tui.screens.settings import SettingsScreen

    app = pilot.app
    await pilot.press("f2")
    await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
    return app.screen


async def _type_into(pilot, screen, field: str, text: str) -> None:
    box = screen.query_one(f"#{field}")
    box.focus()
    box.value = ""
    await pilot.press(*text)
    assert box.value == text


@pytest.mark.parametrize("name", list(MARKUP))
async def test_a_typed_value_that_is_refused_is_repeated_as_text(server, name):
    """``[/]`` typed as the temperature and Ctrl+S: refused with one line that repeats it
    literally, the screen still open, nothing applied."""
    typed = MARKUP[name]
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_settings(pilot)
        await _type_into(pilot, screen, "temperature", typed)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Not applied" in str(screen.query_one("#problem").content) or not app.is_running)
        assert app.is_running and app.screen is screen and app.session.params.temperature is None
        await shows(pilot, "#problem", f"Not applied: temperature must be a number, not {typed!r}")
        assert_terminal_safe(app)


async def test_profile_names_are_listed_as_text(server, tmp_path):
    """Profile names come from the config file (TOML allows any quoted key): the Profile select
    shows them literally, closed and open, and clicking ``[@click=app.quit]x[/]`` picks that
    profile (it is no action): the next run goes with its model."""
    from tui.profiles import Profiles

    names = sorted(MARKUP.values())
    config = tmp_path / "config.toml"
    config.write_text("".join(f'[profiles."{name}"]\nbase_url = "{server.base_url}"\nmodel = "model {index}"\n\n' for index, name in enumerate(names)))
    current = MARKUP["close"]
    app = make_app(server.base_url, profiles=Profiles(config, names, current))
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_settings(pilot)
        await pilot.pause()
        assert app.is_running
        await shows(pilot, "#profile", current)
        select = screen.query_one("#profile")
        select.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: select.expanded or not app.is_running)
        await pilot.pause()
        assert app.is_running
        assert_terminal_safe(app)
        for name in names:
            assert squeeze(name) in _frame_text(app), name
        picked = MARKUP["click"]
        await _click_the_x_of(pilot, "SelectOverlay", picked)
        await wait_for(pilot, lambda: not select.expanded or not app.is_running)
        assert app.is_running and select.value == picked
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.main_screen or not app.is_running)
        assert app.is_running
        await send(pilot, "hello")
        await settle(pilot)
        assert server.requests[-1]["model"] == f"model {names.index(picked)}"


async def test_applied_settings_are_echoed_as_they_were_understood(server):
    """``01`` for max tokens is taken as 1, and the app says so (as it does for every value it
    applies, in its normal form), so a person sees what the next run will send."""
    app = make_app(server.base_url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_settings(pilot)
        await _type_into(pilot, screen, "max_tokens", "01")
        await _type_into(pilot, screen, "temperature", "0.50")
        await _type_into(pilot, screen, "seed", "007")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.main_screen)
        notes = " | ".join(note.message for note in app._notifications)
        assert "max tokens 1" in notes and "temperature 0.5" in notes and "seed 7" in notes, notes
        assert "01" not in notes and "0.50" not in notes and "007" not in notes, notes
        await send(pilot, "hello")
        await settle(pilot)
        assert server.requests[-1]["max_tokens"] == 1 and server.requests[-1]["seed"] == 7


# -- History: the delete confirmation ----------------------------------------------------------


@pytest.mark.parametrize("name", list(MARKUP))
async def test_deleting_a_run_whose_prompt_is_markup_asks_in_plain_text(server, tmp_path, name):
    """History → D on a run whose prompt holds ``[/b]``: the question quotes the prompt
    literally, and Y deletes the run."""
    from tui.screens.confirm import Confirm
    from tui.screens.history import HistoryScreen

    prompt = f"explain {MARKUP[name]} please"
    store = HistoryStore(tmp_path / "history.sqlite3")
    app = make_app(server.base_url, history=store)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, prompt)
        await settle(pilot)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and len(app.screen.records) == 1)
        history = app.screen
        history.query_one("#history-runs").focus()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm) or not app.is_running)
        await pilot.pause()
        assert app.is_running
        await wait_for(pilot, lambda: squeeze(f"({prompt}) from history?") in _inside(app, "#dialog > Static"))
        assert_terminal_safe(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is history and history.records == [])
        assert store.list_runs() == []
    store.close()
