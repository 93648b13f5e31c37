"""Inline Markdown (emphasis, code spans, links) rendered as plain text plus style runs.

The scanner turns source like ``see **this** `code` [docs](https://x.test)`` into the text
that is drawn (``see this code docs (https://x.test)``) and runs of style ids. Model text is
data: nothing here is ever parsed as Rich markup, only these Markdown markers are consumed.

Streaming needs three ways to end a scan:

* ``STREAM`` stops where a decision needs text that has not arrived (``**`` at the very end:
  bold or not?). Everything before that point is final, so a growing line is scanned once,
  in O(append), however long it gets.
* ``TAIL`` renders the undecided rest for display only, as if the text ended there, and hides
  a marker run at the very end (the next chunk almost always decides it: hiding avoids a
  one-frame flash of ``**``).
* ``FINAL`` is for a complete line: an emphasis or code span opens only if it closes.

Emphasis and code spans do not carry over to the next line (a stray ``**`` styles at most the
rest of its line).
"""

from __future__ import annotations

import re
import unicodedata
from array import array

STREAM, TAIL, FINAL = 0, 1, 2

#: Characters where inline syntax may start; everything between them is copied as it is.
_SPECIAL = re.compile(r"[\\`*_~\[!<]")
_BACKTICKS = re.compile(r"`+")
_AUTOLINK = re.compile(r"<(https?://[^\s<>]+)>")
#: Longest link text + destination held back while a link may still be arriving.
LINK_LIMIT = 400
_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")

# -- style ids ------------------------------------------------------------------------------------
#: Every style the layout uses is a tuple of component names (later ones win), interned as a
#: small int so that runs are compact arrays; the pane resolves ids to Rich styles when drawing.
_STYLE_IDS: dict[tuple[str, ...], int] = {(): 0}
STYLE_KEYS: list[tuple[str, ...]] = [()]


def style_id(*components: str) -> int:
    """The id of the style made of these component names (``"link:URL"``, ``"pyg:TOKEN"`` allowed)."""
    sid = _STYLE_IDS.get(components)
    if sid is None:
        sid = _STYLE_IDS[components] = len(STYLE_KEYS)
        STYLE_KEYS.append(components)
    return sid


def is_web_url(url: str) -> bool:
    return url.startswith(("https://", "http://"))


class Builder:
    """Drawn text and its style runs, built piece by piece."""

    __slots__ = ("parts", "run_starts", "run_styles", "length")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.run_starts = array("q")
        self.run_styles = array("q")
        self.length = 0

    def emit(self, text: str, sid: int) -> None:
        if not text:
            return
        if not self.run_styles or self.run_styles[-1] != sid:
            self.run_starts.append(self.length)
            self.run_styles.append(sid)
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> str:
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""


class InlineState:
    """Open emphasis (a stack of (marker char, 1 italic / 2 bold / 2 strike)) and an open code span."""

    __slots__ = ("stack", "code", "link")

    def __init__(self, stack: tuple[tuple[str, int], ...] = (), code: int = 0, link: str | None = None) -> None:
        self.stack = list(stack)
        self.code = code  # length of the backtick run that opened the code span, 0 if none
        self.link = link  # set while a link's text is rendered

    def copy(self) -> InlineState:
        return InlineState(tuple(self.stack), self.code, self.link)

    @property
    def clean(self) -> bool:
        return not self.stack and not self.code


_sid_cache: dict[tuple, int] = {}


def _sid(base: tuple[str, ...], state: InlineState, extra: str = "") -> int:
    stack = state.stack
    key = (base, tuple(stack), state.code, state.link, extra)
    sid = _sid_cache.get(key)
    if sid is None:
        components = list(base)
        if any(size == 2 and char != "~" for char, size in stack):
            components.append("bold")
        if any(size == 1 for _char, size in stack):
            components.append("italic")
        if any(char == "~" for char, _size in stack):
            components.append("strike")
        if state.code:
            components.append("inline-code")
        if state.link is not None:
            components.append("link")
            if is_web_url(state.link):
                components.append("link:" + state.link)
        if extra:
            components.append(extra)
        sid = _sid_cache[key] = style_id(*components)
    return sid


def _is_space(char: str) -> bool:
    return char.isspace()


