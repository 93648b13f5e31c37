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


# -- what is left shows no more of the key than its mask -------------------------------------------


def revealed_beyond_mask(text: str, secret: str) -> list[str]:
    """Every stretch of ``text`` of 4 characters or more that is part of ``secret``, but for the
    last 4 where they stand as the tail of the key's own mask (``sk-…wxyz``): what a reader
    learns of the key beyond the mask. Overlaps and neighbours count (no segmentation)."""
    mask = mask_secret(secret)
    tails = set()
    at = text.find(mask)
    while at >= 0:
        tails.add(at + len(mask) - 4)
        at = text.find(mask, at + 1)
    found = []
    for start in range(len(text)):
        end = start
        while end < len(text) and text[start : end + 1] in secret:
            end += 1
        if end - start >= 4 and not (end - start == 4 and start in tails and len(secret) >= 12):
            found.append(text[start:end])
    return found


def echoes(rng: random.Random, secret: str) -> str:
    """A server's echo: pieces of the key (whole, head, tail, middle, overlapping) run together
    or between separators, as error messages quote them."""
    pieces = []
    for _ in range(rng.randint(1, 4)):
        start = rng.randrange(len(secret))
        end = rng.randrange(start, len(secret) + 1)
        pieces.append(rng.choice([secret, secret[start:end], secret[:start], secret[end:]]))
    return rng.choice(["", "x", "*", "sk-", "key: ", "a", "b"]).join(pieces) + rng.choice(["", "****", secret[-4:], "b", "ab"])


def fuzz_keys(count: int = 400) -> list[str]:
    """Realistic keys, and keys of two or three letters, whose fragments recur and overlap."""
    rng = random.Random(11)
    keys = []
    for _ in range(count):
        alphabet = rng.choice([string.ascii_letters + string.digits, "ab", "abc12", "sk-ab"])
        keys.append(rng.choice(["sk-", "sk-proj-", ""]) + "".join(rng.choice(alphabet) for _ in range(rng.randint(12, 60))))
    return keys


def test_no_echo_shows_more_of_the_key_than_its_mask():
    """Thousands of echoes (seeded): what redact leaves never holds 4 characters of the key
    in a row, read across what it left next to each other, but the mask's own last 4."""
    rng = random.Random(5)
    failures = []
    for secret in fuzz_keys():
        for _ in range(10):
            text = echoes(rng, secret)
            left = revealed_beyond_mask(redact(text, secret), secret)
            if left:
                failures.append((secret, text, redact(text, secret), left))
    assert failures == [], failures[:3]


@pytest.mark.parametrize(
    ("secret", "text"),
    [
        # A greedy cut at a shorter fragment left the next 5 in clear.
        ("sk-babbabbaaaaabbbbbbaababa", "bababa"),
        # The mask's last 4 and the echo's own tail, side by side.
        ("sk-proj-pO9PsObAUOjOX7zYr2lXe0XMaw6qZTA3RItjD1qFkDGcrGgVLBeweQCbkGT", "sk-proj-pO9PsObAUOjOX7zYr2lXe0XMaw6qZTA3RItjD1qFkDGcrGgVLBeweQCbkGTbkGT"),
        # An 11-character middle fragment, as a server quoting part of the key.
        (KEY, f"key ...{KEY[9:20]}... is over quota"),
    ],
)
def test_fragments_next_to_each_other_are_hidden_together(secret, text):
    out = redact(text, secret)
    assert revealed_beyond_mask(out, secret) == [], out


def test_the_placeholder_key_is_no_secret_in_server_messages():
    """Servers without auth get a placeholder key: their words are not redacted by it."""
    from tui.engine.endpoint import PLACEHOLDER_KEY
    from tui.engine.errors import server_detail

    assert server_detail("authentication needed: no key-needed here", PLACEHOLDER_KEY) == "authentication needed: no key-needed here"
    assert server_detail(f"bad key {KEY}", KEY) == f"bad key {mask_secret(KEY)}"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://user:PASSWORD@127.0.0.1:8080/v1", "http://***@127.0.0.1:8080/v1"),
        ("http://PASSWORD@127.0.0.1:8080/v1", "http://***@127.0.0.1:8080/v1"),
        ("http://user:pa@ss@host/v1", "http://***@host/v1"),
        ("https://user:PASSWORD@[::1]:8443/v1?q=1", "https://***@[::1]:8443/v1?q=***"),
        ("http://user:PASSWORD@[::1/v1", "http://***@[::1/v1"),  # urlsplit refuses it
        ("http://127.0.0.1:8080/v1?who=a@b", "http://127.0.0.1:8080/v1?who=***"),  # query values are masked too
    ],
)
def test_mask_url_hides_userinfo(url, masked):
    from tui.engine.secrets import mask_url, mask_urls

    assert mask_url(url) == masked
    assert mask_urls(f"see {url} now") == f"see {masked} now"


def test_redact_all_hides_registered_secrets_and_url_credentials():
    from tui.engine.secrets import redact_all, register_secret

    secret = "reg-" + "Zx8Qw3Er6Ty9Ui2Op5As"
    register_secret(secret)
    out = redact_all(f"Traceback: {secret} at http://u:hunter2pass@h/v1 ({secret[5:16]})")
    assert revealed_beyond_mask(out, secret) == []
    assert "hunter2pass" not in out and "http://***@h/v1" in out
