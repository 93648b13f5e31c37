"""Deterministic, LLM-like Markdown: headings, paragraphs with inline code and bold, bullet and
numbered lists, block quotes and fenced code. Same seed, same text, on every machine."""

from __future__ import annotations

import random
import re

#: The scripted server's word split (``tests.support.scripted_server.words``): one chunk per match.
_WORD = re.compile(r"\S+\s*|\s+")

_NOUNS = (
    "stream server client token latency buffer request response frame widget screen model "
    "encoder decoder cache socket worker event message layout pane prompt metric sample "
    "throughput window queue batch parser chunk budget thread loop timer"
).split()
_VERBS = (
    "sends receives parses renders measures buffers flushes decodes encodes schedules "
    "returns yields appends wraps counts drops retries caches updates reads writes"
).split()
_ADJS = (
    "fast slow small large incremental streaming partial final first last steady noisy "
    "local remote cheap costly stable bounded visible hidden"
).split()
_LINKS = "however then so meanwhile instead therefore also still".split()
_CODE_LINES = (
    "def {n}(self, {m}):",
    "    {m} = self.{n}.get({m!r})",
    "    if {m} is None:",
    "        return []",
    "    for item in {m}:",
    "        total += len(item)",
    "    return sorted({m}, key=len)",
    "async for chunk in client.{n}({m}):",
    "    buffer.append(chunk.text)",
    "print(f\"{{{m}}} took {{elapsed:.3f}} s\")",
)


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_ADJS).capitalize(), rng.choice(_NOUNS), rng.choice(_VERBS)]
    for _ in range(rng.randint(3, 12)):
        roll = rng.random()
        if roll < 0.07:
            words.append(f"`{rng.choice(_NOUNS)}_{rng.choice(_NOUNS)}()`")
        elif roll < 0.12:
            words.append(f"**{rng.choice(_ADJS)} {rng.choice(_NOUNS)}**")
        elif roll < 0.2:
            words.append(rng.choice(_LINKS) + ",")
        elif roll < 0.25:
            words.append(str(rng.randint(2, 5000)))
        else:
            words.append(rng.choice(_NOUNS + _ADJS + _VERBS))
    return " ".join(words) + rng.choice(".....?!:")


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(2, 6)))


def _block(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.12:
        return "#" * rng.randint(1, 3) + " " + " ".join(rng.choice(_NOUNS).capitalize() for _ in range(rng.randint(2, 5)))
    if roll < 0.3:
        items = [f"- {_sentence(rng)}" for _ in range(rng.randint(2, 6))]
        return "\n".join(items)
    if roll < 0.4:
        items = [f"{i}. {_sentence(rng)}" for i in range(1, rng.randint(3, 7))]
        return "\n".join(items)
    if roll < 0.55:
        lines = [rng.choice(_CODE_LINES).format(n=rng.choice(_NOUNS), m=rng.choice(_NOUNS)) for _ in range(rng.randint(3, 10))]
        return "```python\n" + "\n".join(lines) + "\n```"
    if roll < 0.6:
        return "> " + _sentence(rng)
    return _paragraph(rng)


def markdown(min_chars: int, seed: int = 20250101) -> str:
    """At least ``min_chars`` characters of Markdown-like text, always the same for a seed."""
    rng = random.Random(seed)
    blocks: list[str] = []
    size = 0
    while size < min_chars:
        block = _block(rng)
        blocks.append(block)
        size += len(block) + 2
    return "\n\n".join(blocks) + "\n"


def markdown_words(n_chunks: int, seed: int = 20250101) -> str:
    """Text that the scripted server's ``paced`` script splits into exactly ``n_chunks`` chunks."""
    text = markdown(n_chunks * 8, seed)
    pieces = _WORD.findall(text)
    while len(pieces) < n_chunks:
        text = markdown(len(text) * 2, seed)
        pieces = _WORD.findall(text)
    out = "".join(pieces[:n_chunks])
    assert len(_WORD.findall(out)) == n_chunks
    return out
