"""Everything from a server is data: one function makes its text safe to draw and to store.

Answers, reasoning, error messages, model names and finish reasons all pass through
:func:`server_text` where they enter streamtui (the stream parser, the model list, error
descriptions), so nothing downstream can meet a terminal control sequence. Controls become
visible symbols of the same length, so chunk sizes and offsets do not change:

- C0 controls and DEL (ESC included) become their Unicode control pictures (``␛``); newline
  and tab are kept (the output pane expands tabs);
- C1 controls (U+0080–U+009F, which some terminals read as ESC sequences) and bidirectional
  overrides and isolates (U+202A–U+202E, U+2066–U+2069: "Trojan Source") become U+FFFD;
- lone surrogates (U+D800–U+DFFF: JSON's ``"\\ud800"`` decodes to one) become U+FFFD: no
  UTF-8 encoder takes them (tiktoken's counter, SQLite, the terminal).

Rich markup needs no escaping here: the interface never interprets server text as markup
(it is drawn as plain segments or ``Text``), which the hostile-input tests check.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_PICTURES = {code: chr(0x2400 + code) for code in range(0x20)} | {0x7F: "\u2421"}


def _picture(match: re.Match[str]) -> str:
    return _PICTURES.get(ord(match.group()), "\ufffd")


def server_text(text: str) -> str:
    """``text`` with every control and bidi override made visible and every lone surrogate
    replaced; the same length."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_picture, text)


def one_line(text: str, limit: int = 300) -> str:
    """Server text for a one-line place (a note, a table cell): safe, whitespace folded, cut."""
    text = " ".join(server_text(str(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
