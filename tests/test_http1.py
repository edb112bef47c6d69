"""HTTP/1.x heads (h11), chunked framing and content decoding."""

from __future__ import annotations

import contextlib
import gzip
import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff import http1
from shadowdiff.http1 import DecodeError, HttpParseError

FAST = settings(max_examples=60, deadline=None)


def deflate_raw(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


ENCODERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "identity": bytes,
}


# --- split_head ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "head", "body"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"body"),
        (b"GET / HTTP/1.1\nHost: a\n\nbody", b"GET / HTTP/1.1\nHost: a\n\n", b"body"),
        (b"GET / HTTP/1.1\r\n\r\n\n\nrest", b"GET / HTTP/1.1\r\n\r\n", b"\n\nrest"),
        (b"GET / HTTP/1.1\n\n\r\n\r\nrest", b"GET / HTTP/1.1\n\n", b"\r\n\r\nrest"),
        (b"HTTP/1.1 200 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n", b""),
    ],
)
def test_split_head_cuts_at_the_first_blank_line(raw: bytes, head: bytes, body: bytes) -> None:
    assert http1.split_head(raw) == (head, body)


@pytest.mark.parametrize("raw", [b"", b"GET / HTTP/1.1\r\nHost: a\r\n", b"no blank line\r\n"])
def test_split_head_without_blank_line_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(HttpParseError, match="end of headers"):
        http1.split_head(raw)


# --- requests -------------------------------------------------------------------------------


def test_request_head_parts() -> None:
    raw = b'POST /api/items?x=1 HTTP/1.1\r\nHost: shop\r\nContent-Length: 7\r\n\r\n{"a":1}'
    method, target, version, headers, head, body = http1.parse_request_head(raw)
    assert (method, target, version) == ("POST", "/api/items?x=1", "1.1")
    assert headers == (("Host", "shop"), ("Content-Length", "7"))
    assert head + body == raw
    assert body == b'{"a":1}'


def test_request_header_case_order_and_duplicates_are_kept() -> None:
    raw = (
        b"GET / HTTP/1.1\r\nx-lower: 1\r\nHOST: h\r\nX-Dup: a\r\nAccept: */*\r\n"
        b"x-dup: b\r\nX-MiXeD-CaSe: v\r\n\r\n"
    )
    headers = http1.parse_request_head(raw)[3]
    assert headers == (
        ("x-lower", "1"),
        ("HOST", "h"),
        ("X-Dup", "a"),
        ("Accept", "*/*"),
        ("x-dup", "b"),
        ("X-MiXeD-CaSe", "v"),
    )


def test_request_head_bytes_stay_exactly_as_sent() -> None:
    raw = b"GET /odd HTTP/1.1\r\nHost:h\r\nX-Space:   padded   \r\n\r\n"
    _, _, _, headers, head, _ = http1.parse_request_head(raw)
    assert head == raw
    assert headers == (("Host", "h"), ("X-Space", "padded"))


def test_request_with_bare_lf_line_endings() -> None:
    raw = b"GET /lf HTTP/1.1\nHost: a\nX-A: b\n\nbody"
    method, target, _, headers, head, body = http1.parse_request_head(raw)
    assert (method, target, headers) == ("GET", "/lf", (("Host", "a"), ("X-A", "b")))
    assert (head, body) == (b"GET /lf HTTP/1.1\nHost: a\nX-A: b\n\n", b"body")


@pytest.mark.parametrize(
    "target", ["/", "/a/b?c=d&e", "http://example.com/x?y", "*", "example.com:443", "/%7Euser"]
)
def test_request_targets_in_every_form(target: str) -> None:
    method = "CONNECT" if ":" in target and "/" not in target else "OPTIONS"
    raw = f"{method} {target} HTTP/1.1\r\nHost: example.com\r\n\r\n".encode()
    assert http1.parse_request_head(raw)[:2] == (method, target)


def test_http10_request_needs_no_host() -> None:
    assert http1.parse_request_head(b"GET / HTTP/1.0\r\n\r\n")[2:4] == ("1.0", ())


