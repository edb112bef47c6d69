"""Whole HTTP/1.x messages cut out of one direction's in-order bytes, byte for byte."""

from __future__ import annotations

import gzip
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.capture import framing
from shadowdiff.capture.framing import FramingError, Message, MessageCutter

FAST = settings(max_examples=100, deadline=None)

GET = b"GET /a?b=1 HTTP/1.1\r\nHost: svc\r\nX-lower: v\r\nX-UPPER: V\r\n\r\n"
POST = b"POST /items HTTP/1.1\r\nHost: svc\r\nContent-Length: 11\r\n\r\nhello world"
CHUNKED_POST = (
    b"POST /up HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n"
)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\nnot found"
CHUNKED_OK = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
    b"3;ext\r\nabc\r\n000A\r\n0123456789\r\n0;last\r\nX-T: 1\r\n\r\n"
)
GZIP_BODY = gzip.compress(b'{"items": [' + b"1, " * 500 + b"1]}", mtime=0)
GZIP_OK = (
    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
    + b"Content-Length: %d\r\n\r\n" % len(GZIP_BODY)
    + GZIP_BODY
)


def requests() -> MessageCutter:
    return MessageCutter(is_response=False)


def responses(*methods: bytes) -> MessageCutter:
    """A response cutter answering requests with these methods, in order (then GET)."""
    pending = list(methods)
    return MessageCutter(True, lambda: pending.pop(0) if pending else b"GET")


def feed_pieces(cutter: MessageCutter, data: bytes, size: int) -> list[Message]:
    out: list[Message] = []
    for offset in range(0, len(data), size):
        out += cutter.feed(data[offset : offset + size], offset)
    return out


def raws(messages: list[Message]) -> list[bytes]:
    return [m.raw for m in messages]


# --- requests -----------------------------------------------------------------------------


@pytest.mark.parametrize("message", [GET, POST, CHUNKED_POST])
@pytest.mark.parametrize("size", [1, 7, 1460])
def test_request_split_over_chunks_comes_out_whole(message: bytes, size: int) -> None:
    cutter = requests()
    assert raws(feed_pieces(cutter, message, size)) == [message]
    assert not cutter.started and cutter.pending_bytes == 0


def test_message_times_are_its_first_and_last_chunk() -> None:
    cutter = requests()
    assert cutter.feed(POST[:10], 100) == []
    assert cutter.started and cutter.pending_bytes == 10
    assert cutter.feed(POST[10:], 250) == [Message(POST, 100, 250)]


def test_pipelined_requests_in_one_chunk() -> None:
    cutter = requests()
    assert raws(cutter.feed(GET + CHUNKED_POST + POST, 1)) == [GET, CHUNKED_POST, POST]
    assert cutter.cut == 3


