"""Token counting with tiktoken: offline, verified, and incremental.

tiktoken downloads its rank files on first use, which fails offline. streamtui ships the
four files in ``encodings/`` (see ``scripts/rebuild_tiktoken_files.py`` for where they come
from), checks each against the sha256 pinned in the installed tiktoken, and lets tiktoken
build the encoding from them through its own cache mechanism, so tiktoken keeps its own
regex and special tokens.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .events import TokenCount

if TYPE_CHECKING:  # tiktoken is imported lazily: it costs startup time.
    import tiktoken

ENCODINGS_DIR = Path(__file__).parent / "encodings"
FALLBACK_ENCODING = "o200k_base"

#: encoding name → the bundled rank file it is built from (tiktoken shares files between some).
_RANK_FILE = {
    "r50k_base": "r50k_base",
    "p50k_base": "p50k_base",
    "p50k_edit": "p50k_base",
    "cl100k_base": "cl100k_base",
    "o200k_base": "o200k_base",
    "o200k_harmony": "o200k_base",
}
SUPPORTED_ENCODINGS = tuple(_RANK_FILE)

_load_lock = threading.Lock()
_encodings: dict[str, tiktoken.Encoding] = {}


class TokenizerDataError(RuntimeError):
    """A bundled rank file is missing or does not match tiktoken's pinned hash."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pinned_sources() -> dict[str, tuple[str, str]]:
    """Rank file name → (URL, sha256) as pinned in the installed tiktoken's source."""
    spec = importlib.util.find_spec("tiktoken_ext.openai_public")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text()
    found = re.findall(r'"(https://[^"]+/(\w+)\.tiktoken)",\s*expected_hash="([0-9a-f]{64})"', source)
    return {name: (url, digest) for url, name, digest in found}


def expected_sha256(rank_file: str) -> str:
    """The sha256 that the installed tiktoken pins for a rank file."""
    return _pinned_sources()[rank_file][1]


def is_loaded(name: str) -> bool:
    """Whether ``name`` is built already (building one holds the interpreter lock ~0.25 s)."""
    return name in _encodings


def load_encoding(name: str) -> tiktoken.Encoding:
    """Build a tiktoken encoding from the bundled, verified rank file. Cached per process."""
    with _load_lock:
        if name in _encodings:
            return _encodings[name]
        if name not in _RANK_FILE:
            raise KeyError(f"unknown encoding {name!r}; known: {', '.join(SUPPORTED_ENCODINGS)}")
        import tiktoken

        rank_file = _RANK_FILE[name]
        url, digest = _pinned_sources()[rank_file]
        bundled = ENCODINGS_DIR / f"{rank_file}.tiktoken"
        if not bundled.exists() or sha256_of(bundled.read_bytes()) != digest:
            raise TokenizerDataError(
                f"{bundled} is missing or does not match tiktoken's sha256 pin; "
                "run scripts/rebuild_tiktoken_files.py"
            )
        # tiktoken looks for sha1(url) in TIKTOKEN_CACHE_DIR. A link there (never the
        # bundled file itself) is all it may delete if it ever disagreed with us. A signal
        # that ends the process (a hang-up, a stop) waits until the folder is gone.
        with _signals_held():
            cache_dir = tempfile.mkdtemp(prefix="streamtui-tiktoken-")
            previous = os.environ.get("TIKTOKEN_CACHE_DIR")
            try:
                os.symlink(bundled, os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest()))
                os.environ["TIKTOKEN_CACHE_DIR"] = cache_dir
                encoding = tiktoken.get_encoding(name)
            finally:
                if previous is None:
                    os.environ.pop("TIKTOKEN_CACHE_DIR", None)
                else:
                    os.environ["TIKTOKEN_CACHE_DIR"] = previous
                shutil.rmtree(cache_dir, ignore_errors=True)
        _encodings[name] = encoding
        return encoding


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold back, in this thread, the signals that end a process (SIGHUP, SIGINT, SIGTERM):
    they arrive when the block ends (POSIX; elsewhere nothing is held)."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGHUP, signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


