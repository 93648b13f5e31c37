"""SSEDecoder against the cases of the WHATWG ``text/event-stream`` format."""

from __future__ import annotations

import pytest

from tui.engine.sse import SSEDecoder, SSEEvent


def decode(*feeds: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for feed in feeds:
        events.extend(decoder.feed(feed))
    return events


def decode_split(stream: bytes, *cuts: int) -> list[SSEEvent]:
    """Feed ``stream`` in pieces cut at the given byte positions."""
    bounds = [0, *cuts, len(stream)]
    return decode(*(stream[a:b] for a, b in zip(bounds, bounds[1:])))


MULTI = (
    b": keep-alive\n"
    b"data: {\"a\": 1}\n"
    b"\n"
    b"event: ping\n"
    b"data: first line\n"
    b"data: second line\n"
    b"\n"
    b"retry: 3000\n"
    b"\n"
    b"id: 42\n"
    b"\n"
    b"data:no-space\n"
    b"\n"
    b"data: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n"
    b"\n"
    b"data: [DONE]\n"
    b"\n"
)
MULTI_EVENTS = [
    SSEEvent("message", b'{"a": 1}'),
    SSEEvent("ping", b"first line\nsecond line"),
    SSEEvent("message", b"no-space"),
    SSEEvent("message", "café € 😀".encode()),
    SSEEvent("message", b"[DONE]"),
]


def test_single_event():
    assert decode(b"data: hello\n\n") == [SSEEvent("message", b"hello")]


def test_feed_returns_only_completed_events():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: hel") == []
    assert decoder.feed(b"lo\n") == []
    assert decoder.feed(b"\n") == [SSEEvent("message", b"hello")]


def test_several_events_in_one_feed():
    assert decode(b"data: a\n\ndata: b\n\ndata: c\n\n") == [
        SSEEvent("message", b"a"),
        SSEEvent("message", b"b"),
        SSEEvent("message", b"c"),
    ]


def test_multi_event_stream_in_one_feed():
    assert decode(MULTI) == MULTI_EVENTS


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_split_at_every_byte_position(line_end: bytes):
    stream = MULTI.replace(b"\n", line_end)
    assert decode(stream) == MULTI_EVENTS
    for cut in range(len(stream) + 1):
        assert decode_split(stream, cut) == MULTI_EVENTS, f"cut at {cut}"


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_split_at_every_pair_of_positions(line_end: bytes):
    stream = (b"event: e\r\ndata: x\r\n\r\n: c\r\ndata: y\r\ndata: z\r\n\r\n").replace(b"\r\n", line_end)
    expected = [SSEEvent("e", b"x"), SSEEvent("message", b"y\nz")]
    for first in range(len(stream) + 1):
        for second in range(first, len(stream) + 1):
            assert decode_split(stream, first, second) == expected, (first, second)


def test_one_byte_at_a_time():
    assert decode(*(MULTI[i : i + 1] for i in range(len(MULTI)))) == MULTI_EVENTS


def test_multiline_data_joined_with_newline():
    assert decode(b"data: one\ndata: two\ndata:\ndata: four\n\n") == [SSEEvent("message", b"one\ntwo\n\nfour")]


def test_comments_are_ignored():
    assert decode(b": keep-alive\n\n:\n\ndata: x\n: inside an event\ndata: y\n\n") == [SSEEvent("message", b"x\ny")]


def test_comment_only_stream_produces_nothing():
    assert decode(b": ping\n\n" * 5) == []


def test_event_field_sets_type_and_resets_after_dispatch():
    assert decode(b"event: delta\ndata: 1\n\ndata: 2\n\n") == [SSEEvent("delta", b"1"), SSEEvent("message", b"2")]


def test_event_type_without_data_does_not_leak_into_next_event():
    assert decode(b"event: ignored\n\ndata: 2\n\n") == [SSEEvent("message", b"2")]


@pytest.mark.parametrize("block", [b"retry: 1000\n\n", b"id: 7\n\n", b"id: 7\nretry: 10\nevent: x\n\n"])
def test_events_without_data_produce_nothing(block: bytes):
    assert decode(block) == []
    assert decode(block + b"data: after\n\n") == [SSEEvent("message", b"after")]


def test_empty_data_field_is_an_event_with_empty_data():
    assert decode(b"data:\n\n") == [SSEEvent("message", b"")]
    assert decode(b"data\n\n") == [SSEEvent("message", b"")]


def test_field_without_colon():
    # A line without ":" is a field name with an empty value: "data" adds an empty line.
    assert decode(b"data: a\ndata\ndata: b\n\n") == [SSEEvent("message", b"a\n\nb")]
    # Unknown fields are ignored, with or without a colon.
    assert decode(b"foo\nbar: baz\ndata: x\n\n") == [SSEEvent("message", b"x")]


def test_data_without_space_and_only_one_space_removed():
    assert decode(b"data:x\n\n") == [SSEEvent("message", b"x")]
    assert decode(b"data:  two spaces\n\n") == [SSEEvent("message", b" two spaces")]
    assert decode(b"data: a: b\n\n") == [SSEEvent("message", b"a: b")]


def test_crlf_line_endings():
    assert decode(b"event: e\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n") == [
        SSEEvent("e", b"a\nb"),
        SSEEvent("message", b"c"),
    ]


def test_lone_cr_line_endings():
    assert decode(b"event: e\rdata: a\rdata: b\r\rdata: c\r\r") == [
        SSEEvent("e", b"a\nb"),
        SSEEvent("message", b"c"),
    ]


def test_mixed_line_endings():
    assert decode(b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r") == [
        SSEEvent("message", b"a\nb\nc"),
        SSEEvent("message", b"d"),
    ]


def test_crlf_split_between_feeds_is_one_line_end():
    # CR ends one feed, LF starts the next: one line end, not a blank line in between.
    events = decode(b"data: a\r", b"\ndata: b\r\n\r\n")
    assert events == [SSEEvent("message", b"a\nb")]


def test_crlf_split_before_blank_line():
    assert decode(b"data: a\r", b"\n", b"\r", b"\n") == [SSEEvent("message", b"a")]
    decoder = SSEDecoder()
    # The last CR ends the blank line whether or not an LF follows: the event is due now.
    assert decoder.feed(b"data: a\r\n\r") == [SSEEvent("message", b"a")]
    assert decoder.feed(b"\n") == []  # the rest of that CRLF: no second blank line
    assert decoder.feed(b"data: b\r\n\r\n") == [SSEEvent("message", b"b")]


def test_event_ending_in_cr_is_dispatched_without_waiting_for_next_read():
    # A CR-terminated event must not wait for another read (it would add a read's delay
    # to the measured latency, and the last event before EOF would be lost).
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r\r") == [SSEEvent("message", b"a")]
    assert decoder.feed(b"data: b\r") == []
    assert decoder.feed(b"\r") == [SSEEvent("message", b"b")]
    assert decoder.feed(b"\n") == []


def test_lf_after_cr_is_swallowed_only_once():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []  # an empty read changes nothing
    assert decoder.feed(b"\n") == []  # completes the CRLF
    assert decoder.feed(b"\n") == [SSEEvent("message", b"a")]  # a real blank line


def test_cr_then_cr_is_two_line_ends_across_feeds():
    assert decode(b"data: a\r", b"\rdata: b\r\r") == [SSEEvent("message", b"a"), SSEEvent("message", b"b")]


def test_cut_off_last_event_is_not_emitted():
    assert decode(b"data: a\n\ndata: cut off\n") == [SSEEvent("message", b"a")]
    assert decode(b"data: a\n\ndata: cut") == [SSEEvent("message", b"a")]
    assert decode(b"data: a\r\n\r\ndata: cut off\r\n") == [SSEEvent("message", b"a")]


def test_utf8_multibyte_split_across_feeds():
    text = "é€😀 日本語 ĉu"
    stream = f"data: {text}\n\n".encode()
    for cut in range(len(stream) + 1):
        events = decode_split(stream, cut)
        assert [e.data.decode("utf-8") for e in events] == [text], cut


def test_event_name_multibyte_split():
    stream = "event: événement\ndata: x\n\n".encode()
    for cut in range(len(stream) + 1):
        assert decode_split(stream, cut) == [SSEEvent("événement", b"x")], cut


def test_data_stays_bytes():
    events = decode(b"data: \xff\xfe\n\n")
    assert events == [SSEEvent("message", b"\xff\xfe")]
    assert isinstance(events[0].data, bytes)


def test_openai_style_chunks():
    stream = (
        b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'
        b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'
        b"data: [DONE]\n\n"
    )
    events = decode_split(stream, 17, 60)
    assert [e.data for e in events] == [
        b'{"choices":[{"delta":{"role":"assistant"}}]}',
        b'{"choices":[{"delta":{"content":"Hi"}}]}',
        b"[DONE]",
    ]
    assert {e.event for e in events} == {"message"}


def test_an_event_that_never_ends_is_refused_past_the_limit():
    """Bytes with no line end, or data lines with no blank line: memory is bounded."""
    from tui.engine.sse import EventTooLarge

    decoder = SSEDecoder(max_event_bytes=1000)
    decoder.feed(b"data: " + b"x" * 500)
    with pytest.raises(EventTooLarge, match="without ending"):
        decoder.feed(b"x" * 600)
    lines = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(EventTooLarge):
        for _ in range(30):
            lines.feed(b"data: " + b"y" * 50 + b"\n")
    # Events that end stay within it however many there are.
    many = SSEDecoder(max_event_bytes=1000)
    for _ in range(100):
        assert len(many.feed(b"data: " + b"z" * 500 + b"\n\n")) == 1
