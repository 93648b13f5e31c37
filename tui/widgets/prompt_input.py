"""The prompt panel: a multi-line editor with prompt recall.

The send keys are handled here, in the editor's own key handler, not by a screen binding: the
editor receives keys in the order they were typed, so the text it sends is exactly what was
typed before the send key (a fast typist, type-ahead while the app loads, a paste without
bracketed paste), and what is typed after it stays in the box for the next prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.actions import SkipAction
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import TextArea

#: Keys that send. Ctrl+J is what many terminals send for Ctrl+Enter; Alt+Enter as in elia and posting.
SEND_KEYS = ("ctrl+j", "alt+enter", "ctrl+enter")
#: Ctrl+O sends the prompt both ways, as a Compare pair.
COMPARE_KEYS = ("ctrl+o",)


class PromptInput(TextArea):
    """Enter inserts a newline; Ctrl+J or Alt+Enter sends; Ctrl+↑/↓ recall earlier prompts."""

    BINDINGS = [
        Binding("ctrl+up", "recall(-1)", "Older prompt", show=False),
        Binding("ctrl+down", "recall(1)", "Newer prompt", show=False),
    ]

    @dataclass
    class Submitted(Message):
        """The person asked to send ``text`` (both ways, with ``compare``)."""

        prompt_input: PromptInput
        text: str
        compare: bool = False

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(text, id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        self.recall_list: list[str] = []
        #: Position while recalling; len(recall_list) means "the draft".
        self._cursor = 0
        self._draft = ""

    def on_mount(self) -> None:
        self.move_cursor(self.document.end)  # a prefilled prompt (--prompt) is typed on, not into

    def action_cursor_page_up(self) -> None:
        self._page(super().action_cursor_page_up)

    def action_cursor_page_down(self) -> None:
        self._page(super().action_cursor_page_down)

    def _page(self, move) -> None:  # noqa: ANN001 - TextArea's own page action
        """A prompt that fits its box has no page to move by: the key goes on to the screen,
        which scrolls the answer (PageUp in the prompt did nothing)."""
        if self.wrapped_document.height <= self.scrollable_content_region.height:
            raise SkipAction()
        move()

    async def _on_key(self, event: events.Key) -> None:
        if event.key in SEND_KEYS or event.key in COMPARE_KEYS:
            event.stop()
            event.prevent_default()
            # Taken out of the box now, in key order: a second send key queued behind this one
            # sends only what was typed after this one.
            self.post_message(self.Submitted(self, self.take(), compare=event.key in COMPARE_KEYS))
            return
        if event.key.startswith("alt+"):
            # A terminal sends Alt+C as ESC c: the key comes with the character "c", which the
            # editor would type. Alt keys are commands here: the editor's handler is skipped
            # (Textual calls each class's handler in turn unless told not to), and the key
            # bubbles on to the bindings.
            event.prevent_default()

    def render_lines(self, crop: Region) -> list[Strip]:
        # Textual's TextArea re-reads its theme's styles from the CSS at every call, and the
        # compositor calls every widget of a container for a repaint anywhere in it: about 1 ms
        # of each frame while an answer streams. Lines it has drawn and nothing has changed
        # since come from its cache, without the theme; a line to draw reads the theme first.
        cache = self._styles_cache  # textual 8.2's StylesCache (the version is pinned)
        if all(y in cache._cache and y not in cache._dirty_lines for y in crop.line_range):
            return Widget.render_lines(self, crop)
        return super().render_lines(crop)

    def take(self) -> str:
        """The prompt to send: the box's text, leaving the box empty for what is typed next."""
        text = self.text
        if text:
            self.load_text("")
        return text

    def give_back(self, text: str) -> None:
        """A prompt taken but not sent goes back, ahead of anything typed since."""
        if text:
            self.load_text(text + self.text)
            self.move_cursor(self.document.end)

    def remember(self, prompt: str) -> None:
        if prompt.strip() and (not self.recall_list or self.recall_list[-1] != prompt):
            self.recall_list.append(prompt)
        self._cursor = len(self.recall_list)
        self._draft = ""

    def seed_recall(self, prompts: list[str]) -> None:
        """Earlier sessions' prompts (oldest first), before this session's own."""
        self.recall_list = [*prompts, *(p for p in self.recall_list if p not in prompts)]
        self._cursor = len(self.recall_list)

    def action_recall(self, step: int) -> None:
        if not self.recall_list:
            return
        if self._cursor == len(self.recall_list):
            self._draft = self.text
        self._cursor = max(0, min(len(self.recall_list), self._cursor + step))
        self.load_text(self._draft if self._cursor == len(self.recall_list) else self.recall_list[self._cursor])
        self.move_cursor(self.document.end)
