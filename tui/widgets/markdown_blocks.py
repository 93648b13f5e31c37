"""Streaming Markdown laid out as rows: blocks parsed line by line, finished lines frozen.

``MarkdownLayout.append(text)`` costs O(size of the append) at any answer length:

* Source lines are classified as they arrive (heading, list item, quote, fence, rule, table
  row, text). A line whose role its first characters cannot decide yet (``-`` may become a
  rule, ``1`` a list item, `````` a fence) is held back until they can: a few characters.
* Every source line becomes one display line: the text that is drawn (markers removed, bullets
  and bars moved into a prefix) and style runs. Only the line still arriving is re-rendered,
  from where its inline scan last stopped (see ``markdown_inline``); a complete line is final.
* Display lines wrap greedily into rows; appending to the last line rewraps only its last rows.
* The exceptions are bounded by one block, never by the answer: a fenced code block is
  highlighted (Pygments) as its lines arrive and once more, whole, when it closes; a table is
  laid out again as each row completes, so its columns are aligned as soon as it is.

Rows are drawn by the output pane; this module knows nothing of Textual. Style ids are
``markdown_inline`` ids, resolved by the pane.
"""

from __future__ import annotations

import re
import threading
from array import array
from bisect import bisect_right
from functools import lru_cache

from rich.cells import cell_len

from .markdown_inline import FINAL, STREAM, TAIL, Builder, InlineState, scan, style_id
from .markdown_inline import render as render_inline
from .wrapping import wrap

BLANK, HEADING, RULE, FENCE_OPEN, CODE, FENCE_CLOSE, QUOTE, ITEM, TEXT, TABLE_DELIMITER, TABLE_ROW = range(11)
#: Open block kinds (what the next line may continue).
PARAGRAPH, LIST, FENCE, TABLE, QUOTED, SINGLE = "paragraph", "list", "fence", "table", "quoted", "single"

BULLETS = ("•", "◦", "▪")
#: Tables are laid out again as each row completes up to this many rows; after that, new rows
#: take the columns as they are (one layout more when the table ends).
TABLE_RELAYOUT_ROWS = 100
#: How far a continued code line is indented past its own indentation.
CODE_HANG = 2
#: Pygments lexes about 160 KB/s (Python): bounds on what is highlighted, so a huge code line
#: or block cannot stall the stream. A line still arriving past PARTIAL_LEX_LIMIT waits for its
#: end; lines past LINE_LEX_LIMIT stay plain; a batch or a closing block past BLOCK_LEX_LIMIT
#: keeps the highlighting it had (lines lexed as they arrived).
PARTIAL_LEX_LIMIT = 2_000
LINE_LEX_LIMIT = 4_000
BLOCK_LEX_LIMIT = 16_000

