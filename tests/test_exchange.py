"""Request, Response and Exchange: raw bytes kept, content decoded on access; the factories."""

from __future__ import annotations

import dataclasses
import gzip
import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff import http1
from shadowdiff.exchange import Exchange, Request, Response, get_header
from shadowdiff.http1 import DecodeError
from shadowdiff.testing import HOST, make_exchange, make_request, make_response

FAST = settings(max_examples=80, deadline=None)

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VISIBLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
FRAMING = {"host", "content-length", "transfer-encoding"}  # h11 checks or rewrites these

tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
words = st.text(VISIBLE, min_size=1, max_size=12)
values = st.lists(words, max_size=4).map(" ".join)  # visible ASCII, single inner spaces
header_lists = st.lists(
    st.tuples(tokens.filter(lambda name: name.lower() not in FRAMING), values), max_size=8
).map(tuple)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    version = draw(st.sampled_from(["1.0", "1.1"]))
    headers = draw(header_lists)
    if version == "1.1":
        headers = (("Host", draw(words)), *headers)
    target = draw(st.text(VISIBLE, min_size=1, max_size=40))
    return Request(draw(tokens), target, version, headers, draw(st.binary(max_size=200)))


@st.composite
def responses(draw: st.DrawFn) -> Response:
    status = draw(st.integers(200, 599) | st.just(101))
    reason = draw(values)
    version = draw(st.sampled_from(["1.0", "1.1"]))
    return Response(status, reason, version, draw(header_lists), draw(st.binary(max_size=200)))


# --- Request --------------------------------------------------------------------------------


@FAST
@given(requests())
def test_request_parse_undoes_to_bytes(request: Request) -> None:
    assert Request.parse(request.to_bytes()) == request


def test_request_builds_its_head_from_its_fields() -> None:
    request = Request("POST", "/a?b=1", headers=(("Host", "h"), ("X-Id", "7")), body=b"xyz")
    assert request.head == b"POST /a?b=1 HTTP/1.1\r\nHost: h\r\nX-Id: 7\r\n\r\n"
    assert request.to_bytes() == request.head + b"xyz"


def test_parsed_request_keeps_the_bytes_it_was_sent_as() -> None:
    raw = b"GET /x HTTP/1.1\nhost:   h  \nX-A:b\n\nbody"
    request = Request.parse(raw)
    assert request.to_bytes() == raw
    assert request.headers == (("host", "h"), ("X-A", "b"))
    assert request.body == b"body"


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/", "/"),
        ("/api/users/7?fields=a,b", "/api/users/7"),
        ("/a#frag", "/a"),
        ("//double//slashes/?q", "//double//slashes/"),
        ("http://example.com/x/y?z=1", "/x/y"),
        ("http://example.com", "/"),
        ("*", "*"),
    ],
)
def test_request_path(target: str, path: str) -> None:
    assert make_request(target=target).path == path


def test_header_lookup_ignores_case_and_takes_the_first() -> None:
    request = make_request(headers=[("X-Dup", "1"), ("x-dup", "2")])
    assert request.header("X-DUP") == "1"
    assert request.header("missing") is None
    assert get_header((("A", "1"),), "a") == "1"


def test_request_content_is_dechunked_and_decoded() -> None:
    wire = http1.encode_chunked(gzip.compress(b'{"a": 1}'))
    request = make_request(
        "POST", headers=[("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")], body=wire
    )
    assert request.content == b'{"a": 1}'
    assert request.body == wire
    assert Request.parse(request.to_bytes()).content == b'{"a": 1}'


# --- Response -------------------------------------------------------------------------------


@FAST
@given(responses())
def test_response_parse_undoes_to_bytes(response: Response) -> None:
    assert Response.parse(response.to_bytes()) == response


def test_response_builds_its_head_from_its_fields() -> None:
    assert Response(204).head == b"HTTP/1.1 204\r\n\r\n"
    response = Response(200, "OK", "1.0", (("A", "b"),), b"x")
    assert response.to_bytes() == b"HTTP/1.0 200 OK\r\nA: b\r\n\r\nx"


def test_parsed_response_keeps_an_interim_response_in_its_bytes() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    response = Response.parse(raw)
    assert (response.status, response.reason, response.body) == (200, "OK", b"ok")
    assert response.to_bytes() == raw


@pytest.mark.parametrize(
    ("headers", "wire"),
    [
        ([("Content-Encoding", "gzip")], gzip.compress(b'{"x": [1]}')),
        ([("Content-Encoding", "deflate")], zlib.compress(b'{"x": [1]}')),
        ([("Content-Encoding", "br")], brotli.compress(b'{"x": [1]}')),
        ([("Content-Encoding", "gzip, br")], brotli.compress(gzip.compress(b'{"x": [1]}'))),
        ([("Transfer-Encoding", "chunked")], http1.encode_chunked(b'{"x": [1]}')),
        (
            [("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")],
            http1.encode_chunked(gzip.compress(b'{"x": [1]}')),
        ),
        ([], b'{"x": [1]}'),
    ],
)
def test_response_content_and_json_decode_on_access(
    headers: list[tuple[str, str]], wire: bytes
) -> None:
    response = make_response(headers=headers, body=wire, content_type="application/json")
    assert response.body == wire
    assert response.content == b'{"x": [1]}'
    assert response.is_json
    assert response.json() == {"x": [1]}


