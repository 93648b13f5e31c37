"""Secrets are never shown in full: only a masked form leaves this module."""

from __future__ import annotations


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
    # Servers often echo a key partly starred ("sk-abc***wxyz"): hide long runs of it too.
    for size in (16, 12):
        for start in range(0, max(0, len(secret) - size) + 1, 4):
            fragment = secret[start : start + size]
            if fragment in text:
                text = text.replace(fragment, "…")
    return text
