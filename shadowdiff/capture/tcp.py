"""In-order TCP byte streams from captured segments (pure, sans-IO).

The packet source numbers connections and hands over each segment's payload and raw
sequence number; this module puts one direction's bytes back in order, drops
retransmissions and holds segments that arrive early. Bytes the capture never saw (the
kernel dropped their packet: no retransmission will come, the receiver had them) are given
up once GAP_SEGMENTS segments or GAP_WAIT_NS of capture time wait behind them: the direction
goes on from the held bytes, the first chunk after the hole marked `after_gap`, and the
missing bytes counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GAP_SEGMENTS = 256  # segments held behind missing bytes before those are given up
GAP_WAIT_NS = 1_000_000_000  # capture time the oldest held segment waits, at most
SEQ_SPACE = 1 << 32


@dataclass(frozen=True, slots=True)
class Segment:
    """One captured TCP segment, as the packet source reports it."""

    stream: int
    time_ns: int
    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    payload: bytes = b""
    syn: bool = False
    fin: bool = False
    rst: bool = False
    ack: bool = False


@dataclass(slots=True)
class Chunk:
    """Bytes that came out in order, with the capture time of their segment."""

    data: bytes
    time_ns: int
    after_gap: bool = False  # bytes before these were never captured


@dataclass(slots=True)
class Direction:
    """One direction of a connection: next expected sequence number and early bytes, held by
    the sequence number of their first byte."""

    next_seq: int | None = None
    early: dict[int, Chunk] = field(default_factory=dict)
    retransmissions: int = 0
    holes: int = 0  # times bytes were given up as never captured
    missing_bytes: int = 0
    fin_seq: int | None = None  # where the FIN is, once seen
    waiting_since: int | None = None  # capture time of the first segment held

    @property
    def ended(self) -> bool:
        """The FIN was seen and every byte before it is in."""
        return self.fin_seq is not None and self.fin_seq == self.next_seq

    def push(self, segment: Segment) -> list[Chunk]:
        """The bytes this segment makes available in order (maybe none, maybe several)."""
        start = (segment.seq + (1 if segment.syn else 0)) % SEQ_SPACE  # a SYN's data follows it
        if self.next_seq is None:
            self.next_seq = start
        if segment.fin:
            self.fin_seq = (start + len(segment.payload)) % SEQ_SPACE
        if not segment.payload:
            return []
        chunk, offset = Chunk(segment.payload, segment.time_ns), _distance(self.next_seq, start)
        if offset < 0:
            return self._overlap(chunk, -offset)
        if offset > 0:
            self._hold(start, chunk)
            return self._skip_hole() if self._hole_given_up(segment.time_ns) else []
        return self._take(chunk)

    def _hole_given_up(self, now_ns: int) -> bool:
        if not self.early:
            return False
        if self.waiting_since is None:
            self.waiting_since = now_ns
        return len(self.early) >= GAP_SEGMENTS or now_ns - self.waiting_since >= GAP_WAIT_NS

    def _skip_hole(self) -> list[Chunk]:
        """Go on from the nearest held bytes; the ones before them are counted missing."""
        assert self.next_seq is not None
        expected = self.next_seq
        start = min(self.early, key=lambda seq: _distance(expected, seq))
        self.holes += 1
        self.missing_bytes += _distance(expected, start)
        self.next_seq = start
        held = self.early.pop(start)
        return self._take(Chunk(held.data, held.time_ns, after_gap=True))

    def _overlap(self, chunk: Chunk, behind: int) -> list[Chunk]:
        if behind >= len(chunk.data):
            self.retransmissions += 1
            return []
        return self._take(Chunk(chunk.data[behind:], chunk.time_ns))

    def _hold(self, start: int, chunk: Chunk) -> None:
        held = self.early.get(start)
        if held is not None and len(held.data) >= len(chunk.data):
            self.retransmissions += 1
        else:
            self.early[start] = chunk

    def _take(self, chunk: Chunk) -> list[Chunk]:
        chunks: list[Chunk] = []
        following: Chunk | None = chunk
        while following is not None:
            chunks.append(following)
            assert self.next_seq is not None
            self.next_seq = (self.next_seq + len(following.data)) % SEQ_SPACE
            following = self._next_held()
        if not self.early:
            self.waiting_since = None
        return chunks

    def _next_held(self) -> Chunk | None:
        """The held bytes that continue the stream (trimmed when a retransmission of another
        size overlapped them); held bytes now wholly behind are dropped as retransmissions."""
        assert self.next_seq is not None
        if not self.early:
            return None
        if (exact := self.early.pop(self.next_seq, None)) is not None:
            return exact
        for start in list(self.early):
            behind = -_distance(self.next_seq, start)
            if behind < 0:
                continue
            held = self.early.pop(start)
            if behind < len(held.data):
                return Chunk(held.data[behind:], held.time_ns)
            self.retransmissions += 1
        return None

    def close(self) -> bool:
        """End of the direction; True when bytes were missing (held segments never joined)."""
        missing = bool(self.holes) or bool(self.early)
        self.early.clear()
        return missing


def _distance(expected: int, seq: int) -> int:
    """seq - expected in 32-bit sequence space, as a signed number."""
    diff = (seq - expected) % SEQ_SPACE
    return diff - SEQ_SPACE if diff >= SEQ_SPACE // 2 else diff
