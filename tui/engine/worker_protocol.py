"""The frames between the app and its streaming worker: a 4-byte length, then a pickle.

Both ends are this package, in processes of one user, over the pipes of a child process:
pickle is safe here and costs a few microseconds per event. A network read's chunks share a
time, so they travel as one ``Deltas`` event (the app takes them as such, without making an
object per chunk).
"""

from __future__ import annotations

import pickle
import struct
from typing import IO, Any

from .events import Delta, Deltas, RunEvent

_LENGTH = struct.Struct("<I")
#: No frame is longer (a batch holds one network read's events, an SSE event is at most 64 MB):
#: a longer length is a corrupt stream, refused at once rather than waited on forever.
MAX_FRAME = 512 * 1024 * 1024


class CorruptFrame(ValueError):
    """The stream does not hold frames any more."""


#: Frames from this size on go out as their length and then their data, not joined first: a
#: text of 20 MB (a huge chunk, or a run's whole text to count) is not copied once more.
JOIN_BELOW = 1024 * 1024


def write_frame(stream: IO[bytes], message: Any) -> None:
    """Write one frame (each process writes its frames from one thread only)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    head = _LENGTH.pack(len(data))
    if len(data) < JOIN_BELOW:
        stream.write(head + data)
    else:
        stream.write(head)
        stream.write(data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream."""
    head = _read_exactly(stream, _LENGTH.size)
    if head is None:
        return None
    (length,) = _LENGTH.unpack(head)
    if length > MAX_FRAME:
        raise CorruptFrame(f"a frame of {length:,} bytes: the stream is corrupt")
    data = _read_exactly(stream, length)
    if data is None:
        return None
    return pickle.loads(data)


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    parts = []
    while size:
        part = stream.read(size)
        if not part:
            return None
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def pack_batch(batch: list[RunEvent]) -> list[RunEvent]:
    """Consecutive deltas of one kind and one time become one ``Deltas`` event."""
    packed: list[RunEvent] = []
    run: list[str] = []
    head: Delta | None = None
    for event in batch:
        if type(event) is Delta and head is not None and event.kind == head.kind and event.at == head.at:
            run.append(event.text)
            continue
        if head is not None:
            packed.append(Deltas(tuple(run), head.at, head.kind))
            head, run = None, []
        if type(event) is Delta:
            head, run = event, [event.text]
        else:
            packed.append(event)
    if head is not None:
        packed.append(Deltas(tuple(run), head.at, head.kind))
    return packed
