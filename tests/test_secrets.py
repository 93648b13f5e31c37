"""Keys are never shown: mask_secret shows at most the last 4 characters; redact hides the rest."""

from __future__ import annotations

import random
import string

import pytest

from tui.engine.secrets import mask_secret, redact

KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7CD0EF3GH6IJ9wxyz"
PLAIN_KEY = "gsk_0123456789abcdefghijABCDEFGHIJ5678wxyz"


def revealed(masked: str, secret: str, minimum: int = 3) -> list[str]:
    """Substrings of ``secret`` (at least ``minimum`` long) that appear in ``masked``."""
    found = []
    for size in range(len(secret), minimum - 1, -1):
        for start in range(len(secret) - size + 1):
            piece = secret[start : start + size]
            if piece in masked and not any(piece in longer for longer in found):
                found.append(piece)
    return found


def random_keys(count: int = 50) -> list[str]:
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits
    keys = []
    for _ in range(count):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(12, 80)))
        keys.append(rng.choice(["sk-", "sk-proj-", "", "key-"]) + body)
    return keys


@pytest.mark.parametrize("secret", [KEY, PLAIN_KEY, *random_keys()])
def test_mask_shows_at_most_the_last_four(secret: str):
    masked = mask_secret(secret)
    assert secret not in masked
    assert masked.endswith(secret[-4:])
    # Nothing of the key but its last 4 (and the well-known "sk-" type prefix).
    leftover = masked.removesuffix(secret[-4:])
    assert leftover in ("…", "sk-…")
    for piece in revealed(masked, secret, minimum=5):
        pytest.fail(f"mask shows {piece!r}")


@pytest.mark.parametrize("secret", ["short", "sk-12345678", "abcdefghijk"])
def test_short_keys_show_nothing_of_themselves(secret: str):
    masked = mask_secret(secret)
    assert not any(ch in masked for ch in secret if ch.isalnum())


@pytest.mark.parametrize("secret", [None, ""])
def test_no_key(secret):
    assert mask_secret(secret) == "(none)"


def test_redact_removes_the_full_key():
    text = f"Error: key {KEY} was rejected; retry with {KEY}."
    out = redact(text, KEY)
    assert KEY not in out
    assert out.count(mask_secret(KEY)) == 2
    assert out.startswith("Error: key ") and out.endswith(" was rejected; retry with " + mask_secret(KEY) + ".")


def test_redact_full_key_in_json_and_headers():
    text = f'{{"error": {{"message": "bad", "key": "{PLAIN_KEY}"}}}} Authorization: Bearer {PLAIN_KEY}'
    out = redact(text, PLAIN_KEY)
    assert PLAIN_KEY not in out
    assert not revealed(out, PLAIN_KEY, minimum=5) or revealed(out, PLAIN_KEY, minimum=5) == [PLAIN_KEY[-4:]]


@pytest.mark.parametrize(
    ("secret", "echo"),
    [
        # The style of OpenAI's 401 message: the key's head and tail around stars.
        ("sk-abc123def456ghi789jkl012mno345wxyz", "sk-abc123************wxyz"),
        ("sk-abc123def456ghi789jkl012mno345wxyz", "sk-abc12***************************wxyz"),
        (KEY, KEY[:12] + "*" * 30 + KEY[-4:]),
        (KEY, KEY[:8] + "*" * 40 + KEY[-4:]),
        (PLAIN_KEY, PLAIN_KEY[:7] + "****" + PLAIN_KEY[-4:]),
        # A longer tail than the last 4.
        ("sk-abc123def456ghi789jkl012mno345wxyz", "sk-abc1*****345wxyz"),
    ],
)
def test_redact_hides_a_starred_echo_of_the_key(secret: str, echo: str):
    text = f"Error code: 401 - Incorrect API key provided: {echo}. You can find your API key at https://platform.openai.com/account/api-keys."
    out = redact(text, secret)
    assert echo not in out
    # No more of the key than mask_secret shows: the last 4 (and "sk-", which every key has).
    for piece in revealed(out, secret, minimum=4):
        assert piece == secret[-4:] or (piece in "sk-proj-" and secret.startswith(piece)), piece
    assert "Incorrect API key provided:" in out
    assert out.endswith("You can find your API key at https://platform.openai.com/account/api-keys.")


@pytest.mark.parametrize("secret", [KEY, PLAIN_KEY, *random_keys(10)])
def test_redact_removes_every_long_fragment(secret: str):
    """Any run of 15+ characters of the key, wherever it starts, does not survive."""
    for size in range(15, len(secret) + 1):
        for start in range(0, len(secret) - size + 1):
            fragment = secret[start : start + size]
            out = redact(f"seen: {fragment}!", secret)
            assert fragment not in out, fragment
            assert not any(len(piece) >= 12 for piece in revealed(out, secret, minimum=12)), (fragment, out)


def test_redact_leaves_unrelated_text_alone():
    text = "401 Unauthorized: http://localhost:8080/v1 rejected the API key. ***note*** a****b sk-****"
    assert redact(text, KEY) == text
    assert redact(text, None) == text
    assert redact(text, "") == text
