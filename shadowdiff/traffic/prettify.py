"""GoReplay's `--prettify-http` (pure): bodies de-chunked and decompressed before the
middleware and the outputs, so a middleware reads plain text (the `gor` 0.2.3 package drops
any payload that is not UTF-8, gzip bodies included).

The framing headers follow: `Transfer-Encoding` and `Content-Encoding` are removed and
`Content-Length` says the new length; every other byte of the head stays as recorded. A body
that cannot be decoded stays as it was (GoReplay drops such a message: shadowdiff keeps it,
and the comparison reports what it can).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TypeVar

from shadowdiff import http1
from shadowdiff.exchange import Exchange, Request, Response
from shadowdiff.traffic.rewrites import with_header

_FRAMING_LINE = re.compile(rb"\n(?:transfer-encoding|content-encoding)[ \t]*:[^\n]*", re.IGNORECASE)


M = TypeVar("M", Request, Response)


def prettify_exchange(exchange: Exchange) -> Exchange:
    request = _prettified(exchange.request)
    baseline = _prettified(exchange.baseline) if exchange.baseline else None
    if request is exchange.request and baseline is exchange.baseline:
        return exchange
    return replace(exchange, request=request, baseline=baseline)


def _prettified(message: M) -> M:
    encoded = message.header("Transfer-Encoding") or message.header("Content-Encoding")
    if not encoded:
        return message
    try:
        content = message.content
    except http1.DecodeError:
        return message
    head = _FRAMING_LINE.sub(b"", message.head)
    head = with_header(head, "Content-Length", str(len(content)))
    return type(message).parse(head + content)
