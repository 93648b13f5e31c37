"""Greedy word wrap in terminal cells, cut only between whole graphemes, measured as Rich measures.

Both of the output pane's views wrap with these functions, and Rich (through Textual's strips)
draws what they cut, so a row's width here is the width the terminal shows: ``fit`` counts
cells per grapheme with ``rich.cells.split_graphemes`` (a ZWJ family is 2 cells, not the 6 its
code points add up to) and never ends a row inside a grapheme (e + combining acute, 👍🏽).
"""

from __future__ import annotations

from rich.cells import split_graphemes


def fit(text: str, position: int, width: int) -> tuple[int, int]:
    """``(end, cells)``: the longest run of whole graphemes from ``position`` that fits in
    ``width`` cells, and its width. At least one grapheme, even one wider than ``width``."""
    width = max(width, 1)
    length = len(text)
    window = text[position : position + width + 1]
    if window.isascii():  # sanitized text: printable ASCII, one cell a character
        end = min(position + width, length)
        return end, end - position
    cells = 0
    start = position
    size = max(2 * width, 32)
    while True:
        stop = min(start + size, length)
        spans, _ = split_graphemes(text[start:stop])
        if stop < length:
            if len(spans) < 2:  # one grapheme longer than the window: look further
                size *= 2
                continue
            spans.pop()  # the window's last grapheme may go on past it
        for begin, end, grapheme_cells in spans:
            if cells + grapheme_cells > width:
                if start + begin == position:  # not even one grapheme fits: it gets a row of its own
                    return start + end, grapheme_cells
                return start + begin, cells
            cells += grapheme_cells
        start += spans[-1][1]
        if start >= length:
            return length, cells


def wrap(text: str, start: int, width: int, first_width: int | None = None) -> list[tuple[int, int]]:
    """Greedy word wrap of ``text[start:]`` into ``(start, end)`` rows of at most ``width`` cells
    (``first_width`` for the row that starts at 0, when given).

    A row ends after its last space (one space may hang past the edge; the pane does not draw
    it); a word longer than the row is folded between graphemes. Adding text at the end of
    ``text`` never changes any row but the last, so a streaming line rewraps in O(append).
    """
    rows: list[tuple[int, int]] = []
    position = start
    length = len(text)
    row_width = first_width if first_width is not None and start == 0 else width
    while True:
        limit, _ = fit(text, position, row_width)
        if limit >= length:
            break
        space = text.rfind(" ", position, limit + 1)
        cut = space + 1 if space >= position else limit
        rows.append((position, cut))
        position = cut
        row_width = width
    rows.append((position, length))
    return rows
