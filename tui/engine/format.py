"""How figures are written, in one place: the panel, the tables, exports and the CLI share it."""

from __future__ import annotations

#: What a figure shows when it does not apply or is not known yet.
NONE = "–"


def seconds(value: float | None) -> str:
    """To the millisecond or finer: "123.4 ms" below a second, "2.224 s" above."""
    if value is None:
        return NONE
    if abs(value) < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:,.3f} s"


def quantity(number: int, noun: str, plural: str | None = None) -> str:
    """"1 run", "2 runs", "1,024 chunks": the noun in the number's grammatical number."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {plural or noun + 's'}"


def rate(value: float | None) -> str:
    """A rate such as tokens per second, to one decimal."""
    return NONE if value is None else f"{value:,.1f}"


def count(value: int | float | None) -> str:
    """A whole count with thousands separators; a fractional median keeps one decimal."""
    if value is None:
        return NONE
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def ratio(value: float | None) -> str:
    return NONE if value is None else f"{value:,.1f}×"


def path(value) -> str:  # value: a path-like
    """A path as shown to a person: the home directory as ``~``."""
    from pathlib import Path

    text = str(value)
    home = str(Path.home())
    return "~" + text[len(home) :] if home != "/" and (text == home or text.startswith(home + "/")) else text
