"""Secrets are never shown in full: only a masked form leaves this module.

A key shows at most its last 4 characters (and the well-known ``sk-`` prefix); a URL's user
and password, and every value of its query string (``?key=***``: proxies take keys there),
show as ``***``. Text that may echo a key (a server's error message, a log line) goes through
:func:`redact`, which hides the key and every fragment of it of 4 characters or more.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote_plus, urlsplit, urlunsplit

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
    """Remember an endpoint's key, its URL's password and its query values, as written and
    decoded (each process that may echo them: the app and the streaming worker). Values
    shorter than :data:`MIN_FRAGMENT` are not remembered: they would hide too much."""
    register_secret(api_key)
    try:
        parts = urlsplit(url)
        register_secret(parts.password)
    except ValueError:
        return
    for value in _query_values(parts.query):
        register_secret(value)
        register_secret(unquote_plus(value))


def _query_values(query: str) -> list[str]:
    """The values of a query string as written; an item without ``=`` counts as a value."""
    return [item.partition("=")[2] if "=" in item else item for item in query.split("&") if item]


def _mask_query(query: str) -> str:
    """A query string with every value as ``***`` (an item without ``=`` is ``***`` whole)."""
    items = []
    for item in query.split("&"):
        name, equals, value = item.partition("=")
        items.append(item if not item or (equals and not value) else f"{name}={_STARS}" if equals else _STARS)
    return "&".join(items)


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
    """A URL with its user and password replaced by ``***``, and every query value too."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL urlsplit can read ("http://u:p@[::1"): mask it as free text
        return mask_urls(url)
    if "@" not in parts.netloc and not parts.query:
        return url
    netloc = f"{_STARS}@{parts.netloc.rpartition('@')[2]}" if "@" in parts.netloc else parts.netloc
    return urlunsplit((parts.scheme, netloc, parts.path, _mask_query(parts.query), parts.fragment))


# Up to the last "@" before the path: a password may hold an "@" typed as it is.
_USERINFO_IN_TEXT = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s]*@")
# A URL's query in free text ends where the URL does: at a space, a quote, a bracket or "#".
_QUERY_IN_TEXT = re.compile(r"""([a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#"'<>`]*\?)([^\s#"'<>`]*)""")
#: Punctuation that ends a sentence rather than a query value: "(see http://h/?k=v)." keeps ")."
_TRAILING = ".,;:!?)]}"


def _mask_query_in_text(match: re.Match[str]) -> str:
    query = match.group(2)
    value = query.rstrip(_TRAILING)
    return match.group(1) + _mask_query(value) + query[len(value) :]


def mask_urls(text: str) -> str:
    """Every URL in free text with its credentials (``scheme://user:password@host``) and its
    query values masked."""
    if "://" not in text:
        return text
    if "@" in text:
        text = _USERINFO_IN_TEXT.sub(lambda m: f"{m.group(1)}{_STARS}@", text)
    if "?" in text:
        text = _QUERY_IN_TEXT.sub(_mask_query_in_text, text)
    return text