@dataclass(frozen=True)
class EncodingChoice:
    """Which encoding counts a model's tokens, and whether that is the model's own."""

    name: str
    exact: bool

    @property
    def label(self) -> str:
        return self.name if self.exact else f"{self.name}, est."


def encoding_for_model(model: str, override: str | None = None) -> EncodingChoice:
    """tiktoken's own model → encoding table, with a provider prefix stripped.

    Unknown models (local ones, ``name:tag``) fall back to o200k_base, marked as an estimate.
    """
    if override:
        if override not in _RANK_FILE:
            raise KeyError(f"unknown encoding {override!r}; known: {', '.join(SUPPORTED_ENCODINGS)}")
        return EncodingChoice(override, exact=True)
    from tiktoken.model import encoding_name_for_model

    for candidate in (model, model.rsplit("/", 1)[-1]):
        try:
            name = encoding_name_for_model(candidate)
        except KeyError:
            continue
        if name in _RANK_FILE:
            return EncodingChoice(name, exact=True)
    return EncodingChoice(FALLBACK_ENCODING, exact=False)


def count_text(answer: str, reasoning: str, model: str, override: str | None = None) -> TokenCount:
    """A final count of a whole text at once, as the stream's counter would have ended it."""
    choice = encoding_for_model(model, override)
    encoding = load_encoding(choice.name)
    answer_count, reasoning_count = IncrementalTokenCounter(encoding), IncrementalTokenCounter(encoding)
    answer_count.add(answer)
    reasoning_count.add(reasoning)
    answer_tokens, reasoning_tokens = answer_count.count(), reasoning_count.count()  # before .estimated
    exact = choice.exact and not (answer_count.estimated or reasoning_count.estimated)
    return TokenCount(answer_tokens, reasoning_tokens, choice.name, exact, len(answer), len(reasoning), True)


def count_each(name: str, texts: list[str]) -> list[int]:
    """Each text's own count in encoding ``name`` (the Timeline's tokens per chunk)."""
    encoding = load_encoding(name)
    encode = encoding.encode_ordinary
    counts = []
    for text in texts:
        if len(text) <= IncrementalTokenCounter.WINDOW:
            counts.append(len(encode(text)))
        else:  # windowed, and bounded for a pre-token of megabytes
            counter = IncrementalTokenCounter(encoding)
            counter.add(text)
            counts.append(counter.count())
    return counts


