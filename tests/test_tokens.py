"""Bundled tiktoken files, offline loading, model → encoding, and the incremental counter."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tui.engine import tokens
from tui.engine.tokens import (
    IncrementalTokenCounter,
    TokenizerDataError,
    count_text,
    encoding_for_model,
    load_encoding,
)

BASE_ENCODINGS = ("r50k_base", "p50k_base", "cl100k_base", "o200k_base")
BUNDLED_DIR = Path(tokens.__file__).parent / "encodings"

#: Token ids as published by tiktoken for "hello world" (checked once against tiktoken itself).
HELLO_WORLD_IDS = {
    "r50k_base": [31373, 995],
    "p50k_base": [31373, 995],
    "cl100k_base": [15339, 1917],
    "o200k_base": [24912, 2375],
}


def installed_tiktoken_pins() -> dict[str, str]:
    """Rank file name → sha256, read from the installed tiktoken's source with ``ast``.

    Deliberately independent of tokens.py's regex: every ``load_tiktoken_bpe(URL,
    expected_hash=...)`` call in tiktoken_ext/openai_public.py.
    """
    spec = importlib.util.find_spec("tiktoken_ext.openai_public")
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())
    pins: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load_tiktoken_bpe":
            url = node.args[0].value
            digest = next(k.value.value for k in node.keywords if k.arg == "expected_hash")
            name = url.rsplit("/", 1)[-1].removesuffix(".tiktoken")
            assert pins.setdefault(name, digest) == digest
    return pins


@pytest.fixture(scope="module")
def encodings():
    return {name: load_encoding(name) for name in BASE_ENCODINGS}


# -- bundled files ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BASE_ENCODINGS)
def test_bundled_file_matches_tiktoken_pin(name: str):
    pins = installed_tiktoken_pins()
    assert name in pins
    data = (BUNDLED_DIR / f"{name}.tiktoken").read_bytes()
    assert hashlib.sha256(data).hexdigest() == pins[name]
    assert tokens.expected_sha256(name) == pins[name]


@pytest.mark.parametrize("name", BASE_ENCODINGS)
def test_load_encoding_encodes_known_ids(name: str, encodings):
    encoding = encodings[name]
    assert encoding.name == name
    assert encoding.encode_ordinary("hello world") == HELLO_WORLD_IDS[name]
    assert encoding.decode(HELLO_WORLD_IDS[name]) == "hello world"


def test_load_encoding_is_cached(encodings):
    assert load_encoding("o200k_base") is encodings["o200k_base"]


def test_unknown_encoding_raises_key_error():
    with pytest.raises(KeyError):
        load_encoding("no_such_base")


def test_loads_offline_in_a_fresh_process(tmp_path: Path):
    """A new interpreter (no tiktoken cache in memory), with every network route closed:
    an unreachable proxy and an empty cache directory. A download attempt would fail."""
    cache = tmp_path / "cache"
    cache.mkdir()
    script = (
        "import json, os\n"
        "from tui.engine.tokens import load_encoding\n"
        "out = {n: load_encoding(n).encode_ordinary('hello world') for n in %r}\n"
        "out['env'] = os.environ.get('TIKTOKEN_CACHE_DIR')\n"
        "print(json.dumps(out))\n" % (BASE_ENCODINGS,)
    )
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    unreachable = "http://127.0.0.1:9"
    env |= {
        "HTTP_PROXY": unreachable,
        "HTTPS_PROXY": unreachable,
        "http_proxy": unreachable,
        "https_proxy": unreachable,
        "TIKTOKEN_CACHE_DIR": str(cache),
    }
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out.pop("env") == str(cache)  # restored after loading
    assert out == HELLO_WORLD_IDS
    assert list(cache.iterdir()) == []  # nothing was downloaded into the user's cache


@pytest.mark.parametrize("previous", [None, "/some/where/else"])
def test_load_encoding_restores_tiktoken_cache_dir(monkeypatch, previous):
    import tiktoken.registry

    if previous is None:
        monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("TIKTOKEN_CACHE_DIR", previous)
    # Force a real load: drop both streamtui's and tiktoken's in-process caches for it.
    monkeypatch.delitem(tokens._encodings, "r50k_base", raising=False)
    monkeypatch.delitem(tiktoken.registry.ENCODINGS, "r50k_base", raising=False)
    encoding = load_encoding("r50k_base")
    assert encoding.encode_ordinary("hello world") == HELLO_WORLD_IDS["r50k_base"]
    assert os.environ.get("TIKTOKEN_CACHE_DIR") == previous


def test_corrupted_bundled_file_is_refused(monkeypatch, tmp_path: Path):
    corrupt_dir = tmp_path / "encodings"
    shutil.copytree(BUNDLED_DIR, corrupt_dir)
    target = corrupt_dir / "r50k_base.tiktoken"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    monkeypatch.setattr(tokens, "ENCODINGS_DIR", corrupt_dir)
    monkeypatch.delitem(tokens._encodings, "r50k_base", raising=False)
    with pytest.raises(TokenizerDataError):
        load_encoding("r50k_base")
    assert "r50k_base" not in tokens._encodings
    # The bad copy was only read, never "repaired" or removed.
    assert target.read_bytes() == bytes(data)


def test_missing_bundled_file_is_refused(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(tokens, "ENCODINGS_DIR", tmp_path)
    monkeypatch.delitem(tokens._encodings, "cl100k_base", raising=False)
    with pytest.raises(TokenizerDataError):
        load_encoding("cl100k_base")


# -- model → encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-4", "cl100k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("text-davinci-003", "p50k_base"),
        ("davinci", "r50k_base"),
    ],
)
def test_encoding_for_known_models_is_exact(model: str, name: str):
    choice = encoding_for_model(model)
    assert choice.name == name
    assert choice.exact is True
    assert choice.label == name
    assert "est." not in choice.label


@pytest.mark.parametrize("model", ["llama3:8b", "SmolLM2-135M-Instruct", "mistralai/Mistral-7B-Instruct", ""])
def test_unknown_models_fall_back_to_o200k_estimate(model: str):
    choice = encoding_for_model(model)
    assert choice.name == "o200k_base"
    assert choice.exact is False
    assert "est." in choice.label
    assert "o200k_base" in choice.label


def test_override_wins():
    choice = encoding_for_model("gpt-4o", override="cl100k_base")
    assert (choice.name, choice.exact) == ("cl100k_base", True)
    assert encoding_for_model("llama3:8b", override="r50k_base").name == "r50k_base"


def test_unknown_override_raises_key_error():
    with pytest.raises(KeyError):
        encoding_for_model("gpt-4o", override="o300k_base")


# -- the incremental counter --------------------------------------------------------------------


def _fuzz_texts() -> dict[str, str]:
    rng = random.Random(1234)
    prose = (
        "The quick brown fox jumps over the lazy dog. It wasn't the first time; she'd seen it "
        "before, and we'll see it again. I'M SURE THEY'RE RIGHT, aren't they? "
    ) * 6
    code = (
        "def fibonacci(n: int) -> int:\n"
        "    if n < 2:\n"
        "        return n\n"
        "\treturn fibonacci(n - 1) + fibonacci(n - 2)  # tabs\tand\tspaces\n"
        "\n\n\n"
        "class Foo(Bar):\n    x = {'a': [1, 2, 3], \"b\": None}\r\n    y = x['a'][0] ** 2 // 3\r\n"
    ) * 4
    numbers = " ".join(["1234567", "3.14159", "1,000,000", "42", "0x1F", "2024-06-01", "12345678901234567890"] * 8)
    spaces = "a" + " " * 40 + "b" + " " * 7 + "\n" + " " * 25 + "c\n\n\n" + "\t" * 9 + "d   \n  \n" + " " * 3
    cjk = "日本語のテキストです。中文文本，还有한국어 텍스트도 있습니다。" * 8
    emoji = "Hi 👋🏽! Family: 👨‍👩‍👧‍👦, flags 🇫🇷🇯🇵, e\u0301 combining, ✨✨✨ done 😀😀." * 6
    contractions = "don't DON'T we'll WE'LL I'm I'M you've they're it's he'd 'tis y'all ''s " * 6
    no_spaces = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3000))
    mixed = "".join(rng.choice([prose[:80], code[:60], numbers[:30], cjk[:12], emoji[:20], "\n\n", "   ", "don't", "!!??.."]) for _ in range(60))
    return {
        "prose": prose,
        "code": code,
        "numbers": numbers,
        "spaces": spaces,
        "cjk": cjk,
        "emoji": emoji,
        "contractions": contractions,
        "no_spaces": no_spaces,
        "mixed": mixed,
        "endoftext": "a <|endoftext|> b <|fim_prefix|>" * 3,
    }


FUZZ_TEXTS = _fuzz_texts()


def _chunks(text: str, rng: random.Random) -> list[str]:
    out, i = [], 0
    while i < len(text):
        size = rng.randint(1, 20)
        out.append(text[i : i + size])
        i += size
    return out


@pytest.mark.parametrize("name", BASE_ENCODINGS)
@pytest.mark.parametrize("kind", sorted(FUZZ_TEXTS))
def test_incremental_counter_matches_full_encode(name: str, kind: str, encodings):
    encoding = encodings[name]
    text = FUZZ_TEXTS[kind]
    rounds = 3 if kind == "no_spaces" else 12
    for seed in range(rounds):
        rng = random.Random(zlib.crc32(f"{name}/{kind}/{seed}".encode()))
        every = rng.choice([0.05, 0.3, 1.0])  # how often count() is called, as a refresh would
        counter = IncrementalTokenCounter(encoding)
        so_far = ""
        for chunk in _chunks(text, rng):
            counter.add(chunk)
            so_far += chunk
            if rng.random() < every:
                assert counter.count() == len(encoding.encode_ordinary(so_far)), (name, kind, seed, len(so_far))
        assert so_far == text
        assert counter.count() == len(encoding.encode_ordinary(text)), (name, kind, seed)
        assert counter.count() == len(encoding.encode_ordinary(text))  # a second call: unchanged


@pytest.mark.parametrize("name", BASE_ENCODINGS)
def test_counter_counts_after_every_chunk(name: str, encodings):
    """The strictest schedule: count() after each one-char chunk of tricky text."""
    encoding = encodings[name]
    text = "don't we'll I'M 1234567  \n\n\n  x\r\n\t\tif x:  👨‍👩‍👧 日本語 " * 5
    counter = IncrementalTokenCounter(encoding)
    for i, char in enumerate(text, 1):
        counter.add(char)
        assert counter.count() == len(encoding.encode_ordinary(text[:i])), (name, i)


def test_counter_commits_a_prefix(encodings):
    """Long text is committed in parts, so count() re-encodes only a short tail."""
    encoding = encodings["o200k_base"]
    counter = IncrementalTokenCounter(encoding)
    text = FUZZ_TEXTS["prose"]
    for start in range(0, len(text), 7):
        counter.add(text[start : start + 7])
        counter.count()
    assert counter.count() == len(encoding.encode_ordinary(text))
    assert counter._committed > 0
    assert len(counter._tail) < len(text) // 4


@pytest.mark.parametrize("name", BASE_ENCODINGS)
def test_a_huge_addition_is_counted_exactly_in_windows(name: str, encodings):
    """Text far longer than the counter's window, added at once (a 20 MB chunk, or a count
    catching up), is counted exactly, with a tail no longer than a window afterwards."""
    encoding = encodings[name]
    rng = random.Random(7)
    text = "".join(rng.choice(list(FUZZ_TEXTS.values())) for _ in range(500))
    assert len(text) > 4 * IncrementalTokenCounter.WINDOW
    for first in (len(text), len(text) // 3):
        counter = IncrementalTokenCounter(encoding)
        counter.add(text[:first])
        assert counter.count() == len(encoding.encode_ordinary(text[:first]))
        counter.add(text[first:])
        assert counter.count() == len(encoding.encode_ordinary(text))
        assert len(counter._tail) <= IncrementalTokenCounter.WINDOW


def test_one_pretoken_longer_than_the_window_still_counts_exactly(encodings):
    """The window widens past the long pre-token, and narrows again for the words after it
    (several windows of them)."""
    encoding = encodings["o200k_base"]
    for words in (50, 20_000):
        text = "x" * (IncrementalTokenCounter.WINDOW * 2 + 5) + " and then words follow. " * words
        counter = IncrementalTokenCounter(encoding)
        counter.add(text)
        assert counter.count() == len(encoding.encode_ordinary(text))


def test_a_pretoken_of_megabytes_is_estimated_and_says_so(encodings):
    """tiktoken's BPE on one pre-token of n MB takes about 46n MB and n/2 seconds: a 20 MB
    one-word chunk cost the token counter 1 GB. Past MAX_WINDOW such a piece is estimated
    (at ESTIMATED_BYTES_PER_TOKEN), the words around it still counted, and the count is
    marked as an estimate, in the run's TokenCount as well."""
    encoding = encodings["o200k_base"]
    huge = "x" * (3 * IncrementalTokenCounter.MAX_WINDOW)
    words = " and then words follow." * 100
    counter = IncrementalTokenCounter(encoding)
    counter.add("before " + huge + words)
    count = counter.count()
    assert counter.estimated
    expected = len(encoding.encode_ordinary("before")) + len(huge) // IncrementalTokenCounter.ESTIMATED_BYTES_PER_TOKEN + len(encoding.encode_ordinary(words))
    assert abs(count - expected) <= 2
    assert not count_text("before " + huge, "", "gpt-4o").exact
    assert count_text("a few words", "", "gpt-4o").exact


def test_empty_counter_and_empty_adds(encodings):
    counter = IncrementalTokenCounter(encodings["cl100k_base"])
    assert counter.count() == 0
    counter.add("")
    assert counter.count() == 0
    counter.add("hello")
    counter.add("")
    counter.add(" world")
    assert counter.count() == 2


def test_summing_per_chunk_counts_overcounts(encodings):
    """Why the counter exists: chunk boundaries split BPE merges, so a per-chunk sum is wrong."""
    encoding = encodings["o200k_base"]
    text = FUZZ_TEXTS["prose"]
    chunks = _chunks(text, random.Random(7))
    summed = sum(len(encoding.encode_ordinary(chunk)) for chunk in chunks)
    exact = len(encoding.encode_ordinary(text))
    counter = IncrementalTokenCounter(encoding)
    for chunk in chunks:
        counter.add(chunk)
    assert counter.count() == exact
    assert summed > exact * 1.2
