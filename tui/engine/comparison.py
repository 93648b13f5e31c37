"""The comparison the product is about: the same prompt streamed and not."""

from __future__ import annotations

from dataclasses import dataclass

from .run import Run


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


def pair_of(run: Run, runs: list[Run]) -> Comparison | None:
    """The comparison ``run`` belongs to, if it was made by a Compare action and both ran."""
    if run.pair_id is None:
        return None
    pair = [other for other in runs if other.pair_id == run.pair_id]
    streamed = next((r for r in pair if r.request.stream), None)
    waited = next((r for r in pair if not r.request.stream), None)
    return Comparison(streamed, waited) if streamed and waited else None