def test_undecodable_content_raises_only_on_access() -> None:
    response = make_response(headers=[("Content-Encoding", "zstd")], body=b"\x28\xb5\x2f\xfd")
    assert response.body == b"\x28\xb5\x2f\xfd"
    with pytest.raises(DecodeError):
        _ = response.content


def test_head_and_not_modified_responses_with_an_encoding_have_empty_content() -> None:
    for status in (200, 304):
        response = Response.parse(
            f"HTTP/1.1 {status} X\r\nContent-Encoding: br\r\nContent-Length: 99\r\n\r\n".encode()
        )
        assert response.content == b""


@pytest.mark.parametrize(
    ("content_type", "body", "is_json"),
    [
        ("application/json", b"[]", True),
        ("application/json; charset=utf-8", b"{}", True),
        ("application/problem+json", b"{}", True),
        ("Application/JSON", b"{}", True),
        ("text/plain", b'{"looks": "like json"}', False),
        ("text/html; note=json", b"{}", False),
        (None, b'  {"sniffed": true}', True),
        (None, b"[1]", True),
        (None, b"plain", False),
        (None, b"", False),
    ],
)
def test_is_json(content_type: str | None, body: bytes, is_json: bool) -> None:
    assert make_response(body=body, content_type=content_type).is_json is is_json


# --- values ---------------------------------------------------------------------------------


def test_messages_are_frozen_and_hashable() -> None:
    request, response = make_request(), make_response()
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.method = "POST"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        response.status = 500  # type: ignore[misc]
    assert len({request, make_request()}) == 1
    assert hash(make_exchange(request, response, id="a")) == hash(
        make_exchange(request, response, id="a")
    )


def test_exchange_equality_ignores_its_source() -> None:
    exchange = make_exchange(id="a", timestamp=5)
    assert dataclasses.replace(exchange, source="x.gor: byte 10") == exchange
    assert dataclasses.replace(exchange, timestamp=6) != exchange


# --- factories (shadowdiff.testing) ---------------------------------------------------------


def test_make_request_adds_host_and_content_length() -> None:
    request = make_request("POST", "/items", json={"name": "x"})
    assert request.headers == (
        ("Host", HOST),
        ("Content-Type", "application/json"),
        ("Content-Length", "12"),
    )
    assert request.body == b'{"name":"x"}'
    assert make_request().headers == (("Host", HOST),)
    assert make_request("POST").header("Content-Length") == "0"


def test_make_request_keeps_given_headers() -> None:
    request = make_request(
        "PUT",
        headers=[("host", "api"), ("Transfer-Encoding", "chunked")],
        body=http1.encode_chunked(b"x"),
    )
    assert request.headers == (("host", "api"), ("Transfer-Encoding", "chunked"))
    assert request.content == b"x"


@pytest.mark.parametrize(
    "request_",
    [make_request(), make_request("POST", "/a?b", json=[1, 2]), make_request(body=b"\x00\xff")],
)
def test_made_requests_parse_back(request_: Request) -> None:
    assert Request.parse(request_.to_bytes()) == request_


def test_make_response() -> None:
    response = make_response(json={"id": 1})
    assert (response.status, response.reason) == (200, "OK")
    assert response.headers == (("Content-Type", "application/json"), ("Content-Length", "8"))
    assert response.json() == {"id": 1}
    assert Response.parse(response.to_bytes()) == response


@pytest.mark.parametrize(("status", "reason"), [(204, "No Content"), (304, "Not Modified")])
def test_make_response_without_a_body(status: int, reason: str) -> None:
    response = make_response(status)
    assert (response.reason, response.headers) == (reason, ())


def test_make_response_with_odd_status_and_own_content_type() -> None:
    response = make_response(599, body=b"<p>", content_type="text/html")
    assert response.to_bytes() == (
        b"HTTP/1.1 599\r\nContent-Type: text/html\r\nContent-Length: 3\r\n\r\n<p>"
    )


def test_make_exchange() -> None:
    first, second = make_exchange(), make_exchange(timestamp=9)
    assert first.id != second.id
    assert len(first.id) == 24
    assert (first.baseline, first.request, second.timestamp) == (None, make_request(), 9)
    baseline = make_response(500)
    assert make_exchange(baseline=baseline, id="x", baseline_latency=3) == Exchange(
        "x", make_request(), baseline, 0, 3
    )


@pytest.mark.parametrize(
    ("ctype", "is_json"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("application/problem+json", True),
        ("application/vnd.api+json", True),
        ("text/json", True),
        ("application/x-ndjson", False),
        ("application/json-seq", False),
        ("text/plain", False),
    ],
)
def test_json_is_decided_by_media_type(ctype: str, is_json: bool) -> None:
    assert make_response(body=b'{"a": 1}', content_type=ctype).is_json is is_json
