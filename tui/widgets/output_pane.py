"""The live output pane: built for streaming, so one append costs the same at any length.

Text is kept as logical lines, wrapped into rows at the pane's width. An append touches
only the last row of the last line (greedy word wrap never changes earlier rows when text
is added at the end), and only visible rows are ever styled and drawn (Line API). Rows are
styled with a light Markdown look (headings, code fences, quotes, lists, inline code and
bold) or raw, where consecutive chunks alternate in shade so the server's cuts show.

Model output is data: it is drawn as plain segments, never parsed as markup, and control
characters (escape sequences included) are shown as visible symbols.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from typing import Literal

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..engine.sanitize import server_text

OutputMode = Literal["markdown", "raw"]

#: Drawn rows kept for redraws; past this, rows far from the view are dropped.
_STRIP_CACHE_ROWS = 400

_INLINE = re.compile(r"(`[^`]+`)|(\*\*[^*]+\*\*)")
_LIST_ITEM = re.compile(r"\s*(?:[-*+]|\d+[.)])\s")


def sanitize(text: str) -> str:
    """Text as the pane draws it: tabs as spaces, and (for text from anywhere) every control
    made visible by the one sanitizer of server text."""
    if "\t" in text:
        text = text.replace("\t", "    ")
    return server_text(text)


def _fit(line: str, position: int, width: int) -> int:
    """The end of the longest run from ``position`` that fits in ``width`` cells (at least one char)."""
    window = line[position : position + width + 1]
    if window.isascii():
        return min(position + width, len(line))
    cells = 0
    end = position
    for char in window:
        cells += cell_len(char)
        if cells > width:
            break
        end += 1
    return max(end, position + 1)


def wrap(line: str, start: int, width: int) -> list[tuple[int, int]]:
    """Greedy word wrap of ``line[start:]`` into (start, end) rows of at most ``width`` cells.

    A row ends after its last space (a space may hang past the edge); a word longer than the
    row is folded. Adding text at the end of ``line`` never changes any row but the last.
    """
    rows: list[tuple[int, int]] = []
    position = start
    while (limit := _fit(line, position, width)) < len(line):
        space = line.rfind(" ", position, limit + 1)
        cut = space + 1 if space >= position else limit
        rows.append((position, cut))
        position = cut
    rows.append((position, len(line)))
    return rows


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
    OutputPane > .output-pane--heading {
        color: $accent;
        text-style: bold;
    }
    OutputPane > .output-pane--code {
        color: $text-success;
        background: $boost;
    }
    OutputPane > .output-pane--quote {
        color: $text-muted;
        text-style: italic;
    }
    OutputPane > .output-pane--marker {
        color: $accent;
    }
    OutputPane > .output-pane--inline-code {
        color: $text-success;
    }
    OutputPane > .output-pane--bold {
        text-style: bold;
    }
    OutputPane > .output-pane--chunk-odd {
        background: $primary 35%;
    }
    """
    COMPONENT_CLASSES = {
        "output-pane--notice",
        "output-pane--heading",
        "output-pane--code",
        "output-pane--quote",
        "output-pane--marker",
        "output-pane--inline-code",
        "output-pane--bold",
        "output-pane--chunk-odd",
    }

    mode: reactive[OutputMode] = reactive("markdown")
    """How rows are styled: a Markdown look, or raw with alternating chunk shades."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._lines: list[str] = [""]
        #: Absolute text offset of each logical line's first character.
        self._line_offsets = array("q", [0])
        #: Whether a code fence is open at the start of each logical line.
        self._in_fence: list[bool] = [False]
        #: Visual rows: parallel arrays of (logical line, start, end).
        self._row_line = array("q")
        self._row_start = array("q")
        self._row_end = array("q")
        #: Absolute offsets where each chunk starts (for the raw view's shading).
        self._chunk_starts = array("q")
        self._length = 0
        self._wrap_width = 0
        self._strips: dict[int, Strip] = {}
        self._notice = ""
        #: Resolved styles: resolving one walks the DOM (about 90 µs), far too slow per row.
        self._styles: dict[str, Style] = {}

    # -- content ----------------------------------------------------------------------------
    @property
    def text(self) -> str:
        return "\n".join(self._lines)

    @property
    def row_count(self) -> int:
        return len(self._row_line)

    def clear(self, notice: str = "") -> None:
        self._lines = [""]
        self._line_offsets = array("q", [0])
        self._in_fence = [False]
        self._chunk_starts = array("q")
        self._length = 0
        self._notice = notice
        self._rewrap_all()
        self.scroll_to(y=0, animate=False)

    @property
    def notice(self) -> str:
        """The dim text shown while the pane has no answer text."""
        return self._notice

    def set_notice(self, notice: str) -> None:
        """A dim line shown while the pane has no text (a hint, or "waiting for…")."""
        self._notice = notice
        if self._length == 0:
            self._strips.clear()
            self.refresh()

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
        was_at_end = self.is_vertical_scroll_end
        lines = self._lines
        first_new_line = len(lines) - 1
        parts = text.split("\n")
        lines[-1] += parts[0]
        for part in parts[1:]:
            previous = lines[-1]
            self._line_offsets.append(self._line_offsets[-1] + len(previous) + 1)
            self._in_fence.append(self._in_fence[-1] ^ previous.lstrip().startswith("```"))
            lines.append(part)
        self._length += len(text)
        first_changed_row = self._rewrap_from(first_new_line)
        for row in [row for row in self._strips if row >= first_changed_row]:
            del self._strips[row]
        self._set_virtual_size()
        if was_at_end:
            # force: the scrollbar that makes scrolling "allowed" only appears at the next layout.
            self.scroll_to(y=self.max_scroll_y, animate=False, force=True)
        self.refresh_lines(first_changed_row, self.row_count - first_changed_row)

    # -- wrapping -----------------------------------------------------------------------------
    def _rewrap_from(self, line_index: int) -> int:
        """Re-wrap from the last row of ``line_index`` on; return the first row that changed."""
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

    def _rewrap_all(self) -> None:
        self._row_line = array("q")
        self._row_start = array("q")
        self._row_end = array("q")
        self._strips.clear()
        self._rewrap_from(0)
        self._set_virtual_size()
        self.refresh()

    def _set_virtual_size(self) -> None:
        self.virtual_size = Size(self._wrap_width, self.row_count)

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width != self._wrap_width:
            was_at_end = self.is_vertical_scroll_end
            self._wrap_width = width
            self._rewrap_all()
            if was_at_end:
                self.scroll_to(y=self.max_scroll_y, animate=False, force=True)

    def watch_mode(self) -> None:
        self._strips.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._styles.clear()

    def _style(self, component: str = "") -> Style:
        """The pane's base style, or the base plus a component class's style, resolved once."""
        style = self._styles.get(component)
        if style is None:
            style = self.rich_style if not component else self._style() + self.get_component_rich_style(component)
            self._styles[component] = style
        return style

    # -- drawing ------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        row = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        base = self._style()
        if self._length == 0:
            notice = self._notice.split("\n")
            if y < len(notice):
                return Strip([Segment(notice[y], self._style("output-pane--notice"))]).crop_extend(0, width, base)
            return Strip.blank(width, base)
        if row >= self.row_count:
            return Strip.blank(width, base)
        strip = self._strips.get(row)
        if strip is None:
            if len(self._strips) > _STRIP_CACHE_ROWS:
                self._forget_strips_away_from(row)
            strip = self._render_row(row).crop_extend(0, width, base)
            self._strips[row] = strip
        return strip

    def _forget_strips_away_from(self, row: int) -> None:
        """Keep drawn rows near the view only: every cached strip is garbage the collector walks."""
        height = max(self.size.height, 1)
        keep = range(row - 2 * height, row + 2 * height)
        self._strips = {cached: strip for cached, strip in self._strips.items() if cached in keep}

    def _render_row(self, row: int) -> Strip:
        line_index = self._row_line[row]
        start, end = self._row_start[row], self._row_end[row]
        text = self._lines[line_index][start:end]
        if self.mode == "raw":
            return Strip(self._chunk_segments(line_index, start, end, text))
        line = self._lines[line_index]
        stripped = line.lstrip()
        if self._in_fence[line_index] or stripped.startswith("```"):
            return Strip([Segment(text, self._style("output-pane--code"))])
        if stripped.startswith("#"):
            return Strip([Segment(text, self._style("output-pane--heading"))])
        if stripped.startswith(">"):
            return Strip([Segment(text, self._style("output-pane--quote"))])
        segments: list[Segment] = []
        if start == 0 and (match := _LIST_ITEM.match(text)):
            segments.append(Segment(text[: match.end()], self._style("output-pane--marker")))
            text = text[match.end() :]
        segments.extend(self._inline_segments(text))
        return Strip(segments)

    def _inline_segments(self, text: str) -> list[Segment]:
        base = self._style()
        if "`" not in text and "**" not in text:
            return [Segment(text, base)]
        segments: list[Segment] = []
        position = 0
        for match in _INLINE.finditer(text):
            if match.start() > position:
                segments.append(Segment(text[position : match.start()], base))
            component = "output-pane--inline-code" if match.group(1) else "output-pane--bold"
            segments.append(Segment(match.group(), self._style(component)))
            position = match.end()
        if position < len(text):
            segments.append(Segment(text[position:], base))
        return segments

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
