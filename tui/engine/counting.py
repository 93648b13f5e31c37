"""tiktoken's count of a stream's text, kept up to date as the text arrives.

Counting runs in a thread beside the stream (in the streaming worker's process, where the app
runs it), so reading the network never waits for tiktoken and the interface never runs it at
all. While text arrives, a ``TokenCount`` follows at most :data:`COUNT_EVERY` seconds (plus the
counting itself) behind, and a stall never leaves it behind; once the stream ends, a final
exact one. The count always equals encoding the whole text (the incremental counter is exact),
with the model's own encoding or, for a model tiktoken does not know, o200k_base marked as an
estimate. A cancelled run is counted whole by the session once it ended (or saved uncounted if
that cannot be: never with a count behind its text). Counting that fails is logged and
the run goes on without counts: the stream ends as it would have, whatever counting did.

In the streaming worker the counting is the token counter's (``counter.py``, a process of its
own): a run that starts before the encoding is built (the first one right after launch) is
not delayed, and its count catches up, exactly, once the encoding is there. Counted in this
process instead (``streamtui compare``), such a run is counted at its end: building the
encoding here would stall the stream's stamps for a fifth of a second.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .events import Delta, RunEvent, TokenCount
from .logfile import log_failure
from .tokens import (
    EncodingChoice,
    IncrementalTokenCounter,
    encoding_for_model,
    is_loaded,
    load_encoding,
)

if TYPE_CHECKING:
    from .counter import CounterProcess

#: How often a live count is taken while text arrives, in seconds.
COUNT_EVERY = 0.05
#: How long a run's end waits for its final count once its stream is over, in seconds.
FINAL_WITHIN = 20.0

Batch = list[RunEvent]
_END = object()


class _Counts:
    """The answer's and the reasoning's counters, with the text not yet given to them."""

    def __init__(self, choice: EncodingChoice, encoding) -> None:  # noqa: ANN001 - a tiktoken.Encoding
        self.choice = choice
        self.answer = IncrementalTokenCounter(encoding)
        self.reasoning = IncrementalTokenCounter(encoding)
        self.answer_chars = self.reasoning_chars = 0

    def advance(self, answer: list[str], reasoning: list[str], final: bool) -> TokenCount:
        """Count what arrived (in a thread: one call at a time)."""
        for text in answer:
            self.answer.add(text)
            self.answer_chars += len(text)
        for text in reasoning:
            self.reasoning.add(text)
            self.reasoning_chars += len(text)
        answer, reasoning = self.answer.count(), self.reasoning.count()
        exact = self.choice.exact and not (self.answer.estimated or self.reasoning.estimated)
        return TokenCount(answer, reasoning, self.choice.name, exact, self.answer_chars, self.reasoning_chars, final)


def _prepare(choice: EncodingChoice) -> _Counts:
    return _Counts(choice, load_encoding(choice.name))


async def counted(
    batches: AsyncIterator[Batch],
    model: str,
    override: str | None,
    counter: CounterProcess | None = None,
    *,
    final_within: float = FINAL_WITHIN,
    count_every: float = COUNT_EVERY,
) -> AsyncIterator[Batch]:
    """``batches``, with TokenCount events among them (see the module's docstring), counted by
    ``counter`` or, without one, in a thread of this process. Once the stream is over, its
    final count is waited for ``final_within`` seconds at most."""
    loop = asyncio.get_running_loop()
    out: asyncio.Queue = asyncio.Queue()
    text_waiting = asyncio.Event()
    answer: list[str] = []
    reasoning: list[str] = []
    stream_over = False
    #: Set with stream_over: it ends the pause between live counts.
    over = asyncio.Event()
    failure: BaseException | None = None

    async def pump() -> None:
        nonlocal stream_over, failure
        try:
            async for batch in batches:
                for event in batch:
                    if type(event) is Delta and event.text:
                        (answer if event.kind == "answer" else reasoning).append(event.text)
                        text_waiting.set()
                out.put_nowait(batch)
        except Exception as exc:  # noqa: BLE001 - raised again by the consumer, below
            failure = exc
        finally:
            stream_over = True
            over.set()
            text_waiting.set()

    async def count() -> None:
        nonlocal answer, reasoning
        # Nothing to count before the first text, which goes out first.
        await text_waiting.wait()
        await asyncio.sleep(0)
        try:
            if stream_over and not (answer or reasoning):
                # No text at all (a failure before the answer): nothing to count, and no count
                # (a 0 read as a measured answer). Asked, the counter built its encoding first,
                # and the failure showed a quarter-second late.
                return
            choice = encoding_for_model(model, override)
            if counter is None:
                if not is_loaded(choice.name):
                    # Building an encoding holds the interpreter lock for about a fifth of a
                    # second: done during a stream, it would delay the stamps of the chunks
                    # behind it. So a run that finds it not built yet is counted once, after
                    # its last chunk.
                    while not stream_over:
                        await text_waiting.wait()
                        if not stream_over:
                            text_waiting.clear()
                local = await loop.run_in_executor(None, _prepare, choice)
                advance = functools.partial(loop.run_in_executor, None, local.advance)
            else:
                remote = counter.counts(choice)
                advance = remote.advance
            final = False
            try:
                while True:
                    await text_waiting.wait()
                    text_waiting.clear()
                    final = stream_over
                    texts, answer, reasoning = (answer, reasoning), [], []
                    out.put_nowait([await advance(*texts, final)])
                    if final:
                        return
                    # The next live count comes count_every later, or the final one as soon as
                    # the stream is over: every run's end waited out the pause (40–50 ms).
                    try:
                        async with asyncio.timeout(count_every):
                            await over.wait()
                    except TimeoutError:
                        pass
            finally:
                if counter is not None and not final:  # cancelled, or failed: the counter drops the run
                    remote.forget()
        except Exception as exc:  # noqa: BLE001 - tokens are a figure; the run goes on without them
            log_failure("Token counting is off for this run", exc)

    pumping = asyncio.create_task(pump())
    tasks = [pumping, asyncio.create_task(count())]
    # Each task says it ended when it ends, however it ends (returned, raised, cancelled), not
    # from its own code: no fault in either can leave the stream waiting for it.
    for task in tasks:
        task.add_done_callback(lambda _: out.put_nowait(_END))
    ended = 0
    deadline: float | None = None
    try:
        while ended < len(tasks):
            if deadline is None and pumping.done():
                deadline = loop.time() + final_within
            try:
                async with asyncio.timeout_at(deadline):
                    item = await out.get()
            except TimeoutError:
                # The stream is over and its count has not come (a counter stuck, or a huge
                # text): the run ends without it; a counter that does not answer is replaced.
                log_failure(f"Token counting did not end within {final_within:g} s of the stream's end; the run has no final count")
                if counter is not None:
                    counter.kill()
                break
            if item is _END:
                ended += 1
            else:
                yield item
        if failure is not None:
            raise failure
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
