"""An incremental decoder for server-sent events (the WHATWG ``text/event-stream`` format).

The openai SDK builds a typed object per chunk, which costs about 100 µs each; streamtui
reads the raw event stream instead and decodes it here, then picks the few fields it needs.
Handles LF, CRLF and CR line ends (also split across reads), multi-line ``data``, comments,
events without data (``retry:``-only), and drops a cut-off last event as the spec says.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UserFacingError

#: Longest one event may grow before it ends: a server that streams bytes and never a line end
#: would otherwise take all memory (the read timeout never fires while bytes keep coming).
MAX_EVENT_BYTES = 64 * 1024 * 1024


class EventTooLarge(UserFacingError):
    """The stream's current event passed ``MAX_EVENT_BYTES`` without ending."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: bytes


class SSEDecoder:
    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        #: Bytes held for the event not yet ended (its data lines and its unfinished line).
        self._held = 0
        #: The unfinished last line, as the reads that brought it (joined once it ends, so a
        #: 20 MB event costs a few copies of itself, not one per read).
        self._partial: list[bytes] = []
        self._event = ""
        self._data: list[bytes] = []
        #: The last feed ended with CR: an LF starting the next one is the rest of a CRLF.
        self._after_cr = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode what ``chunk`` completes; keep the rest for the next call."""
        if self._after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
            self._after_cr = False
        if not chunk:
            return []
        # A CR at the very end already ends its line (CR or CRLF alike): dispatch now, and
        # drop the LF if the next read starts with one.
        self._after_cr = chunk.endswith(b"\r")
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in chunk:
            self._partial.append(chunk)
            self._hold(len(chunk))
            return []
        lines = chunk.split(b"\n")
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = b"".join(self._partial)
        rest = lines.pop()
        self._partial = [rest] if rest else []
        events = self._process(lines)
        self._hold(len(rest))
        return events

    def _hold(self, size: int) -> None:
        self._held += size
        if self._held > self.max_event_bytes:
            raise EventTooLarge(f"Malformed stream: one event passed {self.max_event_bytes // (1024 * 1024)} MB without ending; the partial answer is kept.")

    def _process(self, lines: list[bytes]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(SSEEvent(self._event or "message", b"\n".join(data)))
                    data = self._data = []
                self._event = ""
                self._held = 0
                continue
            if line[0] == 58:  # ":" starts a comment, e.g. a keep-alive
                continue
            field, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                data.append(value)
                self._held += len(value)
            elif field == b"event":
                self._event = value.decode("utf-8", "replace")
            # "id" and "retry" carry nothing streamtui uses.
        return events
