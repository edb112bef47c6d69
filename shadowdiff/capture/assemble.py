"""Captured segments -> HTTP exchanges, paired per TCP connection (pure, sans-IO).

Each connection (tshark's `tcp.stream`) has a client->server byte stream (requests: the
segments sent to one of the server ports) and a server->client one (responses). Messages
are cut with h11; the n-th response on a connection answers the n-th request, which is how
HTTP/1.1 pairs them (pipelining included). Never across connections, never by guesswork.

A connection ends at a reset, or at FINs from both sides once the bytes before each FIN are
in (a FIN may overtake the last segments); its later segments (the last ACK, a late
retransmission) are ignored. Everything that cannot become a whole exchange is counted in
`CaptureStats`, by reason.
Memory is bounded: at most MAX_STREAMS connections are followed (the least recently active
is given up, counted), and idle ones are closed by `expire`.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict, deque
from dataclasses import dataclass, field, fields

from shadowdiff.capture.framing import FramingError, Message, MessageCutter
from shadowdiff.capture.tcp import Direction, Segment

MAX_STREAMS = 16_384
MAX_WAITING = 1_024  # requests waiting for their responses on one connection
IDLE_NS = 120 * 1_000_000_000


@dataclass(slots=True)
class CaptureStats:
    """What the capture saw and what it could not turn into exchanges."""

    packets: int = 0
    exchanges: int = 0
    requests_without_response: int = 0
    responses_without_request: int = 0
    incomplete_requests: int = 0
    incomplete_responses: int = 0
    streams_with_gaps: int = 0
    holes: int = 0  # runs of bytes never captured, given up (the connection went on)
    retransmissions: int = 0
    not_http: int = 0  # messages that were not HTTP (or too large), skipped
    bytes_skipped: int = 0  # bytes before the first start line of a joined connection, or junk
    streams_given_up: int = 0
    kernel_dropped: int | None = None  # packets dumpcap could not capture (None: unknown)
    undelivered: int = 0  # packets captured but not delivered before the stop's time limit

    def as_json(self) -> dict[str, int | None]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "lost": self.lost}

    def summary(self) -> str:
        """The loss accounting, one line."""
        drops = (
            "kernel drops not known"
            if self.kernel_dropped is None
            else f"packets dropped by the kernel {self.kernel_dropped}"
        )
        return (
            f"capture: {self.packets} packets, {self.exchanges} exchanges; lost {self.lost} "
            f"({drops}, packets not delivered before the stop {self.undelivered}, "
            f"requests without response "
            f"{self.requests_without_response}, responses without request "
            f"{self.responses_without_request}, incomplete requests {self.incomplete_requests}, "
            f"incomplete responses {self.incomplete_responses}); connections with missing "
            f"bytes {self.streams_with_gaps} ({self.holes} holes skipped), "
            f"not HTTP {self.not_http}, "
            f"given up {self.streams_given_up}"
        )

    @property
    def lost(self) -> int:
        """Exchanges lost or left incomplete, whatever the reason. A packet never delivered
        counts as one (it may have carried a whole exchange). Packets the kernel dropped
        are counted apart: each one shows up here as the exchange whose bytes it held (or
        as nothing, for a bare ACK)."""
        return (
            self.requests_without_response
            + self.responses_without_request
            + self.incomplete_requests
            + self.incomplete_responses
            + self.undelivered
        )


@dataclass(frozen=True, slots=True)
class Captured:
    """A whole exchange as captured: both messages' exact bytes and capture times."""

    id: str
    request: Message
    response: Message
    client: tuple[str, int]
    server: tuple[str, int]