def test_http11_request_without_host_is_refused_by_h11() -> None:
    with pytest.raises(HttpParseError, match="Host"):
        http1.parse_request_head(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n")


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\n\r\n",  # a response is not a request
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS hello
        b"GET / HTTP/1.1\r\nHost a\r\n\r\n",  # header without colon
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
        b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1",  # no head end (a cut capture)
        b"",
    ],
)
def test_not_a_request_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(HttpParseError):
        http1.parse_request_head(raw)


def test_a_large_head_parses() -> None:
    cookie = "c=" + "x" * 100_000
    raw = f"GET / HTTP/1.1\r\nHost: a\r\nCookie: {cookie}\r\n\r\n".encode()
    assert http1.parse_request_head(raw)[3] == (("Host", "a"), ("Cookie", cookie))


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_give_a_request_or_a_parse_error(raw: bytes) -> None:
    try:
        method, _, _, _, head, body = http1.parse_request_head(raw)
    except HttpParseError:
        return
    assert method
    assert head + body == raw


# --- responses ------------------------------------------------------------------------------


def test_response_head_parts() -> None:
    raw = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope"
    version, status, reason, headers, head, body = http1.parse_response_head(raw)
    assert (version, status, reason) == ("1.1", 404, "Not Found")
    assert headers == (("Content-Type", "text/plain"), ("Content-Length", "4"))
    assert (head + body, body) == (raw, b"nope")


def test_response_header_case_order_and_repeats_are_kept() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nX-Trace-ID: t\r\nSet-Cookie: b=2\r\n"
        b"content-length: 0\r\n\r\n"
    )
    assert http1.parse_response_head(raw)[3] == (
        ("set-cookie", "a=1"),
        ("X-Trace-ID", "t"),
        ("Set-Cookie", "b=2"),
        ("content-length", "0"),
    )


def test_100_continue_before_the_final_response_stays_in_the_head() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    final = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n"
    version, status, reason, headers, head, body = http1.parse_response_head(
        interim + final + b"ok"
    )
    assert (version, status, reason, headers) == ("1.1", 201, "Created", (("Content-Length", "2"),))
    assert (head, body) == (interim + final, b"ok")


def test_several_informational_responses_before_the_final_one() -> None:
    raw = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 500 Internal Server Error\r\n\r\n"
    )
    assert http1.parse_response_head(raw)[1] == 500


def test_informational_response_alone_is_a_parse_error() -> None:
    with pytest.raises(HttpParseError):
        http1.parse_response_head(b"HTTP/1.1 100 Continue\r\n\r\n")


def test_101_switching_protocols_is_a_final_response() -> None:
    raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    _, status, _, headers, head, body = http1.parse_response_head(raw + b"\x81\x00")
    assert (status, headers[0], head, body) == (101, ("Upgrade", "websocket"), raw, b"\x81\x00")


def test_http10_response_without_content_length_keeps_everything_as_body() -> None:
    raw = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nread until close\r\n\r\nmore"
    version, status, _, headers, _, body = http1.parse_response_head(raw)
    assert (version, status, headers) == ("1.0", 200, (("Content-Type", "text/plain"),))
    assert body == b"read until close\r\n\r\nmore"


def test_response_to_head_has_content_length_but_no_body() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Encoding: gzip\r\n\r\n"
    headers, _, body = http1.parse_response_head(raw)[3:]
    assert body == b""
    assert http1.decode_content("gzip", body) == b""
    assert ("Content-Length", "1234") in headers


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"HTTP/1.1 200\r\n\r\n", ""), (b"HTTP/1.1 418 I'm a teapot\r\n\r\n", "I'm a teapot")],
)
def test_reason_phrase(raw: bytes, reason: str) -> None:
    assert http1.parse_response_head(raw)[2] == reason


def test_response_with_bare_lf_line_endings() -> None:
    raw = b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi"
    _, status, _, headers, head, body = http1.parse_response_head(raw)
    assert (status, headers, head, body) == (
        200,
        (("Content-Length", "2"),),
        b"HTTP/1.1 200 OK\nContent-Length: 2\n\n",
        b"hi",
    )


