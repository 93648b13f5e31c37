"""The screens other than the main one show server and typed strings as text, never markup.

A model id from ``/v1/models``, a server's error message, a run's prompt, a profile name from
the config file and a value typed into Settings are data: drawn literally, never parsed as
Textual markup (where ``[/]`` raises MarkupError and ends the app, and ``[@click=app.quit]x[/]``
becomes a clickable action). The app is driven for real (the scripted server over loopback,
keys and clicks); what is asserted is what a terminal would get (``terminal_bytes``).

The last test reads the source of every screen and widget: a string that is not a literal
reaches a markup-parsing widget only as ``Text`` / ``Content`` or with ``markup=False``.
"""

from __future__ import annotations

import ast
from pathlib import Path

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
        await shows(pilot, "#status", f"1 model · now: {current}")
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


# -- every screen and widget, read as source ------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "tui" / "screens").glob("*.py"), *(ROOT / "tui" / "widgets").glob("*.py")])

#: Calls that parse a str argument as markup: the widget or method, and the argument's keyword.
MARKUP_CALLS = {"Static": "content", "Label": "content", "Button": "label", "Option": "prompt", "update": "content", "notify": "message"}
#: Calls that take (prompt, value) options, whose str prompts are parsed as markup.
OPTION_CALLS = {"Select": "options", "set_options": "options"}
#: Calls whose every positional argument is a cell parsed as markup when it is a str (Textual's
#: DataTable and Rich's Table).
CELL_CALLS = {"add_row"}
#: Attributes whose str value is parsed as markup.
MARKUP_ATTRIBUTES = {"border_title", "border_subtitle"}
#: Wrappers whose result is never markup (``Text.from_markup`` and ``Content.from_markup`` are).
SAFE_WRAPPERS = {"Text", "Content"}
SAFE_CONSTRUCTORS = {"assemble", "styled", "from_text_plain"}

_MAIN = "tui/screens/main.py"
_PANEL = "tui/widgets/metrics_panel.py"

#: (file, the argument as source) -> why it may stay as it is. Each entry must still match.
ALLOWED: dict[tuple[str, str], str] = {
    (_PANEL, "figures"): "FigureRows: its cells and notes are Text (a str cell becomes plain Text in FigureRows).",
}


def _callee(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


class _Scope:
    """One module: its functions' return annotations, and each function's local assignments."""

    def __init__(self, tree: ast.Module) -> None:
        self.returns_text = {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and isinstance(node.returns, ast.Name) and node.returns.id in SAFE_WRAPPERS
        }

    def safe(self, node: ast.expr, assigned: dict[str, list[ast.expr]], seen: frozenset[str] = frozenset()) -> bool:
        """Whether ``node`` is never parsed as markup: a literal, ``Text(...)`` / ``Content(...)``,
        a call of a function of this module annotated ``-> Text``, or a local name only ever
        assigned such values."""
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.JoinedStr):  # an f-string is a literal only without placeholders
            return all(isinstance(value, ast.Constant) for value in node.values)
        if isinstance(node, ast.IfExp):
            return self.safe(node.body, assigned, seen) and self.safe(node.orelse, assigned, seen)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.safe(node.left, assigned, seen) and self.safe(node.right, assigned, seen)
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in SAFE_WRAPPERS:
                return True
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in SAFE_WRAPPERS:
                return func.attr in SAFE_CONSTRUCTORS
            return _callee(node) in self.returns_text
        if isinstance(node, ast.Name) and node.id in assigned and node.id not in seen:
            return all(self.safe(value, assigned, seen | {node.id}) for value in assigned[node.id])
        return False

    def safe_items(self, node: ast.expr, assigned: dict[str, list[ast.expr]]) -> bool:
        """A list, tuple or comprehension whose every item is safe (what ``*items`` spreads)."""
        if isinstance(node, ast.Name) and node.id in assigned:
            return all(self.safe_items(value, assigned) for value in assigned[node.id])
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return self.safe(node.elt, assigned)
        if isinstance(node, (ast.List, ast.Tuple)):
            return all(self.safe(item, assigned) for item in node.elts)
        return False

    def safe_options(self, node: ast.expr, assigned: dict[str, list[ast.expr]]) -> bool:
        """``[(prompt, value), ...]`` or a comprehension of them, each prompt safe."""
        if isinstance(node, ast.Name) and node.id in assigned:
            return all(self.safe_options(value, assigned) for value in assigned[node.id])
        if isinstance(node, ast.ListComp):
            elements = [node.elt]
        elif isinstance(node, (ast.List, ast.Tuple)):
            elements = list(node.elts)
        else:
            return False
        return all(isinstance(element, ast.Tuple) and element.elts and self.safe(element.elts[0], assigned) for element in elements)


def _assignments(function: ast.AST) -> dict[str, list[ast.expr]]:
    assigned: dict[str, list[ast.expr]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name) and node.value is not None:
            assigned.setdefault(node.target.id, []).append(node.value)
    return assigned