@dataclass(slots=True)
class _Stream:
    client: tuple[str, int]
    server: tuple[str, int]
    last_ns: int
    up: Direction = field(default_factory=Direction)
    down: Direction = field(default_factory=Direction)
    requests: deque[Message] = field(default_factory=deque)
    fin_up: bool = False
    fin_down: bool = False
    broken: bool = False
    answered: int = 0  # responses handled (paired or not)
    http_seen: bool = False  # a whole HTTP message came through on this connection
    resync_up: bool = False  # looking for the next request line (mid-connection, after junk)
    resync_down: bool = False  # looking for the next status line
    hold_up: bytes = b""  # the tail kept while looking, in case a line spans two segments
    hold_down: bytes = b""
    had_gap: bool = False
    realign: bool = False  # after a hole: pairing waits for a request sent while idle
    given_up: int = 0  # requests given up at a hole, already counted: their answers are not
    realigned_at: int = 0  # responses that began before this time answer lost requests
    last_response_ns: int = 0  # when the latest response ended
    cut_up: MessageCutter = field(init=False)
    cut_down: MessageCutter = field(init=False)
    id_prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self.id_prefix = _id_prefix(self.client, self.server)
        self.cut_up = MessageCutter(is_response=False)
        self.cut_down = MessageCutter(is_response=True, method_for_next=self.next_method)

    def next_method(self) -> bytes:
        """The method of the request the next response answers; responses already cut in
        the current chunk are not paired yet, so they are skipped."""
        index = self.cut_down.cut - self.answered
        if index < len(self.requests):
            return self.requests[index].raw.split(b" ", 1)[0]
        return b"GET"

    @property
    def ended(self) -> bool:
        """FINs from both sides, each after all the bytes of its direction."""
        if self.broken:
            return self.fin_up and self.fin_down
        return self.up.ended and self.down.ended