def test_pipelined_requests_across_chunk_boundaries() -> None:
    data = GET + POST + CHUNKED_POST + GET
    cutter = requests()
    messages = feed_pieces(cutter, data, 50)
    assert raws(messages) == [GET, POST, CHUNKED_POST, GET]
    starts = [0, len(GET), len(GET + POST), len(GET + POST + CHUNKED_POST)]
    assert [m.first_ns for m in messages] == [start // 50 * 50 for start in starts]
    ends = [len(GET), len(GET + POST), len(GET + POST + CHUNKED_POST), len(data)]
    assert [m.last_ns for m in messages] == [(end - 1) // 50 * 50 for end in ends]


def test_request_with_expect_100_continue_waits_for_its_body() -> None:
    head = b"PUT /big HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    cutter = requests()
    assert cutter.feed(head, 1) == []
    assert cutter.feed(b"data", 9) == [Message(head + b"data", 1, 9)]


def test_http_10_request() -> None:
    message = b"GET / HTTP/1.0\r\n\r\n"
    assert raws(requests().feed(message + message, 1)) == [message, message]


def test_upgrade_request_is_cut_at_its_end() -> None:
    upgrade = b"GET /ws HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    assert raws(requests().feed(upgrade, 1)) == [upgrade]


# --- responses ----------------------------------------------------------------------------


@pytest.mark.parametrize("message", [OK, NOT_FOUND, CHUNKED_OK, GZIP_OK])
@pytest.mark.parametrize("size", [1, 13, 1460])
def test_response_split_over_chunks_comes_out_whole(message: bytes, size: int) -> None:
    assert raws(feed_pieces(responses(), message, size)) == [message]


def test_gzip_body_is_kept_compressed_byte_for_byte() -> None:
    [message] = responses().feed(GZIP_OK, 1)
    assert message.raw.endswith(GZIP_BODY)


def test_pipelined_responses_in_one_chunk() -> None:
    data = OK + CHUNKED_OK + NOT_FOUND + GZIP_OK
    assert raws(responses().feed(data, 1)) == [OK, CHUNKED_OK, NOT_FOUND, GZIP_OK]


def test_100_continue_and_the_final_response_are_one_message() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    cutter = responses(b"PUT")
    assert cutter.feed(interim, 1) == []
    assert cutter.started
    assert cutter.feed(OK + OK, 5) == [Message(interim + OK, 1, 5), Message(OK, 5, 5)]


def test_several_interim_responses_stay_with_the_final_one() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
    assert raws(responses().feed(interim + OK, 1)) == [interim + OK]


def test_head_response_has_no_body_despite_its_content_length() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n\r\n"
    cutter = responses(b"HEAD", b"GET", b"HEAD")
    assert raws(cutter.feed(head + OK + head, 1)) == [head, OK, head]


def test_method_is_asked_once_per_response() -> None:
    asked: list[int] = []

    def method() -> bytes:
        asked.append(1)
        return b"GET"

    cutter = MessageCutter(True, method)
    feed_pieces(cutter, OK + CHUNKED_OK + OK, 3)
    assert len(asked) == 3


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
def test_responses_that_never_have_a_body(status: bytes) -> None:
    message = b"HTTP/1.1 " + status + b"\r\nETag: x\r\n\r\n"
    assert raws(responses().feed(message + OK, 1)) == [message, OK]


def test_close_delimited_response_ends_at_finish() -> None:
    message = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it until close"
    cutter = responses()
    assert feed_pieces(cutter, message, 10) == []
    assert cutter.finish(99) == Message(message, 0, 99)
    assert not cutter.started


def test_http_11_response_without_length_is_close_delimited() -> None:
    message = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody"
    cutter = responses()
    assert cutter.feed(message, 1) == []
    assert cutter.finish(2) == Message(message, 1, 2)


def test_finish_on_an_incomplete_message_is_a_framing_error_and_leaves_it_started() -> None:
    cutter = responses()
    cutter.feed(OK[:-1], 1)
    with pytest.raises(FramingError, match="without sending complete message"):
        cutter.finish(2)
    assert cutter.started


def test_finish_between_messages_gives_nothing() -> None:
    cutter = responses()
    cutter.feed(OK, 1)
    assert cutter.finish(2) is None
    assert responses().finish(3) is None
    assert not cutter.started


def test_finish_on_an_incomplete_request_is_a_framing_error() -> None:
    cutter = requests()
    cutter.feed(POST[:-3], 1)
    with pytest.raises(FramingError):
        cutter.finish(2)
    assert cutter.started


def test_switching_protocols_ends_http() -> None:
    switch = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    cutter = responses()
    [message] = cutter.feed(switch + b"\x81\x05hello", 1)
    assert message == Message(switch, 1, 1, switched=True)


def test_connect_tunnel_ends_http() -> None:
    established = b"HTTP/1.1 200 Connection established\r\n\r\n"
    [message] = responses(b"CONNECT").feed(established + b"\x16\x03\x01", 1)
    assert message == Message(established, 1, 1, switched=True)


def test_refused_connect_is_an_ordinary_response() -> None:
    refused = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"
    assert responses(b"CONNECT").feed(refused + OK, 1) == [
        Message(refused, 1, 1),
        Message(OK, 1, 1),
    ]


# --- not HTTP, bounds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # TLS ClientHello
        b"hello there\r\n\r\n",
        b"GET / HTTP/1.1\r\nbad header line\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ],
)
def test_garbage_request_bytes_are_a_framing_error(data: bytes) -> None:
    with pytest.raises(FramingError):
        requests().feed(data, 1)


@pytest.mark.parametrize(
    "data",
    [
        b"\x16\x03\x03\x00\x5a\x02\x00\x00",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_garbage_response_bytes_are_a_framing_error(data: bytes) -> None:
    with pytest.raises(FramingError):
        responses().feed(data, 1)


def test_garbage_after_a_good_message_is_a_framing_error() -> None:
    cutter = requests()
    assert raws(cutter.feed(GET, 1)) == [GET]
    with pytest.raises(FramingError):
        cutter.feed(b"\x00\x01\x02", 2)


def test_message_over_the_bound_is_a_framing_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framing, "MAX_MESSAGE", 1000)
    head = b"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 5000\r\n\r\n"
    cutter = requests()
    cutter.feed(head + b"x" * 900, 1)
    with pytest.raises(FramingError, match="message over"):
        cutter.feed(b"x" * 200, 2)


def test_head_over_the_bound_is_a_framing_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framing, "MAX_HEAD", 200)
    with pytest.raises(FramingError):
        requests().feed(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 300 + b"\r\n\r\n", 1)


# --- property -----------------------------------------------------------------------------

_token = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=10).map(str.encode)
_headers = st.lists(st.tuples(_token, _token), max_size=4).map(
    lambda pairs: b"".join(b"X-" + name + b": " + value + b"\r\n" for name, value in pairs)
)
_body = st.binary(max_size=300)


