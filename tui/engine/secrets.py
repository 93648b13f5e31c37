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


def register_credentials(api_key: str | None, url: str) -> None:
    """Remember an endpoint's key and its URL's password (each process that may echo them:
    the app and the streaming worker)."""
    register_secret(api_key)
    try:
        register_secret(urlsplit(url).password)
    except ValueError:
        pass


def redact_all(text: str) -> str:
    """:func:`redact` with every registered secret."""
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        text = redact(text, secret)
    return mask_urls(text)


def redact(text: str, secret: str | None) -> str:
    """Hide ``secret`` and every fragment of it of :data:`MIN_FRAGMENT` characters or more.

    Every character of ``text`` inside some fragment of the key (at any offset: fragments may
    overlap) is hidden, and each hidden stretch becomes one ``…``; a stretch that is exactly
    the key becomes its mask (``sk-…wxyz``) instead. Servers echo keys as head and tail around
    stars ("sk-abc1****wxyz"): all of it that is the key's goes. Nothing is left that, read
    together with what stands next to it, shows more of the key than its mask does.
    """
    if not secret or len(secret) < MIN_FRAGMENT or not text:
        return text
    grams = {secret[i : i + MIN_FRAGMENT] for i in range(len(secret) - MIN_FRAGMENT + 1)}
    hidden_to = -1  # positions before this are hidden
    stretches: list[list[int]] = []
    for start in range(len(text) - MIN_FRAGMENT + 1):
        if text[start : start + MIN_FRAGMENT] not in grams:
            continue
        end = start + MIN_FRAGMENT
        while end < len(text) and text[start : end + 1] in secret:
            end += 1
        if stretches and start <= hidden_to:
            stretches[-1][1] = max(stretches[-1][1], end)
        else:
            stretches.append([start, end])
        hidden_to = max(hidden_to, end)
    if not stretches:
        return text
    mask = mask_secret(secret)
    prefix = mask.partition("…")[0]
    out: list[str] = []
    position = 0
    for start, end in stretches:
        out.append(text[position:start])
        before, after = text[start - 1 : start], text[end : end + 1]
        # The mask shows the key's last 4 (and "sk-"): not where a neighbour would extend
        # them into a longer fragment.
        extends_tail = bool(after) and (secret[-MIN_FRAGMENT:] + after) in secret
        extends_prefix = bool(before and prefix) and (before + prefix) in secret
        whole = text[start:end] == secret and not extends_tail and not extends_prefix
        out.append(mask if whole else "…")
        position = end
    out.append(text[position:])
    return "".join(out)


def mask_url(url: str) -> str:
    """A URL with any password (and a user name longer than a word) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL urlsplit can read ("http://u:p@[::1"): mask it as free text
        return mask_urls(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{_STARS}@{host}", parts.path, parts.query, parts.fragment))


def mask_urls(text: str) -> str:
    """Every ``scheme://user:password@host`` in free text, with its credentials masked."""
    if "@" not in text or "://" not in text:
        return text
    import re

    # Up to the last "@" before the path: a password may hold an "@" typed as it is.
    return re.sub(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s]*@", lambda m: f"{m.group(1)}{_STARS}@", text)
