"""GoReplay's --prettify-http: bodies de-chunked and decompressed, framing headers to match."""

from __future__ import annotations

import gzip

from shadowdiff.exchange import Exchange, Request, Response
from shadowdiff.traffic.prettify import prettify_exchange

CHUNKED = (
    b"POST /upload HTTP/1.1\r\nHost: a\r\nX-Keep:  as is \r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n"
)
BODY = b'{"hello": "world"}'
GZIPPED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
    b"Content-Length: %d\r\nX-Last: 1\r\n\r\n" % len(gzip.compress(BODY, mtime=0))
) + gzip.compress(BODY, mtime=0)


def test_bodies_become_plain_and_the_framing_follows() -> None:
    exchange = Exchange("1", Request.parse(CHUNKED), Response.parse(GZIPPED))
    pretty = prettify_exchange(exchange)
    assert pretty.request.to_bytes() == (
        b"POST /upload HTTP/1.1\r\nHost: a\r\nX-Keep:  as is \r\nContent-Length: 6\r\n\r\nabcdef"
    )
    assert pretty.baseline is not None
    assert pretty.baseline.to_bytes() == (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n"
        b"X-Last: 1\r\n\r\n" + BODY
    )


def test_plain_and_undecodable_messages_stay_as_they_are() -> None:
    plain = Request.parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    broken = Response.parse(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc"
    )
    exchange = Exchange("1", plain, broken)
    assert prettify_exchange(exchange) is exchange