def _is_punctuation(char: str) -> bool:
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def scan(src: str, pos: int, state: InlineState, out: Builder, base: tuple[str, ...], mode: int) -> int:
    """Render ``src[pos:]`` into ``out``, updating ``state``; return where the scan stopped
    (``len(src)`` unless ``mode`` is STREAM and a decision needs more text)."""
    length = len(src)
    while pos < length:
        if state.code:
            pos = _code_span_content(src, pos, state, out, base, mode)
            if pos < 0:
                return -pos - 1
            continue
        match = _SPECIAL.search(src, pos)
        if match is None:
            out.emit(src[pos:], _sid(base, state))
            return length
        special = match.start()
        if special > pos:
            out.emit(src[pos:special], _sid(base, state))
            pos = special
        char = src[pos]
        if char == "\\":
            if pos + 1 >= length:
                if mode == STREAM:
                    return pos
                if mode == FINAL:
                    out.emit("\\", _sid(base, state))
                return length
            following = src[pos + 1]
            if following in _ASCII_PUNCTUATION:
                out.emit(following, _sid(base, state))
                pos += 2
            else:
                out.emit("\\", _sid(base, state))
                pos += 1
        elif char == "`":
            run_end = _BACKTICKS.match(src, pos).end()  # type: ignore[union-attr]
            run = run_end - pos
            if run_end >= length and mode != FINAL:
                return pos if mode == STREAM else length
            if mode == FINAL and not _has_closing_backticks(src, run_end, run):
                out.emit(src[pos:run_end], _sid(base, state))
            else:
                state.code = run
            pos = run_end
        elif char in "*_~":
            pos = _delimiter_run(src, pos, state, out, base, mode)
            if pos < 0:
                return -pos - 1
        elif char == "[" or char == "!":
            pos = _link(src, pos, state, out, base, mode)
            if pos < 0:
                return -pos - 1
        else:  # "<"
            match = _AUTOLINK.match(src, pos)
            if match is not None:
                url = match.group(1)
                out.emit(url, _sid(base, InlineState(link=url)))
                pos = match.end()
            elif mode == STREAM and _autolink_may_follow(src[pos:]):
                return pos
            else:
                out.emit("<", _sid(base, state))
                pos += 1
    return length


def _autolink_may_follow(rest: str) -> bool:
    """Whether ``rest`` (from a ``<`` to the end of the text so far) may still become ``<https://…>``."""
    if len(rest) >= LINK_LIMIT or ">" in rest or any(char.isspace() for char in rest):
        return False
    return rest.startswith(("<http://", "<https://")) or "<https://".startswith(rest) or "<http://".startswith(rest)


#: For the line a FINAL scan is in: where the last possible closer of each marker starts, so
#: that each opener asks in O(1) (searching on from every opener is quadratic on hostile text
#: such as ``*a *a *a …``).
_closers: list = [None, {}]


def _last_closer(src: str, key: str) -> int:
    if _closers[0] is not src:
        _closers[0], _closers[1] = src, {}
    cache = _closers[1]
    last = cache.get(key)
    if last is None:
        last = -1
        if key.startswith("`"):  # a backtick run of exactly this length
            for match in _BACKTICKS.finditer(src):
                if match.end() - match.start() == len(key):
                    last = match.start()
        else:  # the marker, not after a space
            found = src.rfind(key)
            while found > 0 and _is_space(src[found - 1]):
                found = src.rfind(key, 0, found)
            last = found if found > 0 else -1
        cache[key] = last
    return last


def _has_closing_backticks(src: str, start: int, run: int) -> bool:
    return _last_closer(src, "`" * run) >= start


def _code_span_content(src: str, pos: int, state: InlineState, out: Builder, base: tuple[str, ...], mode: int) -> int:
    """Inside a code span: emit up to its closing backticks. A negative result -(p+1) means
    "stop at p" (STREAM waiting for more text)."""
    length = len(src)
    sid = _sid(base, state)
    for match in _BACKTICKS.finditer(src, pos):
        if match.end() >= length and mode != FINAL:  # the run may grow: a closer or not?
            out.emit(src[pos : match.start()], sid)
            return -match.start() - 1 if mode == STREAM else -length - 1
        if match.end() - match.start() == state.code:
            out.emit(src[pos : match.start()], sid)
            state.code = 0
            return match.end()
    out.emit(src[pos:], sid)
    return length


