"""The live output pane: built for streaming, so one append costs the same at any length.

Two views of the same text, each laid out only while it is shown:

* **markdown**: the answer as Markdown reads (headings, emphasis, code spans, links, lists,
  quotes, rules, highlighted code blocks, aligned tables), laid out by ``MarkdownLayout``: only
  the source line still arriving is styled again on an append, finished lines are frozen rows.
  Prose wraps at ``reading_width`` cells at most, in a column placed by ``reading_align``.
* **raw**: the text as it arrived, logical lines wrapped at the pane's width, consecutive chunks
  alternating in shade so the server's cuts show.

Either way greedy word wrap never changes earlier rows when text is added at the end, and only
visible rows are ever drawn (Line API), in cells as Rich measures graphemes.

Model output is data: it is drawn as plain segments, never parsed as markup, and control
characters (escape sequences included) are shown as visible symbols.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence
from typing import Literal

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip
from textual.timer import Timer

from ..engine.sanitize import server_text
from .markdown_blocks import TOKEN_TYPES, MarkdownLayout
from .markdown_inline import STYLE_KEYS
from .wrapping import wrap

OutputMode = Literal["markdown", "raw"]

#: Drawn rows kept for redraws; past this, rows far from the view are dropped.
_STRIP_CACHE_ROWS = 400
#: While an answer grows past the view, the view scrolls by up to this many rows at a time, with
#: fewer blank rows than that below the answer (see ``_set_virtual_size``): a sixth of the view's
#: height (4 from 24 rows, 3 from 18, 2 from 12), 1 (a scroll a row) in a smaller view.
_MOST_ROWS_AHEAD = 4
#: Earlier turns of a conversation drawn above the answer (History keeps them all).
LEAD_TURNS = 10
#: Pygments styles for code blocks, on dark and on light themes (colours only: the pane's
#: code background stays).
_CODE_THEMES = {True: "monokai", False: "friendly"}


def sanitize(text: str) -> str:
    """Text as the pane draws it: tabs as spaces, and (for text from anywhere) every control
    made visible by the one sanitizer of server text."""
    if "\t" in text:
        text = text.replace("\t", "    ")
    return server_text(text)


class OutputPane(ScrollView, can_focus=True):
    """Appends streamed text in O(size of the append) and draws only visible rows."""

    DEFAULT_CSS = """
    OutputPane {
        scrollbar-gutter: stable;
        overflow-x: hidden;
    }
    OutputPane > .output-pane--notice {
        color: $text-muted;
        text-style: italic;
    }
    OutputPane > .output-pane--prompt {
        color: $text-accent;
        text-style: bold;
    }
    OutputPane > .output-pane--earlier {
        color: $text-muted;
    }
    OutputPane > .output-pane--end-failed {
        color: $text-error;
    }
    OutputPane > .output-pane--end-note {
        color: $text-warning;
    }
    OutputPane > .output-pane--heading {
        color: $accent;
        text-style: bold;
    }
    OutputPane > .output-pane--h1 {
        text-style: bold underline;
    }
    OutputPane > .output-pane--h2 {
        text-style: bold;
    }
    OutputPane > .output-pane--h3 {
        color: $text;
        text-style: bold;
    }
    OutputPane > .output-pane--bold {
        text-style: bold;
    }
    OutputPane > .output-pane--italic {
        text-style: italic;
    }
    OutputPane > .output-pane--strike {
        text-style: strike;
    }
    OutputPane > .output-pane--inline-code {
        color: $text-success;
        background: $boost;
    }
    OutputPane > .output-pane--link {
        color: $text-primary;
        text-style: underline;
    }
    OutputPane > .output-pane--link-url {
        color: $text-muted;
    }
    OutputPane > .output-pane--marker {
        color: $accent;
    }
    OutputPane > .output-pane--quote {
        color: $text-muted;
        text-style: italic;
    }
    OutputPane > .output-pane--quote-bar {
        color: $accent;
    }
    OutputPane > .output-pane--rule {
        color: $text-muted;
    }
    OutputPane > .output-pane--code {
        color: $text;
        background: black 25%;
    }
    OutputPane:light > .output-pane--code {
        background: black 6%;
    }
    OutputPane > .output-pane--code-label {
        color: $text-muted;
        text-style: italic;
    }
    OutputPane > .output-pane--table-border {
        color: $text-muted;
    }
    OutputPane > .output-pane--table-header {
        color: $accent;
        text-style: bold;
    }
    OutputPane > .output-pane--table-raw {
        color: $text-muted;
    }
    OutputPane > .output-pane--chunk-odd {
        background: $primary 35%;
    }
    """
    COMPONENT_CLASSES = {
        "output-pane--notice",
        "output-pane--end-failed",
        "output-pane--prompt",
        "output-pane--earlier",
        "output-pane--end-note",
        "output-pane--heading",
        "output-pane--h1",
        "output-pane--h2",
        "output-pane--h3",
        "output-pane--bold",
        "output-pane--italic",
        "output-pane--strike",
        "output-pane--inline-code",
        "output-pane--link",
        "output-pane--link-url",
        "output-pane--marker",
        "output-pane--quote",
        "output-pane--quote-bar",
        "output-pane--rule",
        "output-pane--code",
        "output-pane--code-label",
        "output-pane--table-border",
        "output-pane--table-header",
        "output-pane--table-raw",
        "output-pane--chunk-odd",
    }

    mode: reactive[OutputMode] = reactive("markdown")
    """How text is shown: as Markdown, or raw with alternating chunk shades."""
    reading_width: reactive[int | None] = reactive(100)
    """The widest the Markdown column gets, in cells (None: the pane's width)."""
    reading_align: reactive[Literal["left", "center"]] = reactive("center")
    """Where the Markdown column sits when the pane is wider than ``reading_width``."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._lines: list[str] = [""]
        #: Absolute text offset of each logical line's first character.
        self._line_offsets = array("q", [0])
        #: Raw view rows: parallel arrays of (logical line, start, end).
        self._row_line = array("q")
        self._row_start = array("q")
        self._row_end = array("q")
        #: The Markdown view's layout (None while the raw view is shown or the width is unknown).
        self._markdown: MarkdownLayout | None = None
        #: Whether ``finish`` drew the last line as complete (text after that needs a new layout).
        self._finished = False
        #: Absolute offsets where each chunk starts (for the raw view's shading).
        self._chunk_starts = array("q")
        self._length = 0
        self._wrap_width = 0
        self._strips: dict[int, Strip] = {}
        self._notice = ""
        #: A line drawn after the answer (how a run that stopped early ended), and its component.
        self._end_note = ""
        self._end_note_component = "output-pane--end-note"
        #: What is drawn above the answer: its prompt, after a conversation's earlier turns.
        self._lead_prompt = ""
        self._lead_turns: tuple[tuple[str, str], ...] = ()
        self._lead_more = 0  # earlier turns not drawn
        #: The lead as drawn, and the key of the column it was drawn for (drawn again after a
        #: resize or a change of reading width or place).
        self._lead_strips: list[Strip] = []
        self._lead_key = -1
        #: The notice and end note wrapped to the pane's width, cached by (text, width).
        self._wrapped_notes: dict[tuple[str, int], list[str]] = {}
        #: Resolved styles: resolving one walks the DOM (about 90 µs), far too slow per row.
        self._styles: dict[str, Style] = {}
        #: Rich styles of the Markdown layout's style ids, resolved once each.
        self._id_styles: list[Style | None] = []
        #: Polls for lexers loading in the background while a code block waits for one.
        self._lexer_timer: Timer | None = None
        #: Where the Markdown column starts (kept here: reactives are slow to read per row).
        self._column_start = 0
        #: Whether the view follows the end: true until the reader scrolls up, again once they
        #: scroll back down. Kept by the scroll watcher, not read off the scroll position at each
        #: append: the position lags (a scroll waits for a refresh), and rows or the pane's height
        #: may change under it; either way the view would stop following for good.
        self._following = True
        #: Shown on the border while the view is scrolled up from the end (the key to follow again).
        self.behind_hint = "↓ more below"

    # -- content ----------------------------------------------------------------------------
    @property
    def text(self) -> str:
        """The whole answer as it arrived (sanitized), whatever the view."""
        return "\n".join(self._lines)

    @property
    def row_count(self) -> int:
        if self._markdown is not None:
            return self._markdown.row_count
        return len(self._row_line)

    def clear(self, notice: str = "") -> None:
        self._lines = [""]
        self._line_offsets = array("q", [0])
        self._chunk_starts = array("q")
        self._length = 0
        self._notice = notice
        self._end_note = ""
        self._lead_prompt = ""
        self._lead_turns = ()
        self._lead_more = 0
        self._lead_key = -1
        self._finished = False
        self._relayout()
        self.scroll_to(y=0, animate=False, immediate=True)
        self._set_following(True)

    @property
    def notice(self) -> str:
        """The dim text shown while the pane has no answer text."""
        return self._notice

    def set_notice(self, notice: str) -> None:
        """A dim line shown while the pane has no text (a hint, or "waiting for…")."""
        self._notice = notice
        if self._length == 0:
            self._strips.clear()
            self._set_virtual_size()
            self.refresh()

    def set_lead(self, prompt: str, turns: Sequence[tuple[str, str]] = ()) -> None:
        """Show ``prompt`` above the answer, and a conversation's earlier ``turns`` (prompt,
        answer) above it: the reader sees what was asked with what came back."""
        self._lead_prompt = prompt
        self._lead_turns = tuple(turns)[-LEAD_TURNS:]
        self._lead_more = max(len(turns) - LEAD_TURNS, 0)
        self._lead_key = -1
        self._set_virtual_size()
        self.refresh()
        self._follow_end()

    @property
    def lead_rows(self) -> int:
        """How many rows the lead takes above the answer."""
        return len(self._lead())

    def _lead(self) -> list[Strip]:
        """The lead's rows at the current width, drawn once per width (through Rich: it is
        static, and earlier answers read best rendered as Markdown)."""
        width = self._wrap_width
        if not self._lead_prompt or width <= 0:
            return []
        key = hash((width, self._column_start, self.column_width))
        if key != self._lead_key:
            self._lead_strips = self._draw_lead(width)
            self._lead_key = key
        return self._lead_strips

    def _draw_lead(self, width: int) -> list[Strip]:
        """The lead in the answer's column (the Markdown view's reading width and place)."""
        from rich.console import Group
        from rich.markdown import Markdown
        from rich.text import Text

        prompt_style, earlier_style = self._style("output-pane--prompt"), self._style("output-pane--earlier")
        parts: list = []
        if self._lead_more:
            parts += [Text(f"… {self._lead_more} earlier turns (History has them all)", style=earlier_style), Text("")]
        for asked, answered in self._lead_turns:
            parts += [Text("› " + sanitize(asked), style=prompt_style), Text(""), Markdown(sanitize(answered), style=earlier_style), Text("")]
        parts.append(Text("› " + sanitize(self._lead_prompt), style=prompt_style))
        parts.append(Text(""))
        console = self.app.console
        column = self.column_width if self.mode == "markdown" else width
        options = console.options.update(width=max(column, 1), height=None, highlight=False, markup=False)
        lines = console.render_lines(Group(*parts), options, style=self._style(), pad=False)
        indent = [Segment(" " * self._column_start, self._style())] if self._column_start else []
        return [Strip([*indent, *line]).crop_extend(0, width, self._style()) for line in lines]

    def set_end_note(self, note: str, *, failed: bool = False) -> None:
        """A line after the answer, wrapped: how a run that stopped early ended (it stays below
        the partial text, so the reader sees both). Cleared by ``clear``."""
        self._end_note = note
        self._end_note_component = "output-pane--end-failed" if failed else "output-pane--end-note"
        self._set_virtual_size()
        self.refresh()
        self._follow_end()
        self.call_after_refresh(self._follow_end)  # the new rows only count once laid out

    def _wrapped(self, text: str, width: int) -> list[str]:
        """``text`` wrapped to ``width`` cells, line by line (a notice or end note)."""
        key = (text, width)
        rows = self._wrapped_notes.get(key)
        if rows is None:
            rows = []
            for line in sanitize(text).split("\n"):
                rows.extend(line[start:end].rstrip() for start, end in wrap(line, 0, max(width, 1)))
            if len(self._wrapped_notes) > 8:
                self._wrapped_notes.clear()
            self._wrapped_notes[key] = rows
        return rows

    def _end_rows(self) -> list[str]:
        """The rows drawn after the answer: a blank row, then the wrapped end note."""
        if not self._end_note or self._length == 0:
            return []
        return ["", *self._wrapped(self._end_note, self._wrap_width)]

    def finish(self) -> None:
        """The answer is complete: draw its last line as complete too (a last line that is still
        undecided, such as a closing fence with no newline after it, is drawn now). Text
        appended after this is laid out again with the rest, once."""
        if self._finished:
            return
        self._finished = True
        if self.mode == "markdown" and self._markdown is not None:
            rows_before = self.row_count
            self._rows_changed(self._markdown.finish(), rows_before)
        else:
            self._set_virtual_size()  # without the blank rows kept below a growing answer
        self.call_after_refresh(self._follow_end)  # the last rows only count once laid out

    def last_code_block(self) -> str | None:
        """The code of the answer's last fenced code block (so far), or None if it has none."""
        if self._markdown is not None:
            return self._markdown.last_code_block()
        layout = MarkdownLayout(max(self._wrap_width, 1))
        layout.append(self.text)
        return layout.last_code_block()

    def append(self, text: str, chunk_sizes: Sequence[int] | None = None) -> None:
        """Append streamed text in one go (one call per frame, whatever the chunk count).
        ``chunk_sizes``: the lengths of the chunks ``text`` is made of (one chunk if None)."""
        if not text:
            return
        sizes = chunk_sizes if chunk_sizes is not None else (len(text),)
        safe = sanitize(text)
        starts = self._chunk_starts
        offset = self._length
        if len(safe) == len(text):
            for size in sizes:
                starts.append(offset)
                offset += size
        else:  # sanitizing changed lengths (tabs): measure each chunk as drawn
            position = 0
            for size in sizes:
                starts.append(offset)
                offset += len(sanitize(text[position : position + size]))
                position += size
        self._append_text(safe)

    def _append_text(self, text: str) -> None:
        if not text:
            return
        rows_before = self.row_count
        lines = self._lines
        first_new_line = len(lines) - 1
        parts = text.split("\n")
        lines[-1] += parts[0]
        for part in parts[1:]:
            self._line_offsets.append(self._line_offsets[-1] + len(lines[-1]) + 1)
            lines.append(part)
        self._length += len(text)
        was_finished, self._finished = self._finished, False
        if self._wrap_width <= 0:
            first_changed_row = 0
        elif self.mode == "markdown":
            if self._markdown is None or was_finished:  # finished: its last line was taken as complete
                self._markdown = self._new_markdown_layout()
                first_changed_row = self._markdown.append(self.text)
            else:
                first_changed_row = self._markdown.append(text)
        else:
            first_changed_row = self._rewrap_from(first_new_line)
        self._rows_changed(first_changed_row, rows_before)
        if self._markdown is not None and self._markdown.waiting_for_lexers and self._lexer_timer is None:
            self._lexer_timer = self.set_interval(0.05, self._adopt_lexers)

    def _adopt_lexers(self) -> None:
        """A code block waits for its lexer: highlight it once loaded, even if no text follows."""
        layout = self._markdown
        if layout is not None and layout.waiting_for_lexers:
            rows_before = self.row_count
            first_changed_row = layout.adopt_lexers()
            if first_changed_row < self.row_count:
                self._rows_changed(first_changed_row, rows_before)
        if (layout is None or not layout.waiting_for_lexers) and self._lexer_timer is not None:
            self._lexer_timer.stop()
            self._lexer_timer = None

    def _rows_changed(self, first_changed_row: int, rows_before: int) -> None:
        """Rows from ``first_changed_row`` on are new: forget their strips, follow the end."""
        for row in [row for row in self._strips if row >= first_changed_row]:
            del self._strips[row]
        self._set_virtual_size()
        self._follow_end()
        lead = len(self._lead())
        self.refresh_lines(lead + first_changed_row, max(self.row_count, rows_before) - first_changed_row)

    # -- layout ---------------------------------------------------------------------------------
    @property
    def column_width(self) -> int:
        """The width Markdown wraps at: the pane's, or ``reading_width`` if that is narrower."""
        width = self._wrap_width
        if self.reading_width is not None and self.reading_width > 0:
            return min(width, self.reading_width)
        return width

    def _place_column(self) -> None:
        centred = self.mode == "markdown" and self.reading_align == "center"
        self._column_start = max(self._wrap_width - self.column_width, 0) // 2 if centred else 0

    def _new_markdown_layout(self) -> MarkdownLayout:
        return MarkdownLayout(self.column_width)

    def _rewrap_from(self, line_index: int) -> int:
        """Raw view: re-wrap from the last row of ``line_index`` on; return the first row that changed."""
        width = self._wrap_width
        if width <= 0:
            return 0
        row_line, row_start, row_end = self._row_line, self._row_start, self._row_end
        if row_line and row_line[-1] == line_index:
            first_row = len(row_line) - 1
            start = row_start[-1]
            del row_line[-1], row_start[-1], row_end[-1]
        else:
            first_row = len(row_line)
            start = 0
        for index in range(line_index, len(self._lines)):
            for begin, end in wrap(self._lines[index], start, width):
                row_line.append(index)
                row_start.append(begin)
                row_end.append(end)
            start = 0
        return first_row

    def _relayout(self) -> None:
        """Lay the whole text out again for the view shown (after a resize, a mode change…)."""
        self._row_line = array("q")
        self._row_start = array("q")
        self._row_end = array("q")
        self._markdown = None
        self._strips.clear()
        self._place_column()
        if self._wrap_width > 0:
            if self.mode == "markdown":
                self._markdown = self._new_markdown_layout()
                if self._length:
                    self._markdown.append(self.text)
                if self._finished:
                    self._markdown.finish()
            else:
                self._rewrap_from(0)
        self._set_virtual_size()
        self.refresh()

    def _set_virtual_size(self) -> None:
        body = self.row_count + len(self._end_rows()) if self._length else len(self._wrapped(self._notice, max(self._wrap_width, 1)))
        height = len(self._lead()) + body
        if self._length and not self._finished and height > self.container_size.height:
            # A few blank rows below a growing answer: the view scrolls once every few rows.
            # A scroll repaints the whole pane and its scrollbar, about half of what a
            # streaming frame costs (benchmarks/run.py --only paced); a row added into a blank
            # row repaints that row.
            step = max(1, min(_MOST_ROWS_AHEAD, self.container_size.height // 6))
            height = -(-height // step) * step
        size = Size(self._wrap_width, height)
        old = self.virtual_size
        if size == old:
            return
        grown_below = size.width == old.width and size.height > old.height
        if self.is_mounted and grown_below and self.show_vertical_scrollbar == (size.height > self.container_size.height):
            # Rows added below, the scrollbars as they were: only this pane and its scrollbar
            # change. The virtual size is a layout reactive, and a layout repaints the whole
            # screen: on every streamed frame that was most of the frame's cost.
            self.set_reactive(OutputPane.virtual_size, size)
            self._scroll_update(size)
            return
        self.virtual_size = size

    def _follow_end(self) -> None:
        if self._following:
            # immediate: the next append must find the view at the end, not a scroll still
            # waiting for a refresh; force: the scrollbar that makes scrolling "allowed" only
            # appears at the next layout.
            self.scroll_to(y=self.max_scroll_y, animate=False, force=True, immediate=True)

    def scroll_to(self, x: float | None = None, y: float | None = None, **options) -> None:  # noqa: ANN003 - Widget.scroll_to's
        """A scroll the keys ask for stops or resumes following at once, and none is animated.
        Animated, the scroll waited for the animator's next tick: a chunk appended before it
        found the view still following and pulled it back to the end (a PageUp was lost). On
        a long answer an animation also took about a second, each step repainting the pane.
        ``y`` is clamped first: a PageUp with nothing to scroll (the answer fits) must not
        stop following."""
        if y is not None:
            self._set_following(min(max(y, 0), self.max_scroll_y) >= self.max_scroll_y)
        options["animate"] = False
        super().scroll_to(x, y, **options)

    def _set_following(self, following: bool) -> None:
        if following != self._following:
            self._following = following
            self.border_subtitle = "" if following else Text(self.behind_hint)

    def scroll_end(self, **options) -> None:  # noqa: ANN003 - Widget.scroll_end's
        """End follows the answer again at once (it animated for a second, to where the end
        had been when it was pressed)."""
        self._set_following(True)
        options["animate"] = False
        super().scroll_end(**options)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._set_following(new_value >= self.max_scroll_y)

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width != self._wrap_width:
            self._wrap_width = width
            self._relayout()
        self._follow_end()

    def _relayout_keeping_end(self) -> None:
        self._relayout()
        self._follow_end()

    def watch_mode(self) -> None:
        self._relayout_keeping_end()

    def watch_reading_width(self) -> None:
        if self.mode == "markdown":
            self._relayout_keeping_end()

    def watch_reading_align(self) -> None:
        self._place_column()
        self._strips.clear()
        self._lead_key = -1
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._styles.clear()
        self._id_styles.clear()
        self._lead_key = -1

    # -- styles ---------------------------------------------------------------------------------
    def _style(self, component: str = "") -> Style:
        """The pane's base style, or the base plus a component class's style, resolved once."""
        style = self._styles.get(component)
        if style is None:
            style = self.rich_style if not component else self._style() + self.get_component_rich_style(component)
            self._styles[component] = style
        return style

    def _component_style(self, name: str) -> Style:
        """What one component class sets (colours blended as Textual blends them; text styles
        kept apart so that bold and italic add up)."""
        key = "part:" + name
        style = self._styles.get(key)
        if style is None:
            component = "output-pane--" + name
            full = self.get_component_rich_style(component)
            partial = self.get_component_rich_style(component, partial=True)
            style = Style(
                color=full.color if partial.color is not None else None,
                bgcolor=full.bgcolor if partial.bgcolor is not None else None,
            ) + partial.without_color
            self._styles[key] = style
        return style

    def _code_token_style(self, name: str) -> Style:
        from pygments.styles import get_style_by_name

        dark = self.app.current_theme.dark if self.is_attached else True
        theme = get_style_by_name(_CODE_THEMES[dark])
        token_type = TOKEN_TYPES.get(name)
        if token_type is None:
            return Style()
        definition = theme.style_for_token(token_type)
        color = definition["color"]
        return Style(
            color=f"#{color}" if color else None,
            bold=definition["bold"] or None,
            italic=definition["italic"] or None,
            underline=definition["underline"] or None,
        )

    def _id_style(self, sid: int) -> Style:
        """The Rich style of a Markdown layout style id."""
        styles = self._id_styles
        if sid < len(styles):
            style = styles[sid]
            if style is not None:
                return style
        else:
            styles.extend([None] * (sid + 1 - len(styles)))
        style = self._style()
        for component in STYLE_KEYS[sid]:
            if component.startswith("pyg:"):
                style += self._code_token_style(component[4:])
            elif component.startswith("link:"):
                style += Style(link=component[5:])
            else:
                style += self._component_style(component)
        styles[sid] = style
        return style

    # -- drawing ------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        row = self.scroll_offset.y + y
        strip = self._row_strip(row)
        selection = self.text_selection
        if selection is not None and (span := selection.get_span(row)) is not None:
            strip = self._selected(strip, *span)
        # Each cell says where it is in the pane's text: Textual's mouse selection reads it.
        return strip.apply_offsets(0, row)

    # -- selection (Textual's: drag with the mouse, then Ctrl+C) ------------------------------
    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected text as drawn: rows as they wrap on screen, Markdown as it reads."""
        text = "\n".join(self._row_strip(row).text.rstrip() for row in range(self.virtual_size.height))
        return selection.extract(text), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()

    def _selected(self, strip: Strip, start: int, end: int) -> Strip:
        """``strip`` with characters ``start`` to ``end`` (-1: the end) drawn selected."""
        text, length = strip.text, strip.cell_length
        # The selection counts characters; a wide character (CJK, emoji) takes two cells.
        start = cell_len(text[:start])
        end = length if end == -1 else min(cell_len(text[:end]), length)
        if end <= start:
            return strip
        chosen = strip.crop(start, end)
        # Over the text's own styles (Strip.apply_style puts a style under them).
        chosen = Strip(Segment.apply_style(chosen, post_style=self.screen.get_component_rich_style("screen--selection")), chosen.cell_length)
        return Strip.join([strip.crop(0, start), chosen, strip.crop(end, length)])

    def _row_strip(self, row: int) -> Strip:
        """Row ``row`` of the pane's text (the prompt lead, the answer, the end note), drawn."""
        width = self.scrollable_content_region.width
        base = self._style()
        lead = self._lead()
        if row < len(lead):
            return lead[row]
        row -= len(lead)
        if self._length == 0:
            notice = self._wrapped(self._notice, width)
            if row < len(notice):
                return Strip([Segment(notice[row], self._style("output-pane--notice"))]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        if row >= self.row_count:
            end_rows = self._end_rows()
            index = row - self.row_count
            if index < len(end_rows):
                return Strip([Segment(end_rows[index], self._style(self._end_note_component))]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        strip = self._strips.get(row)
        if strip is None:
            if len(self._strips) > _STRIP_CACHE_ROWS:
                self._forget_strips_away_from(row)
            if self._markdown is not None:
                strip = self._markdown_row(row)
            else:
                strip = self._raw_row(row)
            strip = strip.crop_extend(0, width, base)
            self._strips[row] = strip
        return strip

    def _forget_strips_away_from(self, row: int) -> None:
        """Keep drawn rows near the view only: every cached strip is garbage the collector walks."""
        height = max(self.size.height, 1)
        keep = range(row - 2 * height, row + 2 * height)
        self._strips = {cached: strip for cached, strip in self._strips.items() if cached in keep}

    def _markdown_row(self, row: int) -> Strip:
        layout = self._markdown
        assert layout is not None
        line = layout.lines[layout.row_line[row]]
        start, end = layout.row_start[row], layout.row_end[row]
        column = layout.width
        # Pieces of one style are joined: Textual's cost per drawn line grows with its segments.
        texts: list[str] = []
        styles: list[Style] = []

        def add(text: str, style: Style) -> None:
            if styles and styles[-1] is style:
                texts[-1] += text
            else:
                texts.append(text)
                styles.append(style)

        if self._column_start:
            add(" " * self._column_start, self._style())
        prefix = line.first if start == 0 else line.rest
        for piece, sid in prefix.pieces:
            add(piece, self._id_style(sid))
        used = prefix.width
        if line.rule:
            add("─" * max(column - used, 0), self._id_style(line.run_styles[0]))
            used = column
        elif end > start:
            text = line.text
            cells = cell_len(text[start:end])
            while used + cells > column and end > start and text[end - 1] == " ":
                end -= 1  # a space hanging past the edge is not drawn
                cells -= 1
            run_starts, run_styles = line.run_starts, line.run_styles
            run = bisect_right(run_starts, start) - 1
            position = start
            while position < end:
                run_end = run_starts[run + 1] if run + 1 < len(run_starts) else end
                piece_end = min(run_end, end)
                add(text[position:piece_end], self._id_style(run_styles[run]))
                position = piece_end
                run += 1
            used += cells
        if line.fill >= 0 and used < column:
            add(" " * (column - used), self._id_style(line.fill))
        return Strip([Segment(text, style) for text, style in zip(texts, styles)])

    def _raw_row(self, row: int) -> Strip:
        line_index = self._row_line[row]
        start, end = self._row_start[row], self._row_end[row]
        return Strip(self._chunk_segments(line_index, start, end, self._lines[line_index][start:end]))

    def _chunk_segments(self, line_index: int, start: int, end: int, text: str) -> list[Segment]:
        """Split a row where chunks begin, shading every other chunk."""
        base = self._style()
        starts = self._chunk_starts
        if not starts:
            return [Segment(text, base)]
        absolute = self._line_offsets[line_index] + start
        chunk = max(bisect_right(starts, absolute) - 1, 0)
        odd = self._style("output-pane--chunk-odd")
        segments: list[Segment] = []
        position = 0
        while position < len(text):
            next_start = starts[chunk + 1] - absolute if chunk + 1 < len(starts) else len(text)
            piece_end = min(max(next_start, position + 1), len(text))
            segments.append(Segment(text[position:piece_end], odd if chunk % 2 else base))
            position = piece_end
            chunk += 1
        return segments
