"""The model picker (F3): the models the server lists (``/v1/models``), filtered as you type.

The list is asked for in a worker (through the streaming worker process), so the screen opens
at once; a server that cannot list its models says why in one line.

Model ids, the server's error text and the current model's name are data: they are shown as
``Text`` (a str would be parsed as markup, where ``[/]`` is an error and ``[@click=…]`` an
action). An option's id is the model id exactly as the server listed it.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ..engine import format as fmt
from ..engine.connection import Connection
from ..engine.sanitize import one_line
from ..engine.stream import RequestFailed
from .watched import WatchedModalScreen


class ModelPicker(WatchedModalScreen[str | None]):
    DEFAULT_CSS = """
    ModelPicker { align: center middle; }
    ModelPicker #picker { width: 70; max-width: 90%; height: 24; max-height: 90%; border: round $accent; background: $surface; padding: 0 1; }
    ModelPicker #status { color: $text-muted; height: auto; }
    ModelPicker OptionList { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "dismiss_picker", "Cancel")]

    def __init__(self, connection: Connection, current: str | None) -> None:
        super().__init__()
        self.connection = connection
        self.current = current
        self.models: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Input(placeholder="filter models", id="filter")
            yield Static("asking the server for its models…", id="status")
            yield OptionList(id="models")

    def on_mount(self) -> None:
        self.query_one("#picker").border_title = "Model (Enter picks, Escape cancels)"
        self._load()

    @work(group="models", exit_on_error=False)
    async def _load(self) -> None:
        status = self.query_one("#status", Static)
        try:
            self.models = await self.connection.list_models()
        except RequestFailed as exc:
            status.update(Text(one_line(exc.problem.message)))
            return
        except Exception as exc:  # noqa: BLE001 - one line here; the log has the traceback
            status.update(Text(one_line(f"Could not list the models: {exc}")))
            raise
        status.update(Text(fmt.quantity(len(self.models), "model") + (f" · now: {one_line(self.current, 60)}" if self.current else "")))
        self._show(self.query_one("#filter", Input).value)

    @on(Input.Changed, "#filter")
    def _on_filter(self, event: Input.Changed) -> None:
        self._show(event.value)

    def _show(self, text: str) -> None:
        words = text.lower().split()
        shown = [model for model in self.models if all(word in model.lower() for word in words)]
        options = self.query_one("#models", OptionList)
        options.clear_options()
        options.add_options([Option(Text(one_line(model, 200)), id=model) for model in shown])
        if shown:
            options.highlighted = next((index for index, model in enumerate(shown) if model == self.current), 0)

    @on(Input.Submitted, "#filter")
    def _on_submit(self) -> None:
        options = self.query_one("#models", OptionList)
        if options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    @on(OptionList.OptionSelected, "#models")
    def _on_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def on_key(self, event) -> None:  # noqa: ANN001 - an events.Key
        """Up and down move through the list while typing in the filter."""
        if event.key in ("up", "down") and self.focused is self.query_one("#filter"):
            options = self.query_one("#models", OptionList)
            (options.action_cursor_down if event.key == "down" else options.action_cursor_up)()
            event.stop()

    def action_dismiss_picker(self) -> None:
        self.dismiss(None)