def test_latin1_header_values_survive() -> None:
    raw = b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\n\r\n"
    assert http1.parse_response_head(raw)[3] == (("X-Name", "caf\xe9"),)


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/9 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"",
    ],
)
def test_not_a_response_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(HttpParseError):
        http1.parse_response_head(raw)


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_give_a_response_or_a_parse_error(raw: bytes) -> None:
    try:
        _, status, _, _, head, body = http1.parse_response_head(raw)
    except HttpParseError:
        return
    assert 100 <= status <= 999
    assert head + body == raw


# --- chunked --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "data"),
    [
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
        (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
        (b"5;ext=1\r\nhello\r\n0\r\n\r\n", b"hello"),  # chunk extension
        (b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n", b"hello"),  # trailer
        (b"0\r\n\r\n", b""),
        (b"", b""),
        (b"5\r\nhello\r\n6\r\n wo", b"hello wo"),  # truncated: what it holds
    ],
)
def test_dechunk(wire: bytes, data: bytes) -> None:
    assert http1.dechunk(wire) == data


@pytest.mark.parametrize("wire", [b"zz\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n"])
def test_bad_chunk_framing_is_a_decode_error(wire: bytes) -> None:
    with pytest.raises(DecodeError, match="chunked"):
        http1.dechunk(wire)


@FAST
@given(st.binary(max_size=2000))
def test_dechunk_undoes_encode_chunked(data: bytes) -> None:
    assert http1.dechunk(http1.encode_chunked(data)) == data


@FAST
@given(st.lists(st.binary(min_size=1, max_size=50), max_size=8))
def test_dechunk_joins_many_chunks(chunks: list[bytes]) -> None:
    wire = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    assert http1.dechunk(wire) == b"".join(chunks)


@FAST
@given(st.binary(max_size=200))
def test_dechunk_of_any_bytes_gives_bytes_or_a_decode_error(wire: bytes) -> None:
    with contextlib.suppress(DecodeError):
        assert isinstance(http1.dechunk(wire), bytes)


# --- content encodings ----------------------------------------------------------------------

TEXT = b'{"items": [1, 2, 3], "name": "caf\xc3\xa9"}' * 20


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_decode_one_coding(coding: str) -> None:
    assert http1.decode_content(coding, ENCODERS[coding](TEXT)) == TEXT


def test_deflate_with_zlib_wrapper_and_raw() -> None:
    assert http1.decode_content("deflate", zlib.compress(TEXT)) == TEXT
    assert http1.decode_content("deflate", deflate_raw(TEXT)) == TEXT


def test_stacked_codings_are_undone_last_first() -> None:
    wire = brotli.compress(gzip.compress(TEXT))  # "gzip, br": gzip applied first
    assert http1.decode_content("gzip, br", wire) == TEXT
    with pytest.raises(DecodeError):
        http1.decode_content("br, gzip", wire)


def test_coding_names_ignore_case_blanks_and_empty_items() -> None:
    wire = brotli.compress(zlib.compress(TEXT))
    assert http1.decode_content(" Deflate ,, BR ", wire) == TEXT


def test_no_coding_leaves_bytes_alone() -> None:
    assert http1.decode_content("", b"\x1f\x8braw") == b"\x1f\x8braw"


def test_gzip_with_several_members_decodes_them_all() -> None:
    wire = gzip.compress(b"first,") + gzip.compress(b"second")
    assert http1.decode_content("gzip", wire) == b"first,second"


def test_truncated_gzip_yields_what_it_holds() -> None:
    wire = gzip.compress(TEXT, compresslevel=0)
    assert TEXT.startswith(http1.decode_content("gzip", wire[:-40]))


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "gzip, br", "zstd", "identity"])
def test_empty_body_stays_empty_whatever_its_coding(coding: str) -> None:
    assert http1.decode_content(coding, b"") == b""


@pytest.mark.parametrize("coding", ["zstd", "compress", "gzip, zstd"])
def test_unknown_coding_is_a_decode_error(coding: str) -> None:
    with pytest.raises(DecodeError, match="unknown Content-Encoding"):
        http1.decode_content(coding, gzip.compress(TEXT))


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_corrupt_body_is_a_decode_error(coding: str) -> None:
    with pytest.raises(DecodeError, match=f"cannot decode {coding}"):
        http1.decode_content(coding, b"this is not compressed at all")


CODINGS = st.lists(st.sampled_from(sorted(ENCODERS)), min_size=1, max_size=3)


