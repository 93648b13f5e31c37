"""Where requests go and how patient to be: all a streamer needs to reach an endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 120.0
DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class Target:
    base_url: str
    api_key: str = field(repr=False)
    #: Seconds to open a connection.
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    #: Seconds of silence allowed: before the headers, and between two reads of the body.
    read_timeout: float = DEFAULT_READ_TIMEOUT
    #: Retries before the first byte of an answer (see stream.py for which failures).
    max_retries: int = DEFAULT_RETRIES
