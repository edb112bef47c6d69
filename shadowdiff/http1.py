"""HTTP/1.x message parsing and body decoding, on top of h11.

Wire bytes stay raw: a parsed message keeps its head bytes and its wire body, and the
decoded content (chunked framing removed, gzip/deflate/br undone) is computed on access.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable

import brotli
import h11

MAX_HEAD = 1 << 20
HeaderPairs = tuple[tuple[str, str], ...]

# The plain grammar: heads that h11 takes exactly as written (CRLF lines, RFC 9110 tokens, no
# control characters, no folded lines). Such heads are read by the regular expressions below,
# about ten times faster than through h11; any other head goes to h11, which stays the
# authority (property tests check both read every head alike).
TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
VALUE = rb"[^\x00-\x08\x0a-\x1f\x7f]*"  # no control characters but HTAB
REQUEST_LINE = re.compile(rb"(" + TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.([01])\r\n")
STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: (" + VALUE + rb"))?\r\n")
FIELD_LINES = re.compile(rb"(?:" + TOKEN + rb":" + VALUE + rb"\r\n)*")
DIGITS = re.compile(rb"[0-9]{1,18}")


class HttpParseError(ValueError):
    """Bytes that are not an HTTP/1.x message."""


class DecodeError(ValueError):
    """A body whose Content-Encoding cannot be undone."""


def split_head(raw: bytes) -> tuple[bytes, bytes]:
    """Split a message at the blank line ending its head: (head incl. blank line, body)."""
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := raw.find(sep)) >= 0]
    if not ends:
        raise HttpParseError("no end of headers (blank line) found")
    end = min(ends)
    return raw[:end], raw[end:]


def header_pairs(items: Iterable[tuple[bytes, bytes]]) -> HeaderPairs:
    return tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in items)


def parse_request_head(raw: bytes) -> tuple[str, str, str, HeaderPairs, bytes, bytes]:
    """Parse a request: (method, target, version, headers, head bytes, wire body)."""
    head, body = split_head(raw)
    if (line := REQUEST_LINE.match(head)) is not None:
        headers = plain_fields(head, line.end(), request_version=line.group(3))
        if headers is not None:
            method, target = line.group(1).decode("ascii"), line.group(2).decode("latin-1")
            return method, target, "1." + line.group(3).decode(), headers, head, body
    return h11_request_head(raw)


def h11_request_head(raw: bytes) -> tuple[str, str, str, HeaderPairs, bytes, bytes]:
    """`parse_request_head` by h11 alone."""
    head, body = split_head(raw)
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    event = _first_event(conn, head)
    if not isinstance(event, h11.Request):
        raise HttpParseError("not an HTTP request")
    version = event.http_version.decode("ascii")
    method, target = event.method.decode("ascii"), event.target.decode("latin-1")
    return method, target, version, header_pairs(event.headers.raw_items()), head, body


def parse_response_head(raw: bytes) -> tuple[str, int, str, HeaderPairs, bytes, bytes]:
    """Parse a response: (version, status, reason, headers, head bytes, wire body).

    Informational (1xx) heads before the final one stay in the head bytes.
    """
    head, body = split_head(raw)
    if (line := STATUS_LINE.match(head)) is not None and line.group(2)[0] != ord("1"):
        headers = plain_fields(head, line.end())
        if headers is not None:
            reason = (line.group(3) or b"").decode("latin-1")
            return "1." + line.group(1).decode(), int(line.group(2)), reason, headers, head, body
    return h11_response_head(raw)


def h11_response_head(raw: bytes) -> tuple[str, int, str, HeaderPairs, bytes, bytes]:
    """`parse_response_head` by h11 alone."""
    offset = 0
    while True:
        head, body = split_head(raw[offset:])
        event = _first_event(_client_awaiting_response(upgrade=True), head)
        if not isinstance(event, h11.InformationalResponse | h11.Response):
            raise HttpParseError("not an HTTP response")
        if isinstance(event, h11.Response) or event.status_code == 101:
            break
        offset += len(head)
    return (
        event.http_version.decode("ascii"),
        event.status_code,
        event.reason.decode("latin-1"),
        header_pairs(event.headers.raw_items()),
        raw[: offset + len(head)],
        body,
    )


def plain_fields(head: bytes, start: int, request_version: bytes = b"") -> HeaderPairs | None:
    """The header fields of a head from `start` on, when they are plain and h11 would report
    them unchanged (one Content-Length of digits, `Transfer-Encoding: chunked` as written,
    the Host rules of requests); None when h11 must read them."""
    end = len(head) - 2
    if not head.endswith(b"\r\n\r\n") or FIELD_LINES.fullmatch(head, start, end) is None:
        return None
    # Plain lines, checked by the grammar: each is `token:value`, split at its first colon.
    lines = head[start : end - 2].decode("latin-1").split("\r\n") if end > start else []
    fields: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line in lines:
        name, _, value = line.partition(":")
        value = value.strip(" \t")
        lowered = name.lower()
        if lowered in _SINGLE and (lowered in seen or not _SINGLE[lowered](value)):
            return None
        seen.add(lowered)
        fields.append((name, value))
    if request_version == b"1" and "host" not in seen:
        return None  # h11 refuses an HTTP/1.1 request without Host
    return tuple(fields)


_DIGITS_TEXT = re.compile("[0-9]{1,18}")
_SINGLE: dict[
    str, Callable[[str], bool]
] = {  # headers h11 checks and may rewrite: plain only once and as h11 would keep them
    "content-length": lambda value: _DIGITS_TEXT.fullmatch(value) is not None,
    "transfer-encoding": lambda value: value == "chunked",
    "host": lambda value: True,
}


def _client_awaiting_response(upgrade: bool = False) -> h11.Connection:
    """A client connection that sent a request, so h11 reads a response next.

    With `upgrade`, the request proposes an upgrade, so that h11 accepts a 101 response.
    """
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
    headers = [(b"Host", b"shadowdiff")]
    if upgrade:
        headers += [(b"Connection", b"upgrade"), (b"Upgrade", b"shadowdiff")]
    conn.send(h11.Request(method=b"GET", target=b"/", headers=headers))
    conn.send(h11.EndOfMessage())
    return conn


def _first_event(conn: h11.Connection, head: bytes) -> object:
    try:
        conn.receive_data(head)
        event = conn.next_event()
    except h11.RemoteProtocolError as exc:
        raise HttpParseError(str(exc)) from None
    if event is h11.NEED_DATA:
        raise HttpParseError("incomplete HTTP head")
    return event


def dechunk(body: bytes) -> bytes:
    """Remove chunked transfer framing; a truncated body yields what it holds."""
    conn = _client_awaiting_response()
    conn.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    parts: list[bytes] = []
    try:
        while isinstance(event := conn.next_event(), h11.Response | h11.Data):
            if isinstance(event, h11.Data):
                parts.append(bytes(event.data))
    except h11.RemoteProtocolError as exc:
        raise DecodeError(f"bad chunked body: {exc}") from None
    return b"".join(parts)


def is_complete_chunked(body: bytes) -> bool:
    """Whether a chunked body is well formed and ends with its last chunk."""
    conn = _client_awaiting_response()
    conn.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    try:
        while (event := conn.next_event()) is not h11.NEED_DATA:
            if isinstance(event, h11.EndOfMessage):
                return True
    except h11.RemoteProtocolError:
        return False
    return False


def encode_chunked(data: bytes) -> bytes:
    """Frame bytes as a single chunk plus the last chunk."""
    if not data:
        return b"0\r\n\r\n"
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)


def decode_content(encodings: str, data: bytes) -> bytes:
    """Undo a Content-Encoding list such as `gzip` or `deflate, br`.

    An empty body stays empty whatever its encoding (HEAD, 204 and 304 responses).
    """
    if not data:
        return data
    for coding in reversed([c.strip().lower() for c in encodings.split(",") if c.strip()]):
        data = _decode_one(coding, data)
    return data


def _decode_one(coding: str, data: bytes) -> bytes:
    try:
        if coding in ("gzip", "x-gzip"):
            return _gunzip(data)
        if coding == "deflate":
            return _inflate(data)
        if coding == "br":
            return bytes(brotli.decompress(data))
    except (zlib.error, brotli.error) as exc:
        raise DecodeError(f"cannot decode {coding} body: {exc}") from None
    if coding == "identity":
        return data
    raise DecodeError(f"unknown Content-Encoding {coding!r}")


def _gunzip(data: bytes) -> bytes:
    """Decompress every member of a gzip stream; a truncated stream yields what it holds."""
    parts: list[bytes] = []
    while True:
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        parts.append(member.decompress(data))
        data = member.unused_data
        if not (member.eof and data.startswith(b"\x1f\x8b")):
            return b"".join(parts)


def _inflate(data: bytes) -> bytes:
    try:
        return zlib.decompress(data)
    except zlib.error:
        return zlib.decompress(data, -zlib.MAX_WBITS)


def build_head(start_line: str, headers: HeaderPairs) -> bytes:
    lines = [start_line, *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