@FAST
@given(CODINGS, st.binary(max_size=500))
def test_decode_content_undoes_any_stack(codings: list[str], data: bytes) -> None:
    wire = data
    for coding in codings:
        wire = ENCODERS[coding](wire)
    assert http1.decode_content(", ".join(codings), wire) == data


@FAST
@given(st.sampled_from(["gzip", "deflate", "br"]), st.binary(max_size=200))
def test_decoding_any_bytes_gives_bytes_or_a_decode_error(coding: str, wire: bytes) -> None:
    with contextlib.suppress(DecodeError):
        assert isinstance(http1.decode_content(coding, wire), bytes)


# --- building heads -------------------------------------------------------------------------


def test_build_head() -> None:
    head = http1.build_head("GET / HTTP/1.1", (("Host", "a"), ("x-b", "caf\xe9")))
    assert head == b"GET / HTTP/1.1\r\nHost: a\r\nx-b: caf\xe9\r\n\r\n"
    assert http1.build_head("HTTP/1.1 204 No Content", ()) == b"HTTP/1.1 204 No Content\r\n\r\n"


# --- the plain grammar and h11 read every head alike ----------------------------------------

_LINES = st.sampled_from(
    [
        b"Host: svc",
        b"host:svc",
        b"Host: other",
        b"X-A: 1",
        b"X-Empty:",
        b"X-Tab:\tv \t",
        b"X-Inner: a  b",
        b"Content-Length: 3",
        b"content-length:  5 ",
        b"Content-Length: 3, 3",
        b"Content-Length: -1",
        b"Transfer-Encoding: chunked",
        b"Transfer-Encoding: Chunked",
        b"Transfer-Encoding: gzip, chunked",
        b"Bad Header: x",
        b" folded",
        b"X-Ctl: a\x01b",
        b"X-Bin: \xff\xfe",
        b"X-Del: \x7f",
        b"NoColon",
    ]
)
_REQUEST_STARTS = st.sampled_from(
    [
        b"GET /a?b=1 HTTP/1.1",
        b"POST /items HTTP/1.0",
        b"get / HTTP/1.1",
        b"GET  / HTTP/1.1",
        b"GET /\xff HTTP/1.1",
        b"OPTIONS * HTTP/1.1",
        b"GET / HTTP/2.0",
        b"GET http://svc/x HTTP/1.1",
    ]
)
_RESPONSE_STARTS = st.sampled_from(
    [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200",
        b"HTTP/1.1 200 ",
        b"HTTP/1.0 404 Not\tFound",
        b"HTTP/1.1 500 \xe9t\xe9",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK",
        b"HTTP/1.1 101 Switching Protocols",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 204 No Content",
    ]
)


def _outcome(parse: object, raw: bytes) -> object:
    try:
        return parse(raw)  # type: ignore[operator]
    except HttpParseError:
        return HttpParseError


@settings(max_examples=600, deadline=None)
@given(_REQUEST_STARTS, st.lists(_LINES, max_size=5), st.binary(max_size=8))
def test_requests_read_by_the_plain_grammar_as_h11_reads_them(
    start: bytes, lines: list[bytes], body: bytes
) -> None:
    raw = b"\r\n".join([start, *lines]) + b"\r\n\r\n" + body
    assert _outcome(http1.parse_request_head, raw) == _outcome(http1.h11_request_head, raw)


@settings(max_examples=600, deadline=None)
@given(_RESPONSE_STARTS, st.lists(_LINES, max_size=5), st.binary(max_size=8))
def test_responses_read_by_the_plain_grammar_as_h11_reads_them(
    start: bytes, lines: list[bytes], body: bytes
) -> None:
    raw = b"\r\n".join([start, *lines]) + b"\r\n\r\n" + body
    assert _outcome(http1.parse_response_head, raw) == _outcome(http1.h11_response_head, raw)


def test_the_plain_grammar_reads_the_usual_heads() -> None:
    request = b"GET /a HTTP/1.1\r\nHost: svc\r\nAccept: */*\r\n\r\n"
    assert http1.REQUEST_LINE.match(request) is not None
    assert http1.plain_fields(request, 17, request_version=b"1") == (
        ("Host", "svc"),
        ("Accept", "*/*"),
    )
