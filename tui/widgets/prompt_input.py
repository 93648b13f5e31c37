"""The prompt panel: a multi-line editor with the session's prompt history."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea


class PromptInput(TextArea):
    """Enter inserts a newline; Ctrl+J sends (terminals send Ctrl+J for Ctrl+Enter)."""

    BINDINGS = [
        Binding("ctrl+j", "submit", "Send", priority=True),
        Binding("ctrl+up", "history(-1)", "Older prompt", show=False),
        Binding("ctrl+down", "history(1)", "Newer prompt", show=False),
    ]

    @dataclass
    class Submitted(Message):
        """The person asked to send this prompt."""

        prompt_input: PromptInput
        text: str

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(text, id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        self.prompt_history: list[str] = []
        #: Position in history while recalling; len(history) means "the draft".
        self._cursor = 0
        self._draft = ""

    def remember(self, prompt: str) -> None:
        if prompt and (not self.prompt_history or self.prompt_history[-1] != prompt):
            self.prompt_history.append(prompt)
        self._cursor = len(self.prompt_history)
        self._draft = ""

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self, self.text))

    def action_history(self, step: int) -> None:
        if not self.prompt_history:
            return
        if self._cursor == len(self.prompt_history):
            self._draft = self.text
        self._cursor = max(0, min(len(self.prompt_history), self._cursor + step))
        self.load_text(self._draft if self._cursor == len(self.prompt_history) else self.prompt_history[self._cursor])
        self.move_cursor(self.document.end)
