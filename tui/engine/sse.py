"""An incremental decoder for server-sent events (the WHATWG ``text/event-stream`` format).

The openai SDK builds a typed object per chunk, which costs about 100 µs each; streamtui
reads the raw event stream instead and decodes it here, then picks the few fields it needs.
Handles LF, CRLF and CR line ends (also split across reads), multi-line ``data``, comments,
events without data (``retry:``-only), and drops a cut-off last event as the spec says.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: bytes


class SSEDecoder:
    def __init__(self) -> None:
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
            return []
        lines = chunk.split(b"\n")
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = b"".join(self._partial)
        rest = lines.pop()
        self._partial = [rest] if rest else []
        return self._process(lines)

    def _process(self, lines: list[bytes]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(SSEEvent(self._event or "message", b"\n".join(data)))
                    data = self._data = []
                self._event = ""
                continue
            if line[0] == 58:  # ":" starts a comment, e.g. a keep-alive
                continue
            field, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                data.append(value)
            elif field == b"event":
                self._event = value.decode("utf-8", "replace")
            # "id" and "retry" carry nothing streamtui uses.
        return events