@st.composite
def _request(draw: st.DrawFn) -> bytes:
    body, headers = draw(_body), draw(_headers)
    if draw(st.booleans()):
        return b"GET /" + draw(_token) + b" HTTP/1.1\r\nHost: svc\r\n" + headers + b"\r\n"
    if draw(st.booleans()):
        return (
            b"PUT /x HTTP/1.1\r\nHost: s\r\n"
            + headers
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
    head = b"POST /x HTTP/1.1\r\nHost: s\r\n" + headers
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + _chunk(body)


@st.composite
def _response(draw: st.DrawFn) -> bytes:
    body, headers = draw(_body), draw(_headers)
    status = b"HTTP/1.1 %d X\r\n" % draw(st.sampled_from([200, 201, 404, 500]))
    if draw(st.booleans()):
        return status + headers + b"Content-Length: %d\r\n\r\n" % len(body) + body
    return status + headers + b"Transfer-Encoding: chunked\r\n\r\n" + _chunk(body)


def _chunk(body: bytes) -> bytes:
    """`body` in chunks of up to 64 bytes, then the last chunk."""
    pieces = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@FAST
@given(st.lists(_request(), min_size=1, max_size=5), st.lists(st.integers(0, 10_000)))
def test_any_split_of_requests_gives_them_back(messages: list[bytes], cuts: list[int]) -> None:
    cutter = requests()
    out: list[Message] = []
    for piece in _split(b"".join(messages), cuts):
        out += cutter.feed(piece, 0)
    assert raws(out) == messages
    assert not cutter.started


@FAST
@given(st.lists(_response(), min_size=1, max_size=5), st.lists(st.integers(0, 10_000)))
def test_any_split_of_responses_gives_them_back(messages: list[bytes], cuts: list[int]) -> None:
    cutter = responses()
    out: list[Message] = []
    for piece in _split(b"".join(messages), cuts):
        out += cutter.feed(piece, 0)
    assert raws(out) == messages
    assert not cutter.started


# --- the plain path and h11 cut alike ------------------------------------------------------

_HEADER_LINES = st.sampled_from(
    [
        b"Host: svc",
        b"host:svc",
        b"X-A: 1",
        b"X-Empty:",
        b"X-Tab:\tv\t",
        b"Connection: keep-alive",
        b"Content-Length: 3",
        b"content-length:  5 ",
        b"Content-Length: 3, 3",
        b"Content-Length: -1",
        b"Content-Length: 99999999999999999999",
        b"Transfer-Encoding: chunked",
        b"Expect: 100-continue",
        b"Upgrade: websocket",
        b"Bad Header: x",
        b" folded continuation",
        b"X-Ctl: a\x01b",
        b"X-Bin: \xff\xfe",
        b"NoColon",
    ]
)
_START_LINES = st.sampled_from(
    [
        b"GET /a HTTP/1.1",
        b"POST /items?x=1 HTTP/1.1",
        b"HEAD / HTTP/1.0",
        b"PUT /p HTTP/1.0",
        b"CONNECT svc:443 HTTP/1.1",
        b"get / HTTP/1.1",
        b"GET  / HTTP/1.1",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 204 No Content",
        b"HTTP/1.1 304 Not Modified",
        b"HTTP/1.0 200",
        b"HTTP/1.1 100 Continue",
        b"HTTP/1.1 101 Switching Protocols",
        b"HTTP/1.1 404 Not Found",
        b"HTTP/2 200 OK",
    ]
)
_BODIES = st.sampled_from([b"", b"abc", b"hello", b"3\r\nabc\r\n0\r\n\r\n", b"x" * 40])


@st.composite
def _stream(draw: st.DrawFn) -> bytes:
    messages = []
    for _ in range(draw(st.integers(1, 3))):
        lines = [draw(_START_LINES), *draw(st.lists(_HEADER_LINES, max_size=4))]
        messages.append(b"\r\n".join(lines) + b"\r\n\r\n" + draw(_BODIES))
    return b"".join(messages)


def _cuts(
    data: bytes, sizes: list[int], is_response: bool, methods: list[bytes], plain: bool
) -> list[object]:
    """What each feed gives (raws, or the error's type), then what finish gives."""
    pending = list(methods)
    cutter = MessageCutter(is_response, lambda: pending.pop(0) if pending else b"GET", plain)
    out: list[object] = []
    offset = 0
    for size in [*sizes, len(data)]:
        piece, offset = data[offset : offset + size], offset + size
        if not piece:
            break
        try:
            out.append(raws(cutter.feed(piece, offset)))
        except FramingError:
            return [*out, FramingError, pending]
    try:
        tail = cutter.finish(offset)
        out.append(tail.raw if tail else None)
    except FramingError:
        out.append(FramingError)
    return [*out, pending]


@FAST
@given(
    _stream(),
    st.lists(st.integers(1, 60), max_size=6),
    st.booleans(),
    st.lists(st.sampled_from([b"GET", b"HEAD", b"POST", b"CONNECT"]), max_size=3),
)
def test_the_plain_path_cuts_every_stream_as_h11_does(
    data: bytes, sizes: list[int], is_response: bool, methods: list[bytes]
) -> None:
    assert _cuts(data, sizes, is_response, methods, plain=True) == _cuts(
        data, sizes, is_response, methods, plain=False
    )


@pytest.mark.parametrize(
    ("head", "is_response", "length"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", False, 27),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n", False, 51),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", True, 49),
        (b"HTTP/1.1 204 No Content\r\n\r\n", True, 27),
        (b"GET / HTTP/1.1\r\n\r\n", False, framing.NOT_PLAIN),  # no Host: h11 refuses
        (b"HTTP/1.1 200 OK\r\n\r\n", True, framing.NOT_PLAIN),  # ends at the close
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", True, framing.NOT_PLAIN),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", False, None),  # the head is not whole
    ],
)
def test_plain_length(head: bytes, is_response: bool, length: int | None) -> None:
    assert framing.plain_length(head, is_response, lambda: b"GET") == length