def _delimiter_run(src: str, pos: int, state: InlineState, out: Builder, base: tuple[str, ...], mode: int) -> int:
    length = len(src)
    char = src[pos]
    end = pos + 1
    while end < length and src[end] == char:
        end += 1
    if end >= length and mode != FINAL:
        return -pos - 1 if mode == STREAM else -length - 1  # TAIL: hidden until decided
    run = end - pos
    before = src[pos - 1] if pos > 0 else " "
    after = src[end] if end < length else " "
    left = not _is_space(after) and (not _is_punctuation(after) or _is_space(before) or _is_punctuation(before))
    right = not _is_space(before) and (not _is_punctuation(before) or _is_space(after) or _is_punctuation(after))
    if char == "_":
        can_open = left and (not right or _is_punctuation(before))
        can_close = right and (not left or _is_punctuation(after))
    else:
        can_open, can_close = left, right
    if char == "~" and run != 2:
        can_open = can_close = False
    remaining = run
    if can_close:
        stack = state.stack
        while remaining and stack and stack[-1][0] == char and stack[-1][1] <= remaining:
            remaining -= stack.pop()[1]
    if remaining and can_open and remaining == run:
        if mode != FINAL or _may_close(src, end, char, remaining):
            if char == "~":
                state.stack.append((char, 2))
            elif remaining >= 3:
                state.stack += [(char, 1), (char, 2)]
            else:
                state.stack.append((char, remaining))
            remaining = 0
    if remaining:
        out.emit(char * remaining, _sid(base, state))
    return end


def _may_close(src: str, start: int, char: str, run: int) -> bool:
    """Whether a run of ``char`` that could close an opener of ``run`` follows (FINAL mode)."""
    return _last_closer(src, char * min(run, 2)) > start


def _link(src: str, pos: int, state: InlineState, out: Builder, base: tuple[str, ...], mode: int) -> int:
    """``[text](url)`` or ``![alt](url)`` at ``pos``; a literal bracket otherwise."""
    length = len(src)
    image = src[pos] == "!"
    if image:
        if pos + 1 >= length:
            if mode == STREAM:
                return -pos - 1
            out.emit("!", _sid(base, state))
            return length
        if src[pos + 1] != "[":
            out.emit("!", _sid(base, state))
            return pos + 1
    open_bracket = pos + 1 if image else pos
    close_bracket = src.find("]", open_bracket + 1, open_bracket + LINK_LIMIT)
    held = mode == STREAM and length - pos < LINK_LIMIT
    if close_bracket < 0:
        if held:
            return -pos - 1
        out.emit(src[pos : open_bracket + 1], _sid(base, state))
        return open_bracket + 1
    if close_bracket + 1 >= length:
        if held:
            return -pos - 1
        out.emit(src[pos : open_bracket + 1], _sid(base, state))
        return open_bracket + 1
    if src[close_bracket + 1] != "(":
        out.emit(src[pos : open_bracket + 1], _sid(base, state))
        return open_bracket + 1
    url_start = close_bracket + 2
    url_end = url_start
    while url_end < length and src[url_end] != ")" and not src[url_end].isspace() and url_end - pos < LINK_LIMIT:
        url_end += 1
    if url_end >= length or (src[url_end] != ")" and not src[url_end].isspace() and url_end - pos >= LINK_LIMIT):
        if held:
            return -pos - 1
        if mode == TAIL and url_end >= length:  # the destination is arriving: show it so far
            _emit_link(src[open_bracket + 1 : close_bracket], src[url_start:url_end], image, out, base, hyperlink=False)
            return length
        out.emit(src[pos : open_bracket + 1], _sid(base, state))
        return open_bracket + 1
    if src[url_end] != ")":  # whitespace in the destination: not a link we draw as one
        out.emit(src[pos : open_bracket + 1], _sid(base, state))
        return open_bracket + 1
    _emit_link(src[open_bracket + 1 : close_bracket], src[url_start:url_end], image, out, base)
    return url_end + 1


def _emit_link(text: str, url: str, image: bool, out: Builder, base: tuple[str, ...], hyperlink: bool = True) -> None:
    """The link's text in link style (an OSC 8 hyperlink for http/https), then its URL dimmed."""
    if image:
        out.emit("image: ", style_id(*base, "link-url"))
    link_state = InlineState(link=url if hyperlink else "")
    if text and text != url:
        scan(text, 0, link_state, out, base, FINAL)
        if url:
            out.emit(" (", style_id(*base, "link-url"))
            url_style = style_id(*base, "link-url", "link:" + url) if hyperlink and is_web_url(url) else style_id(*base, "link-url")
            out.emit(url, url_style)
            out.emit(")", style_id(*base, "link-url"))
    else:
        out.emit(url or text, _sid(base, link_state))


def render(src: str, base: tuple[str, ...] = ()) -> Builder:
    """A complete piece of inline Markdown (a table cell, a finished line), rendered."""
    out = Builder()
    scan(src, 0, InlineState(), out, base, FINAL)
    return out
