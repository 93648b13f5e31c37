"""Secrets are never shown in full: only a masked form leaves this module.

A key shows at most its last 4 characters (and the well-known ``sk-`` prefix); a password in a
URL shows as ``***``. Text that may echo a key (a server's error message, a log line) goes
through :func:`redact`, which hides the key and every fragment of it of 4 characters or more.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit, urlunsplit

#: Fragments of a key this long or longer are hidden wherever they appear.
MIN_FRAGMENT = 4
#: Keys shorter than this are hidden whole and show nothing of themselves.
_SHORT = 12
_STARS = "***"

_known: set[str] = set()
_known_lock = threading.Lock()


def mask_secret(secret: str | None) -> str:
    """``sk-proj-abc…wxyz`` → ``sk-…wxyz``; short or empty keys show nothing of themselves."""
    if not secret:
        return "(none)"
    if len(secret) < _SHORT:
        return "…" * 3
    prefix = "sk-" if secret.startswith("sk-") else ""
    return f"{prefix}…{secret[-4:]}"


def register_secret(secret: str | None) -> None:
    """Remember a secret so that :func:`redact_all` hides it from any text (logs, notes)."""
    if secret and len(secret) >= MIN_FRAGMENT:
        with _known_lock:
            _known.add(secret)


def redact_all(text: str) -> str:
    """:func:`redact` with every registered secret."""
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        text = redact(text, secret)
    return mask_urls(text)


def redact(text: str, secret: str | None) -> str:
    """Hide ``secret`` and every fragment of it of :data:`MIN_FRAGMENT` characters or more.

    The whole key becomes its mask (``sk-…wxyz``); any other fragment, as servers echo keys
    ("sk-abc1****wxyz"), becomes ``…``, keeping only what the mask itself shows.
    """
    if not secret or len(secret) < MIN_FRAGMENT or not text:
        return text
    mask = mask_secret(secret)
    placeholder = "\x00"
    text = text.replace(secret, placeholder)
    out: list[str] = []
    position = 0
    while position < len(text):
        end = _longest_fragment_end(text, position, secret)
        if end - position >= MIN_FRAGMENT:
            fragment = text[position:end]
            # What the mask shows anyway: the last 4 ("sk-" is shorter than any fragment).
            out.append(fragment if secret.endswith(fragment) and len(fragment) <= 4 else "…")
            position = end
        else:
            out.append(text[position])
            position += 1
    return "".join(out).replace(placeholder, mask)


def _longest_fragment_end(text: str, start: int, secret: str) -> int:
    end = start
    while end < len(text) and text[start : end + 1] in secret:
        end += 1
    return end


def mask_url(url: str) -> str:
    """A URL with any password (and a user name longer than a word) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{_STARS}@{host}", parts.path, parts.query, parts.fragment))


def mask_urls(text: str) -> str:
    """Every ``scheme://user:password@host`` in free text, with its credentials masked."""
    if "@" not in text or "://" not in text:
        return text
    import re

    return re.sub(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@", lambda m: f"{m.group(1)}{_STARS}@", text)