class IncrementalTokenCounter:
    """Counts tokens of a growing text, always equal to tiktoken on the whole text (but for a
    pre-token of over 128 kB: see MAX_WINDOW and ``estimated``).

    tiktoken splits text into pre-tokens with a regex and runs BPE inside each one, so only
    the last few pre-tokens can still change as text arrives. The counter keeps a committed
    count for the settled prefix and re-encodes only a short tail. The committed part is
    taken from the tail's own encoding (with its right context), never from the prefix alone.
    """

    #: Pre-tokens kept live at the end: o200k merges ``don`` ``'`` ``t`` into one, so one is too few.
    KEEP_PIECES = 4
    #: Commit once the tail holds this many pre-tokens, so a count re-encodes little
    #: (8 measured fastest: 6.4 µs a chunk against 9.4 µs for 16).
    COMMIT_AT_PIECES = 8
    #: Characters encoded at a time when much text waits (memory stays flat for a 20 MB chunk).
    WINDOW = 65_536
    #: The widest window. Text that still cannot be committed within it holds a pre-token of
    #: over 128 kB (fewer than COMMIT_AT_PIECES in 1 MB): it is counted piece by piece, and a
    #: piece longer than this is estimated, not encoded (tiktoken's BPE on one piece takes
    #: about 46 MB and half a second per MB: a 20 MB one-word chunk cost the counter 1 GB).
    MAX_WINDOW = 1 << 20
    #: UTF-8 bytes per token assumed for such a piece (English prose averages about four).
    ESTIMATED_BYTES_PER_TOKEN = 4

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self._encoding = encoding
        self._pattern = _compiled_pattern(encoding)
        self._token_bytes = _token_byte_lengths(encoding)
        self._committed = 0
        self._tail = ""
        self._pending: list[str] = []
        self._count = 0
        self._dirty = False
        self._last_commit = 0
        #: Some pre-token was too long to encode: the count is an estimate from there on.
        self.estimated = False

    def add(self, text: str) -> None:
        """Take more text: O(1); the work happens in :meth:`count`."""
        if text:
            self._pending.append(text)
            self._dirty = True

    def count(self) -> int:
        if not self._dirty:
            return self._count
        self._dirty = False
        text = self._tail + "".join(self._pending)
        self._pending.clear()
        # A long tail (a huge chunk, or a count that had to catch up) goes in windows, so no
        # list of a million tokens (tens of MB) is ever built; each window commits as below.
        # Only a window is copied, not the rest of the text behind it.
        start = 0
        window = self.WINDOW
        while len(text) - start > window:
            cut = self._commit(text[start : start + window])
            if cut == 0:  # too few pre-tokens in the window (a very long one): a wider window
                if window >= self.MAX_WINDOW:
                    self._committed += self._estimate(text[start:])
                    start = len(text)
                    break
                window *= 2
                continue
            start += cut
            window = self.WINDOW
        text = text[start:]
        tokens = self._encoding.encode_ordinary(text)
        cut = self._commit(text, tokens)
        self._tail = text[cut:]
        self._count = self._committed + len(tokens) - self._last_commit
        return self._count

    def _estimate(self, text: str) -> int:
        """Count ``text`` piece by piece, as tiktoken does, but estimate the pieces too long to
        encode; the text is then settled (a piece that goes on in the next chunk is counted in
        two parts: this is an estimate)."""
        self.estimated = True
        total = 0
        for match in self._pattern.finditer(text):
            piece = match.group()
            if len(piece) <= self.MAX_WINDOW:
                total += len(self._encoding.encode_ordinary(piece))
            else:
                total += -(-len(piece.encode("utf-8")) // self.ESTIMATED_BYTES_PER_TOKEN)
        return total

    def _commit(self, text: str, tokens: list[int] | None = None) -> int:
        """Commit the tokens of ``text`` before its last KEEP_PIECES pre-tokens; return where
        the uncommitted rest starts (0: nothing could be committed)."""
        self._last_commit = 0
        starts = [m.start() for m in self._pattern.finditer(text)]
        if len(starts) < self.COMMIT_AT_PIECES:
            return 0
        if tokens is None:
            tokens = self._encoding.encode_ordinary(text)
        cut = starts[-self.KEEP_PIECES]
        cut_bytes = len(text[:cut].encode("utf-8"))
        settled = 0
        consumed = 0
        lengths = self._token_bytes
        while consumed < cut_bytes:
            consumed += lengths[tokens[settled]]
            settled += 1
        if consumed != cut_bytes:  # a pre-token boundary is always a token boundary
            return 0
        self._committed += settled
        self._last_commit = settled
        return cut


_patterns: dict[str, object] = {}
_byte_lengths: dict[str, list[int]] = {}


def _compiled_pattern(encoding: tiktoken.Encoding):  # -> regex.Pattern
    if encoding.name not in _patterns:
        import regex  # a tiktoken dependency; it understands tiktoken's patterns

        _patterns[encoding.name] = regex.compile(encoding._pat_str)
    return _patterns[encoding.name]


def _token_byte_lengths(encoding: tiktoken.Encoding) -> list[int]:
    if encoding.name not in _byte_lengths:
        lengths = [0] * encoding.n_vocab
        for token_bytes, rank in encoding._mergeable_ranks.items():
            lengths[rank] = len(token_bytes)
        _byte_lengths[encoding.name] = lengths
    return _byte_lengths[encoding.name]
