"""The comparison the product is about: the same prompt streamed and not."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .metrics import TokenSource
from .run import Run

#: Answers whose token counts differ by more than this are called different, not compared as equals.
DIFFERENT_ANSWERS = 0.05


@dataclass(frozen=True)
class Comparison:
    """A streamed run against a non-streamed run of the same prompt and parameters."""

    streamed: Run
    waited: Run

    @property
    def first_text_streamed(self) -> float | None:
        return self.streamed.metrics.ttft

    @property
    def first_text_waited(self) -> float | None:
        """Without streaming the first text is the whole answer: its E2E."""
        return self.waited.metrics.e2e

    @property
    def time_saved(self) -> float | None:
        """How much sooner streaming showed the first text."""
        streamed, waited = self.first_text_streamed, self.first_text_waited
        return None if streamed is None or waited is None else waited - streamed

    @property
    def speedup(self) -> float | None:
        streamed, waited = self.first_text_streamed, self.first_text_waited
        return None if not streamed or waited is None else waited / streamed

    @property
    def complete(self) -> bool:
        return self.streamed.metrics.state == "done" and self.waited.metrics.state == "done"

    @property
    def running(self) -> bool:
        """One of the two runs has not ended: nothing is compared yet."""
        return self.streamed.metrics.running or self.waited.metrics.running

    @property
    def token_source(self) -> TokenSource | None:
        """The best source both runs have, so their counts compare like with like."""
        for source in ("server", "model", "tiktoken"):
            if self.streamed.metrics.tokens_from(source) is not None and self.waited.metrics.tokens_from(source) is not None:  # type: ignore[arg-type]
                return source  # type: ignore[return-value]
        return None

    @property
    def tokens(self) -> tuple[int | None, int | None]:
        """(streamed, waited) output tokens, from the same source."""
        source = self.token_source
        if source is None:
            return None, None
        return self.streamed.metrics.tokens_from(source), self.waited.metrics.tokens_from(source)

    @property
    def answers_differ(self) -> bool:
        """The two answers differ in length by more than 5%: their times are not like for like."""
        streamed, waited = self.tokens
        if not streamed or not waited:
            return False
        return abs(streamed - waited) / max(streamed, waited) > DIFFERENT_ANSWERS

    @property
    def time_per_token(self) -> tuple[float | None, float | None]:
        """E2E per output token of each run: comparable even when the answers' lengths differ."""
        streamed, waited = self.tokens
        e2e_s, e2e_w = self.streamed.metrics.e2e, self.waited.metrics.e2e
        return (
            e2e_s / streamed if e2e_s is not None and streamed else None,
            e2e_w / waited if e2e_w is not None and waited else None,
        )


def pair_of(run: Run, runs: list[Run]) -> Comparison | None:
    """The comparison ``run`` belongs to: its Compare pair once both ran; else the nearest run
    of the same request sent the other way (the person pressed Ctrl+T and sent it again)."""
    if run.pair_id is not None:
        pair = [other for other in runs if other.pair_id == run.pair_id]
    else:
        pair = [run, *_same_request_other_way(run, runs)[:1]]
    streamed = next((r for r in pair if r.request.stream), None)
    waited = next((r for r in pair if not r.request.stream), None)
    return Comparison(streamed, waited) if streamed and waited else None


def _same_request_other_way(run: Run, runs: list[Run]) -> list[Run]:
    """Runs of exactly ``run``'s request but for streaming, nearest first (failed ones are no
    measure of streaming)."""
    flipped = replace(run.request, stream=not run.request.stream)
    matches = [other for other in runs if other.pair_id is None and other.request == flipped and other.endpoint_label == run.endpoint_label and other.metrics.state != "failed"]
    return sorted(matches, key=lambda other: abs(other.number - run.number))
