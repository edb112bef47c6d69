"""Cut HTTP/1.x messages out of one direction's byte stream with h11 (pure, sans-IO).

A `MessageCutter` is fed in-order bytes and returns each complete message's exact bytes.
Requests need nothing else; a response parser must know the method of the request it
answers (a HEAD answer has no body), so the response side asks for it per message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import h11

MAX_MESSAGE = 64 << 20
MAX_HEAD = 1 << 20


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

    def __init__(self, is_response: bool, method_for_next: Callable[[], bytes] | None = None):
        self._is_response = is_response
        self._method = method_for_next or (lambda: b"GET")
        self._parser: h11.Connection | None = None
        self._raw = bytearray()
        self._first_ns = 0
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
            self._parser_or_new().receive_data(pending)
            message, pending = self._advance(time_ns)
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
        parser = self._parser_or_new()
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

    def _parser_or_new(self) -> h11.Connection:
        if self._parser is None:
            self._parser = _new_parser(self._is_response, self._method())
        return self._parser

    def _advance(self, time_ns: int) -> tuple[Message | None, bytes]:
        parser = self._parser_or_new()
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
        rest = bytes(parser.trailing_data[0])
        end = len(self._raw) - len(rest)
        message = Message(bytes(self._raw[:end]), self._first_ns, time_ns, switched)
        self.started, self._parser, self._raw = False, None, bytearray()
        self.cut += 1
        return message, rest


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
