"""Secrets are never shown in full: only a masked form leaves this module."""

from __future__ import annotations

import re

#: A word with a run of stars in it, as servers echo a key: head, stars, tail.
_STARRED = re.compile(r"([\w-]*)(\*{3,})([\w-]*)")


def mask_secret(secret: str | None) -> str:
    """``sk-proj-abc…wxyz`` → ``sk-…wxyz``; short or empty keys show nothing of themselves."""
    if not secret:
        return "(none)"
    if len(secret) < 12:
        return "…" * 3
    prefix = secret[:3] if secret.startswith("sk-") else ""
    return f"{prefix}…{secret[-4:]}"


def redact(text: str, secret: str | None) -> str:
    """Replace every occurrence of ``secret`` (and its long fragments) in ``text``."""
    if not secret or len(secret) < 8:
        return text
    text = text.replace(secret, mask_secret(secret))
    # Servers often echo a key partly starred ("sk-abc123***wxyz"): keep of its head only
    # "sk-", and of its tail only the last 4, as mask_secret does.
    def starred(match: re.Match[str]) -> str:
        head, stars, tail = match.groups()
        if len(head) > 3 and secret.startswith(head):
            head = "sk-" if head.startswith("sk-") else ""
        if len(tail) > 4 and secret.endswith(tail):
            tail = tail[-4:]
        return head + stars + tail

    text = _STARRED.sub(starred, text)
    # Hide long runs of it elsewhere too.
    for size in (16, 12):
        for start in range(0, max(0, len(secret) - size) + 1, 4):
            fragment = secret[start : start + size]
            if fragment in text:
                text = text.replace(fragment, "…")
    return text