_DELIMITER_ROW = re.compile(r"\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_DELIMITER_PREFIX = re.compile(r"\|?[\s:|-]*$")

CODE_STYLE = style_id("code")
LABEL_STYLE = style_id("code", "code-label")
MARKER_STYLE = style_id("marker")
RULE_STYLE = style_id("rule")
BORDER_STYLE = style_id("table-border")
RAW_ROW_STYLE = style_id("table-raw")
QUOTE_BAR_STYLE = style_id("quote-bar")


class Prefix:
    """What is drawn before a row's text (indentation, a bullet, quote bars), and its width."""

    __slots__ = ("pieces", "width")

    def __init__(self, pieces: tuple[tuple[str, int], ...]) -> None:
        self.pieces = pieces
        self.width = sum(cell_len(text) for text, _sid in pieces)


@lru_cache(maxsize=4096)
def prefix(*pieces: tuple[str, int]) -> Prefix:
    """An interned prefix (lines share them: a list's hang, a quote's bars)."""
    return Prefix(tuple(piece for piece in pieces if piece[0]))


EMPTY = prefix()


def spaces(width: int) -> Prefix:
    return prefix((" " * width, 0))


class DisplayLine:
    """One drawn line: ``text`` with style runs, the prefixes of its first and its other rows,
    ``fill`` (a style that pads its rows to the column's width: code blocks) and ``rule``
    (a horizontal rule drawn across the column)."""

    __slots__ = ("text", "run_starts", "run_styles", "first", "rest", "fill", "rule")

    def __init__(self, first: Prefix = EMPTY, rest: Prefix = EMPTY, text: str = "", sid: int = 0, fill: int = -1, rule: bool = False) -> None:
        self.text = text
        self.run_starts = array("q", [0])
        self.run_styles = array("q", [sid])
        self.first = first
        self.rest = rest
        self.fill = fill
        self.rule = rule

    def set_runs(self, starts: array, styles: array) -> None:
        if not starts:
            starts, styles = array("q", [0]), array("q", [0])
        self.run_starts = starts
        self.run_styles = styles

    def style_at(self, offset: int) -> int:
        return self.run_styles[bisect_right(self.run_starts, offset) - 1]


class Role:
    """What a source line is, once its first characters decide it."""

    __slots__ = ("kind", "indent", "content", "level", "marker", "info", "task", "aligns", "continues")

    def __init__(self, kind: int, indent: int = 0, content: int = 0, level: int = 0, marker: str = "", info: str = "", task: str = "", aligns: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.indent = indent
        self.content = content  # where the inline content starts in the source line
        self.level = level  # heading level, quote depth, fence length
        self.marker = marker  # list marker as written, fence character
        self.info = info  # fence info string
        self.task = task  # "x" or " " for task list items
        self.aligns = aligns
        self.continues = False  # text that continues a list item


class ListLevel:
    __slots__ = ("marker_indent", "column")

    def __init__(self, marker_indent: int, column: int) -> None:
        self.marker_indent = marker_indent  # where the marker is in the source
        self.column = column  # where the item's text starts on screen


class OpenInline:
    """The inline line still arriving: where its scan stopped and what it had decided."""

    __slots__ = ("index", "base", "content", "end", "position", "state", "committed", "shown")

    def __init__(self, index: int, base: tuple[str, ...], content: int) -> None:
        self.index = index
        self.base = base
        self.content = content
        self.position = content
        self.state = InlineState()
        self.committed = Builder()
        self.shown = 0  # drawn text that is final (rows before it need no rewrap)


class Fence:
    __slots__ = ("char", "length", "indent", "language", "lexer", "first_code_line", "code", "column", "dirty_from", "partial")

    def __init__(self, char: str, length: int, indent: int, language: str, first_code_line: int, column: int) -> None:
        self.char = char
        self.length = length
        self.indent = indent  # source indentation removed from code lines
        self.language = language
        self.lexer = None
        self.first_code_line = first_code_line  # display index of the first code line
        self.code: list[str] = []  # complete code lines
        self.column = column
        self.dirty_from = -1  # first code line (index into code) to highlight again
        self.partial: str | None = None  # the code line still arriving


class Table:
    __slots__ = ("header", "aligns", "rows", "first_line", "widths", "raw_line")

    def __init__(self, header: list[str], aligns: tuple[str, ...], first_line: int) -> None:
        self.header = header
        self.aligns = aligns
        self.rows: list[list[str]] = []
        self.first_line = first_line
        self.widths: list[int] | None = None
        self.raw_line = -1  # display index of the row still arriving, shown raw


@lru_cache(maxsize=256)
def lexer_for(info: str):
    """The Pygments lexer for a fence's language (None: unknown, drawn without highlighting)."""
    if not info:
        return None
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(info, stripnl=False, ensurenl=True)
    except ClassNotFound:
        return None


#: Lexers loaded so far, by language (None: Pygments has none for it).
_loaded_lexers: dict[str, object] = {}
_loading: dict[str, threading.Thread] = {}


def load_lexer(language: str) -> object:
    """Load a language's lexer and compile its rules (its first use does), waiting for it."""
    name = language.lower()
    if name not in _loaded_lexers:
        lexer = lexer_for(name)
        if lexer is not None:
            for _token in lexer.get_tokens("x\n"):
                pass
        _loaded_lexers[name] = lexer
    return _loaded_lexers[name]


def lexer_now(language: str) -> tuple[bool, object]:
    """``(loaded, lexer)`` without waiting. The first time a language is seen its lexer loads
    in a thread (importing Python's takes about 40 ms, a stall the stream would show); until
    then its code is drawn plain. The loop never imports: it cannot wait on the thread's lock."""
    name = language.lower()
    if not name:
        return True, None
    if name in _loaded_lexers:
        return True, _loaded_lexers[name]
    if name not in _loading:
        thread = threading.Thread(target=load_lexer, args=(name,), name=f"load-lexer-{name}", daemon=True)
        _loading[name] = thread
        thread.start()
    return False, None


def wait_for_lexers() -> None:
    """Wait until every lexer being loaded is loaded (for tests)."""
    for thread in list(_loading.values()):
        thread.join()


_token_styles: dict[object, int] = {}
#: Pygments token types by the name in their style's ``pyg:`` component (for the pane).
TOKEN_TYPES: dict[str, object] = {}


def _token_style(token_type) -> int:
    sid = _token_styles.get(token_type)
    if sid is None:
        name = ".".join(token_type)
        TOKEN_TYPES[name] = token_type
        sid = _token_styles[token_type] = style_id("code", "pyg:" + name)
    return sid


def highlight(lexer, lines: list[str]) -> list[tuple[array, array]] | None:
    """Style runs for each of ``lines`` lexed together (None if the lexer changed the text)."""
    runs: list[tuple[array, array]] = []
    lengths: list[int] = []
    starts, styles = array("q"), array("q")
    column = 0
    for token_type, value in lexer.get_tokens("\n".join(lines)):
        sid = _token_style(token_type)
        for number, piece in enumerate(value.split("\n")):
            if number:
                runs.append((starts, styles))
                lengths.append(column)
                starts, styles = array("q"), array("q")
                column = 0
            if piece:
                if not styles or styles[-1] != sid:
                    starts.append(column)
                    styles.append(sid)
                column += len(piece)
    runs.append((starts, styles))
    lengths.append(column)
    if len(runs) < len(lines) or any(length != len(line) for length, line in zip(lengths, lines)):
        return None  # the lexer did not give the text back as it was
    return runs[: len(lines)]


def split_cells(row: str) -> list[str]:
    """A table row's cells (outer pipes optional, ``\\|`` is a literal pipe)."""
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    cells: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(row):
        char = row[index]
        if char == "\\" and index + 1 < len(row) and row[index + 1] == "|":
            current.append("|")
            index += 2
            continue
        if char == "|":
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        index += 1
    cells.append("".join(current).strip())
    return cells


def _aligns(delimiter: str) -> tuple[str, ...]:
    aligns = []
    for cell in split_cells(delimiter):
        left, right = cell.startswith(":"), cell.endswith(":")
        aligns.append("center" if left and right else "right" if right else "left")
    return tuple(aligns)


def _column_widths(natural: list[int], available: int) -> list[int]:
    """Shrink the widest columns first until the total fits ``available`` cells."""
    if sum(natural) <= available:
        return natural
    low, high = 1, max(natural)
    while low < high:  # the largest cap at which the columns fit
        cap = (low + high + 1) // 2
        if sum(min(width, cap) for width in natural) <= available:
            low = cap
        else:
            high = cap - 1
    widths = [min(width, low) for width in natural]
    spare = available - sum(widths)
    for index, width in enumerate(natural):
        if spare <= 0:
            break
        if width > widths[index]:
            widths[index] += 1
            spare -= 1
    return widths


class MarkdownLayout:
    """Markdown source in, rows out: ``lines`` (display lines) and the rows they wrap into
    (``row_line``, ``row_start``, ``row_end``) at ``width`` cells."""

    def __init__(self, width: int) -> None:
        self.width = max(width, 1)
        self.lines: list[DisplayLine] = []
        #: The first row of each display line.
        self.line_rows = array("q")
        self.row_line = array("q")
        self.row_start = array("q")
        self.row_end = array("q")
        self._partial = ""  # the source line still arriving
        self._role: Role | None = None  # its role, once decided
        self._block: str | None = None  # the open block (what the next line may continue)
        self._previous_blank = True  # no blank row before the first block, none doubled
        self._list: list[ListLevel] = []
        self._table_header: str | None = None  # a paragraph line with pipes: a table if a delimiter row follows
        self._open: OpenInline | None = None
        self._fence: Fence | None = None
        self._table: Table | None = None
        self._last_code: Fence | None = None
        #: Code blocks drawn plain until their language's lexer has loaded.
        self._waiting: list[Fence] = []
        self._changed = 0

    # -- public -------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.row_line)

    @property
    def waiting_for_lexers(self) -> bool:
        """Whether some code block waits for its lexer (``adopt_lexers`` highlights it)."""
        return bool(self._waiting)

    def adopt_lexers(self) -> int:
        """Highlight the code blocks whose lexer has loaded since; return the first row that changed."""
        self._changed = len(self.row_line)
        self._adopt_lexers()
        return self._changed

    def _adopt_lexers(self) -> None:
        for fence in list(self._waiting):
            loaded, lexer = lexer_now(fence.language)
            if loaded:
                self._waiting.remove(fence)
                fence.lexer = lexer
                lines = fence.code if fence.partial is None else [*fence.code, fence.partial]
                if lexer is not None and lines:
                    self._restyle_code(fence, 0, lines)

    def append(self, text: str) -> int:
        """Add source text (already sanitized); return the first row that changed."""
        self._changed = len(self.row_line)
        if self._waiting:
            self._adopt_lexers()
        first, *rest = text.split("\n")
        self._partial += first
        for part in rest:
            self._line(self._partial, complete=True)
            self._partial = part
        if self._partial:
            self._line(self._partial, complete=False)
        if self._fence is not None:
            self._highlight_open_fence()
        return self._changed

    def finish(self) -> int:
        """The answer ended: draw the line still arriving as complete (a closing fence with no
        newline after it closes its block). Return the first row that changed; appending after
        this needs a new layout (the pane makes one)."""
        self._changed = len(self.row_line)
        self._adopt_lexers()
        if self._partial:
            self._line(self._partial, complete=True)
            self._partial = ""
        if self._fence is not None and self._fence.lexer is not None and self._fence.code:
            self._restyle_code(self._fence, 0, self._fence.code)
        if self._block == TABLE:
            self._close_block()
        return self._changed

    def last_code_block(self) -> str | None:
        fence = self._last_code
        if fence is None:
            return None
        code = fence.code if fence.partial is None else [*fence.code, fence.partial]
        return "\n".join(code)

    def row_prefix(self, row: int) -> Prefix:
        line = self.lines[self.row_line[row]]
        return line.first if self.row_start[row] == 0 else line.rest

    def row_text(self, row: int) -> str:
        """A row as plain text: its prefix and its part of the line (for tests and copying)."""
        line = self.lines[self.row_line[row]]
        text = "".join(piece for piece, _sid in self.row_prefix(row).pieces)
        if line.rule:
            return text + "─" * max(self.width - self.row_prefix(row).width, 0)
        return text + line.text[self.row_start[row] : self.row_end[row]]

    # -- lines ----------------------------------------------------------------------------------
    def _line(self, line: str, complete: bool) -> None:
        role = self._role
        if role is None:
            role = self._classify(line, complete)
            if role is None:
                return  # undecided: nothing drawn yet
            self._route(role, line)
            self._role = role
        self._render(role, line, complete)
        if complete:
            self._role = None
            self._open = None
            self._previous_blank = role.kind == BLANK
            # A paragraph line with pipes is a table's header if a delimiter row comes next.
            self._table_header = line if role.kind == TEXT and self._block == PARAGRAPH and "|" in line else None

    def _classify(self, line: str, complete: bool) -> Role | None:
        if self._block == FENCE:
            return self._classify_in_fence(line, complete)
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if not stripped:
            return Role(BLANK) if complete else None
        if self._block == TABLE:
            if "|" in stripped:
                return Role(TABLE_ROW, indent)
            if not complete and len(stripped) < 200:
                return None
        elif self._table_header is not None and _DELIMITER_PREFIX.match(stripped):
            if not complete:
                return None
            if "|" in stripped and _DELIMITER_ROW.match(stripped) and len(split_cells(stripped)) == len(split_cells(self._table_header)):
                return Role(TABLE_DELIMITER, indent, aligns=_aligns(stripped))
        text = Role(TEXT, indent, content=indent)
        first = stripped[0]
        if first == "#":
            run = len(stripped) - len(stripped.lstrip("#"))
            if run > 6:
                return text
            after = stripped[run:]
            if not after or after.isspace():
                return None if not complete else Role(HEADING, indent, content=len(line), level=run)
            if after[0] == " ":
                return Role(HEADING, indent, content=len(line) - len(after.lstrip(" ")), level=run)
            return text
        if first in "`~":
            run = len(stripped) - len(stripped.lstrip(first))
            if run >= 3:
                if not complete:
                    return None
                info = stripped[run:].strip()
                if first == "`" and "`" in info:
                    return text
                return Role(FENCE_OPEN, indent, level=run, marker=first, info=info)
            if run == len(stripped) and not complete:
                return None
            return text
        if first == ">":
            return self._quote_role(line, indent, complete)
        if first in "-*_+":
            if set(stripped) <= {first, " "}:  # a rule, an empty item, or not decided yet
                if not complete:
                    return None
                if first != "+" and stripped.count(first) >= 3:
                    return Role(RULE, indent)
                if first != "_" and (len(stripped) == 1 or stripped[1] == " "):
                    return Role(ITEM, indent, content=len(line), marker=first)
                return text
            if first != "_" and len(stripped) > 1 and stripped[1] == " ":
                return self._item_role(line, indent, indent + 1, first, complete)
            return text
        if "0" <= first <= "9":
            digits = len(stripped) - len(stripped.lstrip("0123456789"))
            if digits == len(stripped):
                return None if not complete and digits <= 9 else text
            if digits <= 9 and stripped[digits] in ".)":
                after = stripped[digits + 1 :]
                if not after or after[0] == " ":
                    return self._item_role(line, indent, indent + digits + 1, stripped[: digits + 1], complete)
            return text
        return text

    def _item_role(self, line: str, indent: int, marker_end: int, marker: str, complete: bool) -> Role | None:
        content = marker_end
        while content < len(line) and line[content] == " ":
            content += 1
        if content >= len(line):
            return None if not complete else Role(ITEM, indent, content=len(line), marker=marker)
        rest = line[content : content + 4]
        if not complete and len(rest) < 4 and ("[ ] ".startswith(rest) or "[x] ".startswith(rest.lower())):
            return None  # a task box may be arriving
        task = ""
        if rest in ("[ ] ", "[x] ", "[X] "):
            task = rest[1].lower()
            content += 4
        return Role(ITEM, indent, content=content, marker=marker, task=task)

    def _quote_role(self, line: str, indent: int, complete: bool) -> Role | None:
        position = indent
        depth = 0
        while position < len(line) and line[position] == ">":
            depth += 1
            position += 1
            while position < len(line) and line[position] == " ":
                position += 1
        rest = line[position:]
        if not complete and (not rest or rest in ("-", "*", "+")):
            return None  # more bars or a bullet may follow
        marker = ""
        if rest[:2] in ("- ", "* ", "+ "):
            marker = "•"
            position += 2
        return Role(QUOTE, indent, content=position, level=depth, marker=marker)

    def _classify_in_fence(self, line: str, complete: bool) -> Role:
        fence = self._fence
        assert fence is not None
        stripped = line.strip(" ")
        if not stripped or set(stripped) == {fence.char}:  # blank, or maybe the closing fence
            if not complete:
                return None  # type: ignore[return-value]
            if len(stripped) >= fence.length:
                return Role(FENCE_CLOSE)
        return Role(CODE)

    # -- blocks ---------------------------------------------------------------------------------
    def _route(self, role: Role, line: str) -> None:
        """Close the open block if ``role`` does not continue it, and open the block it starts."""
        kind, block = role.kind, self._block
        if block == FENCE or kind == TABLE_ROW:
            return
        if kind == TABLE_DELIMITER:
            self._start_table(role)
            return
        if kind == BLANK:
            if block != LIST:
                self._close_block()
            return
        if kind == TEXT:
            if block == PARAGRAPH and not self._previous_blank:
                return
            if self._list and (role.indent > 0 or (block == LIST and not self._previous_blank)):
                if block != LIST:
                    self._close_block()
                    self._block = LIST
                role.continues = True
                return
            self._close_block()
            self._list.clear()
            self._block = PARAGRAPH
            return
        if kind == ITEM:
            if block != LIST:
                self._close_block()
                self._block = LIST
            return
        if kind == QUOTE and block == QUOTED:
            return
        self._close_block()
        if not (kind == FENCE_OPEN and role.indent > 0):
            self._list.clear()
        self._block = QUOTED if kind == QUOTE else SINGLE

    def _close_block(self) -> None:
        if self._block == TABLE and self._table is not None:
            if self._table.raw_line >= 0 or len(self._table.rows) > TABLE_RELAYOUT_ROWS:
                self._layout_table()
            self._table = None
        self._block = None
        self._table_header = None

    def _render(self, role: Role, line: str, complete: bool) -> None:
        kind = role.kind
        if kind == TEXT:
            column = self._list_column(role.indent) if role.continues else 0
            self._inline(line, role.content, complete, (), spaces(column), spaces(column))
        elif kind == ITEM:
            if self._open is None:
                first, rest = self._item_prefixes(role)
            else:
                first, rest = self.lines[self._open.index].first, self.lines[self._open.index].rest
            self._inline(line, role.content, complete, (), first, rest)
        elif kind == HEADING:
            self._inline(line, role.content, complete, ("heading", f"h{min(role.level, 3)}"), EMPTY, EMPTY, heading=True)
        elif kind == QUOTE:
            bars = ("▎ " * role.level, QUOTE_BAR_STYLE)
            if role.marker:
                first, rest = prefix(bars, (role.marker + " ", MARKER_STYLE)), prefix(bars, ("  ", 0))
            else:
                first = rest = prefix(bars)
            self._inline(line, role.content, complete, ("quote",), first, rest)
        elif kind == BLANK:
            if not self._previous_blank:
                self._add_line(DisplayLine())
        elif kind == RULE:
            self._add_line(DisplayLine(sid=RULE_STYLE, rule=True))
        elif kind == CODE:
            self._code_line(line, complete)
        elif kind == FENCE_OPEN:
            self._open_fence(role)
        elif kind == FENCE_CLOSE:
            self._close_fence()
        elif kind == TABLE_ROW:
            self._table_row(line, complete)
        # TABLE_DELIMITER: drawn by _start_table

    # -- inline lines -----------------------------------------------------------------------------
    def _inline(self, line: str, content: int, complete: bool, base: tuple[str, ...], first: Prefix, rest: Prefix, heading: bool = False) -> None:
        open_line = self._open
        if open_line is None:
            index = self._add_line(DisplayLine(first, rest))
            open_line = self._open = OpenInline(index, base, content)
        if complete:
            end = len(line)
            if heading:  # an ATX heading's closing hashes are not drawn
                body = line.rstrip()
                trimmed = body.rstrip("#")
                if trimmed != body and (len(trimmed) <= content or trimmed.endswith(" ")):
                    end = max(len(trimmed.rstrip()), content)
            src = line[:end]
            if open_line.state.clean and open_line.position <= end:
                tail = Builder()
                scan(src, open_line.position, open_line.state, tail, base, FINAL)
                shown = open_line.shown
                self._show(open_line, tail, shown)
            else:  # something opened and never closed: the whole line again, as final
                whole = Builder()
                scan(src, content, InlineState(), whole, base, FINAL)
                self._show(open_line, whole, 0, replace=True)
            return
        open_line.position = scan(line, open_line.position, open_line.state, open_line.committed, base, STREAM)
        tail = Builder()
        scan(line, open_line.position, open_line.state.copy(), tail, base, TAIL)
        shown = open_line.shown
        open_line.shown = open_line.committed.length
        self._show(open_line, tail, min(shown, open_line.shown))

    def _show(self, open_line: OpenInline, tail: Builder, unchanged: int, replace: bool = False) -> None:
        """Draw the open line as its committed part plus ``tail``; rows before ``unchanged``
        characters keep their wrap."""
        line = self.lines[open_line.index]
        if replace:
            text, starts, styles = tail.text(), tail.run_starts, tail.run_styles
        else:
            committed = open_line.committed
            head = committed.text()
            text = head + tail.text()
            starts, styles = array("q", committed.run_starts), array("q", committed.run_styles)
            offset = committed.length
            for start, sid in zip(tail.run_starts, tail.run_styles):
                if styles and styles[-1] == sid:
                    continue
                starts.append(start + offset)
                styles.append(sid)
        line.text = text
        line.set_runs(starts, styles)
        self._rewrap_last(unchanged)

    # -- list items -------------------------------------------------------------------------------
    def _item_prefixes(self, role: Role) -> tuple[Prefix, Prefix]:
        levels = self._list
        while levels and role.indent <= levels[-1].marker_indent:
            levels.pop()
        column = levels[-1].column if levels else 0
        marker = role.marker if role.marker[0].isdigit() else BULLETS[len(levels) % len(BULLETS)]
        if role.task:
            marker += " " + ("☑" if role.task == "x" else "☐")
        content_column = column + cell_len(marker) + 1
        levels.append(ListLevel(role.indent, content_column))
        return prefix((" " * column, 0), (marker, MARKER_STYLE), (" ", 0)), spaces(content_column)

    def _list_column(self, indent: int) -> int:
        for level in reversed(self._list):
            if level.marker_indent < indent:
                return level.column
        return self._list[-1].column if self._list else 0

    # -- code blocks ------------------------------------------------------------------------------
    def _open_fence(self, role: Role) -> None:
        column = self._list_column(role.indent) if role.indent > 0 and self._list else 0
        language = role.info.split()[0] if role.info else ""
        pad = prefix((" " * column, 0), (" ", CODE_STYLE))
        self._add_line(DisplayLine(pad, pad, language, LABEL_STYLE, fill=CODE_STYLE))
        fence = Fence(role.marker, role.level, role.indent, language, len(self.lines), column)
        loaded, fence.lexer = lexer_now(language)
        if not loaded:
            self._waiting.append(fence)
        self._fence = self._last_code = fence
        self._block = FENCE

    def _code_prefixes(self, fence: Fence, text: str) -> tuple[Prefix, Prefix]:
        lead = len(text) - len(text.lstrip(" "))
        hang = min(lead + CODE_HANG, max(self.width // 2, 1))
        indent = (" " * fence.column, 0)
        return prefix(indent, (" ", CODE_STYLE)), prefix(indent, (" " * (1 + hang), CODE_STYLE))

    def _code_line(self, line: str, complete: bool) -> None:
        fence = self._fence
        assert fence is not None
        strip = min(fence.indent, len(line) - len(line.lstrip(" ")))
        text = line[strip:]
        first, rest = self._code_prefixes(fence, text)
        number = len(fence.code)
        if self._open is None:
            self._add_line(DisplayLine(first, rest, text, CODE_STYLE, fill=CODE_STYLE))
            self._open = OpenInline(len(self.lines) - 1, (), 0)
        else:
            display = self.lines[self._open.index]
            unchanged = len(display.text) if rest is display.rest else 0
            display.text, display.rest = text, rest
            display.set_runs(array("q", [0]), array("q", [CODE_STYLE]))
            self._rewrap_last(unchanged)
        if fence.dirty_from < 0:
            fence.dirty_from = number
        if complete:
            fence.code.append(text)
            fence.partial = None
        else:
            fence.partial = text

    def _close_fence(self) -> None:
        fence = self._fence
        assert fence is not None
        fence.partial = None
        if fence.lexer is not None and fence.code:
            self._restyle_code(fence, 0, fence.code)
        self._add_line(DisplayLine(prefix((" " * fence.column, 0), (" ", CODE_STYLE)), EMPTY, fill=CODE_STYLE))
        self._fence = None
        self._block = None

    def _highlight_open_fence(self) -> None:
        """Highlight the code lines that arrived in this append, lexed together (one lexer call
        per append; the whole block is lexed again when it closes)."""
        fence = self._fence
        assert fence is not None
        if fence.dirty_from < 0 or fence.lexer is None:
            fence.dirty_from = -1
            return
        lines = fence.code[fence.dirty_from :]
        if fence.partial is not None and len(fence.partial) <= PARTIAL_LEX_LIMIT:
            lines = [*lines, fence.partial]
        if lines:
            self._restyle_code(fence, fence.dirty_from, lines)
        fence.dirty_from = -1

    def _restyle_code(self, fence: Fence, first: int, lines: list[str]) -> None:
        if sum(map(len, lines)) > BLOCK_LEX_LIMIT:
            return
        long_lines = {index for index, line in enumerate(lines) if len(line) > LINE_LEX_LIMIT}
        runs = highlight(fence.lexer, [("" if index in long_lines else line) for index, line in enumerate(lines)])
        if runs is None:
            return
        base = fence.first_code_line + first
        for offset, (starts, styles) in enumerate(runs):
            if offset not in long_lines:
                self.lines[base + offset].set_runs(starts, styles)
        self._changed = min(self._changed, self.line_rows[base])

    # -- tables -----------------------------------------------------------------------------------
    def _start_table(self, role: Role) -> None:
        header = self._table_header or ""
        self._truncate_lines(len(self.lines) - 1)  # the header line, drawn as text so far
        self._table = Table(split_cells(header), role.aligns, len(self.lines))
        self._table_header = None
        self._block = TABLE
        self._layout_table()

    def _table_row(self, line: str, complete: bool) -> None:
        table = self._table
        assert table is not None
        if not complete:
            text = line.strip()
            if table.raw_line < 0:
                table.raw_line = self._add_line(DisplayLine(text=text, sid=RAW_ROW_STYLE))
            else:
                raw = self.lines[table.raw_line]
                unchanged = len(raw.text) if text.startswith(raw.text) else 0
                raw.text = text
                self._rewrap_last(unchanged)
            return
        if table.raw_line >= 0:
            self._truncate_lines(table.raw_line)
            table.raw_line = -1
        table.rows.append(split_cells(line))
        if len(table.rows) <= TABLE_RELAYOUT_ROWS or table.widths is None:
            self._layout_table()
        else:  # a long table: the new row takes the columns as they are
            self._truncate_lines(len(self.lines) - 1)  # the bottom border
            self._add_table_row(table, table.rows[-1], table.widths, ())
            self._add_line(self._border(table.widths, "└", "┴", "┘"))

    def _layout_table(self) -> None:
        table = self._table
        assert table is not None
        self._truncate_lines(table.first_line)
        table.raw_line = -1
        columns = len(table.header)
        available = self.width - (3 * columns + 1)
        if available < 3 * columns:  # too narrow for a grid: the rows as written
            table.widths = None
            for row in [table.header, *table.rows]:
                self._add_line(DisplayLine(text="| " + " | ".join(row) + " |", sid=RAW_ROW_STYLE))
            return
        header = [render_inline(cell, ("table-header",)) for cell in table.header]
        body = [[render_inline(cell) for cell in self._cells(row, columns)] for row in table.rows]
        natural = [max(cell_len(cell.text()), 1) for cell in header]
        for row in body:
            for index, cell in enumerate(row):
                natural[index] = max(natural[index], cell_len(cell.text()))
        widths = _column_widths(natural, available)
        table.widths = widths
        self._add_line(self._border(widths, "┌", "┬", "┐"))
        self._add_table_row(table, table.header, widths, header)
        self._add_line(self._border(widths, "├", "┼", "┤"))
        for row, rendered in zip(table.rows, body):
            self._add_table_row(table, row, widths, rendered)
        self._add_line(self._border(widths, "└", "┴", "┘"))

    @staticmethod
    def _cells(row: list[str], columns: int) -> list[str]:
        return (row + [""] * columns)[:columns]

    def _border(self, widths: list[int], left: str, middle: str, right: str) -> DisplayLine:
        return DisplayLine(text=left + middle.join("─" * (width + 2) for width in widths) + right, sid=BORDER_STYLE)

    def _add_table_row(self, table: Table, row: list[str], widths: list[int], rendered) -> None:
        cells = list(rendered) or [render_inline(cell) for cell in self._cells(row, len(widths))]
        pieces = []
        for cell, width in zip(cells, widths):
            text = cell.text()
            pieces.append([(start, end) for start, end in wrap(text, 0, width)] if text else [(0, 0)])
        height = max(len(rows) for rows in pieces)
        for visual in range(height):
            out = Builder()
            out.emit("│", BORDER_STYLE)
            for column, (cell, width) in enumerate(zip(cells, widths)):
                text = cell.text()
                start, end = pieces[column][visual] if visual < len(pieces[column]) else (0, 0)
                piece = text[start:end].rstrip(" ") if end > start else ""
                used = cell_len(piece)
                gap = max(width - used, 0)
                align = table.aligns[column] if column < len(table.aligns) else "left"
                before = gap // 2 if align == "center" else gap if align == "right" else 0
                out.emit(" " + " " * before, 0)
                _copy_runs(cell, start, start + len(piece), out)
                out.emit(" " * (gap - before) + " ", 0)
                out.emit("│", BORDER_STYLE)
            line = DisplayLine(text=out.text())
            line.set_runs(out.run_starts, out.run_styles)
            self._add_line(line)

    # -- rows -------------------------------------------------------------------------------------
    def _add_line(self, line: DisplayLine) -> int:
        index = len(self.lines)
        self.lines.append(line)
        self.line_rows.append(len(self.row_line))
        self._wrap_rows(index, len(self.row_line), 0)
        return index

    def _rewrap_last(self, unchanged: int) -> None:
        """The last display line changed from character ``unchanged`` on: rewrap its rows from
        the row before the one holding that character (that row's wrap looked one row ahead)."""
        index = len(self.lines) - 1
        first_row = self.line_rows[index]
        row = max(bisect_right(self.row_start, unchanged, first_row) - 2, first_row) if unchanged > 0 else first_row
        start = self.row_start[row] if row < len(self.row_start) else 0
        old_ends = self.row_end[row:]
        del self.row_line[row:], self.row_start[row:], self.row_end[row:]
        changed = self._changed
        self._wrap_rows(index, row, start)
        # Rows that end where they ended, before the first changed character, look the same:
        # only the rest is drawn again.
        same = row
        while same - row < len(old_ends) and same < len(self.row_end) and self.row_end[same] == old_ends[same - row] and old_ends[same - row] <= unchanged:
            same += 1
        self._changed = min(changed, same)

    def _wrap_rows(self, index: int, row: int, start: int) -> None:
        line = self.lines[index]
        if line.rule or not line.text:
            rows = [(0, 0)]
        else:
            rows = wrap(line.text, start, max(self.width - line.rest.width, 1), max(self.width - line.first.width, 1))
        for begin, end in rows:
            self.row_line.append(index)
            self.row_start.append(begin)
            self.row_end.append(end)
        self._changed = min(self._changed, row)

    def _truncate_lines(self, index: int) -> None:
        if index >= len(self.lines):
            return
        row = self.line_rows[index]
        del self.lines[index:], self.line_rows[index:]
        del self.row_line[row:], self.row_start[row:], self.row_end[row:]
        self._changed = min(self._changed, row)


def _copy_runs(cell: Builder, start: int, end: int, out: Builder) -> None:
    """Emit ``cell``'s text from ``start`` to ``end`` with its styles."""
    text = cell.text()
    starts, styles = cell.run_starts, cell.run_styles
    for index in range(len(starts)):
        run_start = max(starts[index], start)
        run_end = min(starts[index + 1] if index + 1 < len(starts) else len(text), end)
        if run_start < run_end:
            out.emit(text[run_start:run_end], styles[index])
