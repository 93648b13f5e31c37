"""A yes-or-no question before something that cannot be undone (deleting a run).

The question quotes data (a run's prompt), so it is shown as text, never parsed as markup.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from .watched import WatchedModalScreen


class Confirm(WatchedModalScreen[bool]):
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm #dialog { width: 60; max-width: 90%; height: auto; border: round $warning; background: $surface; padding: 1 2; }
    Confirm #buttons { height: auto; margin: 1 0 0 0; }
    Confirm Button { margin: 0 1 0 0; }
    """
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, yes: str = "Delete") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, markup=False)
            with Horizontal(id="buttons"):
                yield Button(Text(f"{self.yes} (y)"), variant="error", id="yes")
                yield Button("Keep it (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