def _argument(call: ast.Call, keyword: str) -> ast.expr | None:
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    return next((item.value for item in call.keywords if item.arg == keyword), None)


def _no_markup(call: ast.Call) -> bool:
    return any(item.arg == "markup" and isinstance(item.value, ast.Constant) and item.value.value is False for item in call.keywords)


def markup_findings(path: Path, root: Path = ROOT) -> list[tuple[str, int, str, str]]:
    """(file, line, what, the argument as source) for each non-literal string that reaches a
    markup-parsing call or attribute without ``markup=False`` or a Text/Content wrapper."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    scope = _Scope(tree)
    name = path.relative_to(root).as_posix()
    findings = []
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    owner: dict[int, ast.AST] = {}
    for function in functions:  # innermost function wins: ast.walk visits outer ones first
        for node in ast.walk(function):
            owner[id(node)] = function
    for node in ast.walk(tree):
        assigned = _assignments(owner[id(node)]) if id(node) in owner else {}
        if isinstance(node, ast.Call):
            callee = _callee(node)
            if callee in MARKUP_CALLS and not _no_markup(node):
                argument = _argument(node, MARKUP_CALLS[callee])
                if argument is not None and not scope.safe(argument, assigned):
                    findings.append((name, node.lineno, f"{callee}(…)", ast.unparse(argument)))
            elif callee in CELL_CALLS:
                unsafe = [cell for cell in node.args if not (scope.safe_items(cell.value, assigned) if isinstance(cell, ast.Starred) else scope.safe(cell, assigned))]
                if unsafe:
                    findings.append((name, node.lineno, f"{callee}(cells)", ", ".join(ast.unparse(cell) for cell in unsafe)))
            elif callee in OPTION_CALLS:
                argument = _argument(node, OPTION_CALLS[callee])
                if argument is not None and not scope.safe_options(argument, assigned):
                    findings.append((name, node.lineno, f"{callee}(options)", ast.unparse(argument)))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr in MARKUP_ATTRIBUTES and not scope.safe(node.value, assigned):
                    findings.append((name, node.lineno, target.attr, ast.unparse(node.value)))
    return findings


def test_no_screen_or_widget_parses_a_non_literal_string_as_markup():
    """Every ``Static``, ``Label``, ``Button``, ``Option``, ``.update``, ``notify``, ``Select``
    option and border title of the screens and widgets gets a literal, a ``Text`` / ``Content``,
    or ``markup=False``; the few exceptions are listed in ALLOWED with their reason."""
    findings = [finding for path in SOURCES for finding in markup_findings(path)]
    unexplained = [f"{file}:{line}: {what} of {source}" for file, line, what, source in findings if (file, source) not in ALLOWED]
    assert unexplained == [], "\n".join(unexplained)
    stale = set(ALLOWED) - {(file, source) for file, _, _, source in findings}
    assert not stale, f"ALLOWED entries that match nothing any more: {sorted(stale)}"


def test_the_markup_check_catches_what_it_is_for(tmp_path):
    """The check itself: an f-string, a name and a str option are caught; Text, literals and
    markup=False are not."""
    source = tmp_path / "sample.py"
    source.write_text(
        "def compose(self, model, names):\n"
        "    yield Static(f'now {model}')\n"
        "    yield Option(model, id=model)\n"
        "    yield Select([(name, name) for name in names])\n"
        "    self.border_title = f'Output · {model}'\n"
        "    self.notify(model)\n"
        "    shown = Text(model)\n"
        "    yield Static(shown)\n"
        "    yield Label('literal' if model else 'other')\n"
        "    yield Select([(Text(name), name) for name in names])\n"
        "    self.notify(f'{model}', markup=False)\n"
        "    self.update(Text.from_markup(model))\n"
        "    table.add_row(model, Text(model), *[Text(name) for name in names])\n"
        "    table.add_row(*names)\n"
    )
    found = sorted((line, what) for _, line, what, _ in markup_findings(source, tmp_path))
    assert found == [(2, "Static(…)"), (3, "Option(…)"), (4, "Select(options)"), (5, "border_title"), (6, "notify(…)"), (12, "update(…)"), (13, "add_row(cells)"), (14, "add_row(cells)")]


async def test_a_refused_setting_is_seen_at_80_by_24(server):
    """At 80×24 the form fills the screen and its problem line sits below it: Ctrl+S seemed to
    do nothing. The refusal is also a toast, and the problem line is scrolled into view."""
    app = make_app(server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_settings(pilot)
        await _type_into(pilot, screen, "temperature", "99")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("temperature must be between 0 and 2" in str(n.message) for n in app._notifications))
        problem = screen.query_one("#problem")
        await wait_for(pilot, lambda: problem.region.bottom <= screen.size.height and problem.region.height > 0 and problem.visible)
        assert app.screen is screen and app.session.params.temperature is None