class Assembler:
    """Feed segments, get exchanges. `server_ports` tell requests from responses."""

    def __init__(self, server_ports: set[int]) -> None:
        self.server_ports = server_ports
        self.stats = CaptureStats()
        self._streams: OrderedDict[int, _Stream] = OrderedDict()
        self._closed: OrderedDict[int, None] = OrderedDict()  # ended by FIN or RST

    def feed(self, segment: Segment) -> list[Captured]:
        self.stats.packets += 1
        if segment.stream in self._closed:
            if not (segment.syn and not segment.ack):
                return []  # the last ACK, a late retransmission
            del self._closed[segment.stream]  # the same stream index for a new connection
        return self._feed(segment)

    def _feed(self, segment: Segment) -> list[Captured]:
        to_server = self._to_server(segment)
        if to_server is None:
            return []
        stream = self._stream(segment, to_server)
        stream.last_ns = segment.time_ns
        if stream.broken:
            return self._maybe_close(segment, stream, to_server)
        direction = stream.up if to_server else stream.down
        found = self._bytes(stream, direction, segment, to_server)
        return found + self._maybe_close(segment, stream, to_server)

    def expire(self, now_ns: int) -> list[Captured]:
        """Close connections idle for IDLE_NS (capture time)."""
        found: list[Captured] = []
        while self._streams:
            key, stream = next(iter(self._streams.items()))
            if now_ns - stream.last_ns < IDLE_NS:
                break
            found += self._close(key)
        return found

    def close(self) -> list[Captured]:
        """End of capture: close every connection still open."""
        found: list[Captured] = []
        for key in list(self._streams):
            found += self._close(key)
        return found

    def _to_server(self, segment: Segment) -> bool | None:
        """Whether a segment goes client -> server: by the server ports when given, else by
        the connection's known ends, else by what the segment itself shows (None: unknown)."""
        if self.server_ports:
            if segment.dport in self.server_ports:
                return True
            return False if segment.sport in self.server_ports else None
        known = self._streams.get(segment.stream)
        if known is not None:
            return (segment.dst, segment.dport) == known.server
        return _direction_of(segment)

    def _stream(self, segment: Segment, to_server: bool) -> _Stream:
        stream = self._streams.get(segment.stream)
        if stream is None:
            client = (segment.src, segment.sport) if to_server else (segment.dst, segment.dport)
            server = (segment.dst, segment.dport) if to_server else (segment.src, segment.sport)
            stream = self._streams[segment.stream] = _Stream(client, server, segment.time_ns)
            if not segment.syn:  # joined mid-connection: the first bytes may be mid-message
                stream.resync_up = stream.resync_down = True
            if len(self._streams) > MAX_STREAMS:
                self.stats.streams_given_up += 1
                self._close(next(iter(self._streams)))
        self._streams.move_to_end(segment.stream)
        return stream

    def _bytes(
        self, stream: _Stream, direction: Direction, segment: Segment, to_server: bool
    ) -> list[Captured]:
        found: list[Captured] = []
        before = direction.retransmissions
        for chunk in direction.push(segment):
            if chunk.after_gap:
                self._after_hole(stream, to_server)
            data = self._resynced(stream, to_server, chunk.data)
            if not data:
                continue
            try:
                if to_server:
                    for message in stream.cut_up.feed(data, chunk.time_ns):
                        self._add_request(stream, message)
                else:
                    messages = stream.cut_down.feed(data, chunk.time_ns)
                    found += self._responses(stream, messages)
            except FramingError:
                self._lose_message(stream, to_server)
        self.stats.retransmissions += direction.retransmissions - before
        return found

    def _resynced(self, stream: _Stream, to_server: bool, data: bytes) -> bytes:
        """The bytes from the next start line on, while a direction is looking for one;
        what comes before it is skipped and counted."""
        if not (stream.resync_up if to_server else stream.resync_down):
            return data
        pattern = _REQUEST_LINE if to_server else _STATUS_LINE
        if pattern.match(data):  # a segment that starts a message: the usual case
            held = data
            self.stats.bytes_skipped += len(stream.hold_up if to_server else stream.hold_down)
        else:
            held = (stream.hold_up if to_server else stream.hold_down) + data
        found = pattern.search(held)
        start = found.start(1) if found else max(0, len(held) - HOLD)
        self.stats.bytes_skipped += start
        rest, kept = (held[start:], b"") if found else (b"", held[start:])
        if to_server:
            stream.resync_up, stream.hold_up = found is None, kept
        else:
            stream.resync_down, stream.hold_down = found is None, kept
        return rest

    def _after_hole(self, stream: _Stream, to_server: bool) -> None:
        """Bytes were never captured: the message they cut is lost (counted), the direction
        looks for its next start line, and the requests waiting are given up. Pairing then
        waits for a sure point: a request sent while no response was under way, answered by
        the first response that began after it."""
        self.stats.holes += 1
        if not stream.had_gap:
            stream.had_gap = True
            self.stats.streams_with_gaps += 1
        if to_server:
            self.stats.incomplete_requests += int(stream.cut_up.started)
            stream.cut_up, stream.resync_up = MessageCutter(is_response=False), True
        else:
            if stream.cut_down.started:
                self.stats.incomplete_responses += 1
                if stream.requests:
                    stream.requests.popleft()  # the exchange it belonged to: counted once
            stream.cut_down = MessageCutter(is_response=True, method_for_next=stream.next_method)
            stream.resync_down, stream.answered = True, 0
        self.stats.requests_without_response += len(stream.requests)
        stream.given_up += len(stream.requests)
        stream.requests.clear()
        stream.realign = True

    def _lose_message(self, stream: _Stream, to_server: bool) -> None:
        """A message that is not HTTP (or too large): counted, skipped up to the next start
        line; after a lost response the requests waiting on this connection are given up,
        since which of them it answered cannot be known."""
        self.stats.not_http += 1
        if not stream.http_seen:  # TLS or another protocol on the port: not an HTTP loss
            stream.broken = True
            return
        if to_server:
            self.stats.incomplete_requests += 1
            stream.cut_up, stream.resync_up = MessageCutter(is_response=False), True
            return
        self.stats.incomplete_responses += 1
        self.stats.requests_without_response += max(0, len(stream.requests) - 1)
        stream.requests.clear()
        stream.cut_down = MessageCutter(is_response=True, method_for_next=stream.next_method)
        stream.answered, stream.resync_down = 0, True

    def _add_request(self, stream: _Stream, message: Message) -> None:
        stream.http_seen = True
        if stream.realign:
            under_way = stream.cut_down.started_ns
            if (under_way is not None and under_way < message.first_ns) or (
                message.first_ns < stream.last_response_ns
            ):
                self.stats.requests_without_response += 1  # its answer cannot be told
                return
            stream.realign, stream.realigned_at = False, message.first_ns
        stream.requests.append(message)
        if len(stream.requests) > MAX_WAITING:  # responses not seen (one-way capture?)
            stream.requests.popleft()
            self.stats.requests_without_response += 1

    def _responses(self, stream: _Stream, messages: list[Message]) -> list[Captured]:
        found = []
        for message in messages:
            stream.http_seen = True
            stream.answered += 1
            stream.last_response_ns = max(stream.last_response_ns, message.last_ns)
            if stream.realign or message.first_ns < stream.realigned_at:
                if stream.given_up:  # the answer to a request already counted
                    stream.given_up -= 1
                else:
                    self.stats.responses_without_request += 1  # to a request never seen
                continue
            if not stream.requests:
                self.stats.responses_without_request += 1
                continue
            request = stream.requests.popleft()
            self.stats.exchanges += 1
            found.append(
                Captured(
                    _gor_id(stream, self.stats.exchanges),
                    request,
                    message,
                    stream.client,
                    stream.server,
                )
            )
            if message.switched:
                stream.broken = True  # a protocol switch: no more HTTP here
        return found

    def _maybe_close(self, segment: Segment, stream: _Stream, to_server: bool) -> list[Captured]:
        """A reset ends the connection; so do FINs from both sides (once the bytes before
        them are in: a FIN may overtake the last segments)."""
        if segment.fin:
            if to_server:
                stream.fin_up = True
            else:
                stream.fin_down = True
        if segment.rst or stream.ended:
            self._closed[segment.stream] = None
            if len(self._closed) > MAX_STREAMS:
                self._closed.popitem(last=False)
            return self._close(segment.stream)
        return []

    def _close(self, key: int) -> list[Captured]:
        stream = self._streams.pop(key)
        found: list[Captured] = []
        if not stream.broken:
            found = self._close_directions(stream)
        self.stats.requests_without_response += len(stream.requests)
        return found

    def _close_directions(self, stream: _Stream) -> list[Captured]:
        """Count missing bytes and unfinished messages; a close-delimited response ends here
        only when the server's FIN came after all its bytes."""
        server_done = stream.down.ended
        if (stream.up.close() | stream.down.close()) and not stream.had_gap:
            self.stats.streams_with_gaps += 1
        found: list[Captured] = []
        if server_done and (tail := _finish(stream.cut_down, stream.last_ns)) is not None:
            found = self._responses(stream, [tail])
        if stream.cut_down.started:
            self.stats.incomplete_responses += 1
            if stream.requests:
                stream.requests.popleft()  # the request it answers: one exchange, counted once
        self.stats.incomplete_requests += int(stream.cut_up.started)
        return found


