"""Cut HTTP/1.x messages out of one direction's byte stream with h11 (pure, sans-IO).

A `MessageCutter` is fed in-order bytes and returns each complete message's exact bytes.
Requests need nothing else; a response parser must know the method of the request it
answers (a HEAD answer has no body), so the response side asks for it per message.

The live capture's hot path: h11 costs ~40 us a request and ~90 us a response here, most of
a capture's CPU (tests/benchmarks/bench_capture.py). Most messages have plain framing: a
whole head of well-formed lines, one Content-Length (or, for a request, no body), nothing
that changes the protocol. `plain_length` recognises exactly those by their head and gives
their length; every other message (chunked, close-delimited, interim 1xx answers, upgrades,
anything malformed) goes to h11, which stays the authority. A property test checks that
both ways cut every message the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import h11

from shadowdiff.http1 import DIGITS, FIELD_LINES, REQUEST_LINE, STATUS_LINE

MAX_MESSAGE = 64 << 20
MAX_HEAD = 1 << 20
NOT_PLAIN = -1

_FRAMING = re.compile(
    rb"\n(content-length|transfer-encoding|host|upgrade|expect)[ \t]*:[ \t]*([^\r]*)",
    re.IGNORECASE,
)


class FramingError(ValueError):
    """Bytes that are not HTTP/1.x, or a message over the size bound."""


@dataclass(frozen=True, slots=True)
class Message:
    raw: bytes
    first_ns: int
    last_ns: int
    switched: bool = False  # 101 Switching Protocols: no more HTTP on this connection


class MessageCutter:
    """One direction: feed bytes, get whole messages. `is_response` selects the h11 role;
    `method_for_next` gives, for a response, the method of the request it answers."""

    def __init__(
        self,
        is_response: bool,
        method_for_next: Callable[[], bytes] | None = None,
        plain_path: bool = True,
    ):
        self._is_response = is_response
        self._method = method_for_next or (lambda: b"GET")
        self._plain_path = plain_path
        self._parser: h11.Connection | None = None
        self._raw = bytearray()
        self._first_ns = 0
        self._length: int | None = None  # the message's length, once its head said it
        self._asked: bytes | None = None  # the method this response answers, once asked
        self.started = False  # a message has begun (its head may be incomplete)
        self.cut = 0  # messages cut so far

    def feed(self, data: bytes, time_ns: int) -> list[Message]:
        messages: list[Message] = []
        pending = data
        while pending:
            if not self.started:
                self._begin(time_ns)
            self._raw += pending
            if len(self._raw) > MAX_MESSAGE:
                raise FramingError(f"message over {MAX_MESSAGE >> 20} MiB")
            message, pending = self._step(pending, time_ns)
            if message is None:
                break
            messages.append(message)
            if message.switched:
                break
        return messages

    def finish(self, time_ns: int) -> Message | None:
        """End of stream: a close-delimited body ends here; anything else was incomplete."""
        if not self.started or not self._raw:
            return None
        parser = self._h11(fed=False)
        try:
            parser.receive_data(b"")
        except RuntimeError:
            return None
        message, _ = self._advance(time_ns)
        return message

    @property
    def started_ns(self) -> int | None:
        """Capture time of the first byte of the message in progress (None: none is)."""
        return self._first_ns if self.started else None

    @property
    def pending_bytes(self) -> int:
        return len(self._raw)

    def _begin(self, time_ns: int) -> None:
        self.started, self._first_ns, self._raw, self._parser = True, time_ns, bytearray(), None
        self._length = self._asked = None

    def _step(self, pending: bytes, time_ns: int) -> tuple[Message | None, bytes]:
        """Take `pending` (already in `_raw`): the plain path when the message's first bytes
        hold its whole head and the head allows it, else h11."""
        if self._parser is None and self._plain_path:
            if self._length is None:  # a head split over segments goes to h11
                self._length = plain_length(self._raw, self._is_response, self._asked_method)
            if self._length is not None and self._length != NOT_PLAIN:
                if len(self._raw) < self._length:
                    return None, b""
                return self._cut_at(self._length, time_ns, switched=False)
            self._h11(fed=False)  # h11 takes the message from its first byte
        else:
            self._h11(fed=True).receive_data(pending)
        return self._advance(time_ns)

    def _asked_method(self) -> bytes:
        if self._asked is None:
            self._asked = self._method()
        return self._asked

    def _h11(self, fed: bool) -> h11.Connection:
        """The h11 parser of this message; a new one has been given the bytes so far
        unless `fed` (the caller gives them)."""
        if self._parser is None:
            method = self._asked_method() if self._is_response else b""
            self._parser = _new_parser(self._is_response, method)
            if not fed and self._raw:
                self._parser.receive_data(bytes(self._raw))
        return self._parser

    def _advance(self, time_ns: int) -> tuple[Message | None, bytes]:
        parser = self._h11(fed=True)
        while True:
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError as exc:
                raise FramingError(str(exc)) from None
            if event is h11.NEED_DATA:
                return None, b""
            if event is h11.PAUSED or isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return self._complete(parser, time_ns, event is h11.PAUSED)

    def _complete(
        self, parser: h11.Connection, time_ns: int, switched: bool
    ) -> tuple[Message, bytes]:
        return self._cut_at(len(self._raw) - len(parser.trailing_data[0]), time_ns, switched)

    def _cut_at(self, end: int, time_ns: int, switched: bool) -> tuple[Message, bytes]:
        rest = bytes(self._raw[end:])
        message = Message(bytes(self._raw[:end]), self._first_ns, time_ns, switched)
        self.started, self._parser, self._raw = False, None, bytearray()
        self.cut += 1
        return message, rest


def plain_length(
    raw: bytes | bytearray, is_response: bool, method: Callable[[], bytes]
) -> int | None:
    """The length of the message at the start of `raw` when its framing is plain (see the
    module's docstring); NOT_PLAIN when h11 must decide; None while the head is not whole."""
    head_end = raw.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
    if head_end < 0:
        return None
    size = head_end + 4
    start = (STATUS_LINE if is_response else REQUEST_LINE).match(raw, 0, size)
    if start is None or FIELD_LINES.fullmatch(raw, start.end(), size - 2) is None:
        return NOT_PLAIN
    framing: dict[bytes, bytes] = {}
    for found in _FRAMING.finditer(raw, start.end() - 1, size):
        name = found.group(1).lower()
        if name in framing:
            return NOT_PLAIN  # repeated: h11 decides (it refuses two Host headers)
        framing[name] = found.group(2).rstrip(b" \t")
    if b"transfer-encoding" in framing or b"upgrade" in framing or b"expect" in framing:
        return NOT_PLAIN
    length = framing.get(b"content-length")
    if length is not None and not DIGITS.fullmatch(length):
        return NOT_PLAIN  # h11 checks it even where it does not count
    if is_response:
        return _response_length(int(start.group(2)), framing, size, method)
    if start.group(1) == b"CONNECT" or (start.group(3) == b"1" and b"host" not in framing):
        return NOT_PLAIN  # a tunnel; or HTTP/1.1 without Host, which h11 refuses
    return _with_body(framing, size, default=0)


def _response_length(
    status: int, framing: dict[bytes, bytes], size: int, method: Callable[[], bytes]
) -> int:
    if status < 200:
        return NOT_PLAIN  # interim answers and protocol switches
    asked = method()
    if asked == b"CONNECT":
        return NOT_PLAIN
    if asked == b"HEAD" or status in (204, 304):
        return size  # no body, whatever the headers say
    return _with_body(framing, size, default=NOT_PLAIN)  # no length: ends at the close


def _with_body(framing: dict[bytes, bytes], size: int, default: int) -> int:
    length = framing.get(b"content-length")  # digits: checked already
    if length is None:
        return size if default == 0 else default
    return size + int(length)


def _new_parser(is_response: bool, method: bytes) -> h11.Connection:
    if not is_response:
        return h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
    # Offer an upgrade so that h11 takes a 101 answer (ignored by any other answer).
    headers = [(b"Host", b"capture"), (b"Upgrade", b"capture")]
    if method != b"HEAD" and method != b"GET":
        headers.append((b"Content-Length", b"0"))
    parser.send(h11.Request(method=method, target=b"/", headers=headers))
    parser.send(h11.EndOfMessage())
    return parser
