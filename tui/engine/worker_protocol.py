"""The frames between the app and its streaming worker: a 4-byte length, then a pickle.

Both ends are this package, in processes of one user, over the pipes of a child process:
pickle is safe here and costs a few microseconds per event. Answer text arrives in groups
(one network read's chunks share a time), so a batch travels as its events with the texts of
consecutive deltas packed together.
"""

from __future__ import annotations

import pickle
import struct
from typing import IO, Any

from .events import Delta, RunEvent

_LENGTH = struct.Struct("<I")


def write_frame(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream."""
    head = _read_exactly(stream, _LENGTH.size)
    if head is None:
        return None
    data = _read_exactly(stream, _LENGTH.unpack(head)[0])
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


def pack_batch(batch: list[RunEvent]) -> list:
    """Deltas of one kind and one time become ``(kind, at, [texts])``; other events stay."""
    packed: list = []
    for event in batch:
        if type(event) is Delta:
            last = packed[-1] if packed else None
            if type(last) is tuple and last[0] == event.kind and last[1] == event.at:
                last[2].append(event.text)
            else:
                packed.append((event.kind, event.at, [event.text]))
        else:
            packed.append(event)
    return packed


def unpack_batch(packed: list) -> list[RunEvent]:
    batch: list[RunEvent] = []
    for item in packed:
        if type(item) is tuple:
            kind, at, texts = item
            batch.extend(Delta(text, at, kind) for text in texts)
        else:
            batch.append(item)
    return batch