_METHOD = re.compile(rb"[A-Z][A-Z-]* ")
_REQUEST_LINE = re.compile(rb"(?:^|\n)([A-Z][A-Z-]{0,19} [^ \r\n]+ HTTP/1\.[01]\r?\n)")
_STATUS_LINE = re.compile(rb"(?:^|\n)(HTTP/1\.[01] [1-5][0-9][0-9][ \r\n])")
HOLD = 512


def _direction_of(segment: Segment) -> bool | None:
    """A connection's first segment: SYN comes from the client, SYN+ACK from the server; else
    a request line from the client, a status line from the server."""
    if segment.syn:
        return not segment.ack
    if segment.payload.startswith(b"HTTP/"):
        return False
    return True if _METHOD.match(segment.payload) else None


def _finish(cutter: MessageCutter, time_ns: int) -> Message | None:
    try:
        return cutter.finish(time_ns)
    except FramingError:
        return None


def _gor_id(stream: _Stream, number: int) -> str:
    """GoReplay's id shape: client port, server port, client IPv4 (or IPv6's last 4 bytes),
    then 4 bytes that GoReplay takes from the TCP ack; here the exchange's number in the
    capture, so that pipelined requests (which share an ack) still get distinct ids."""
    return f"{stream.id_prefix}{number & 0xFFFFFFFF:08x}"


def _id_prefix(client: tuple[str, int], server: tuple[str, int]) -> str:
    address = ipaddress.ip_address(client[0]).packed[-4:]
    return f"{client[1]:04x}{server[1]:04x}{address.hex()}"
