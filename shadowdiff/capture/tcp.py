"""In-order TCP byte streams from captured segments (pure, sans-IO).

tshark indexes connections (`tcp.stream`) and hands over each segment's payload and raw
sequence number; this module puts one direction's bytes back in order, drops
retransmissions, holds segments that arrive early, and says when bytes are missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_EARLY = 2048  # segments held while waiting for a missing one
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


@dataclass(slots=True)
class Direction:
    """One direction of a connection: next expected sequence number and early segments."""

    next_seq: int | None = None
    early: dict[int, Segment] = field(default_factory=dict)
    retransmissions: int = 0
    gap: bool = False  # bytes were lost: what follows cannot be framed
    finished: bool = False

    def push(self, segment: Segment) -> list[Chunk]:
        """The bytes this segment makes available in order (maybe none, maybe several)."""
        if self.next_seq is None:
            self.next_seq = (segment.seq + (1 if segment.syn else 0)) % SEQ_SPACE
            if segment.syn and not segment.payload:
                return []
        if not segment.payload:
            return []
        offset = _distance(self.next_seq, segment.seq)
        if offset < 0:
            return self._overlap(segment, -offset)
        if offset > 0:
            if len(self.early) < MAX_EARLY:
                self.early[segment.seq] = segment
            else:
                self.gap = True
            return []
        return self._take(segment)

    def _overlap(self, segment: Segment, behind: int) -> list[Chunk]:
        if behind >= len(segment.payload):
            self.retransmissions += 1
            return []
        fresh = Segment(
            segment.stream,
            segment.time_ns,
            segment.src,
            segment.sport,
            segment.dst,
            segment.dport,
            (segment.seq + behind) % SEQ_SPACE,
            segment.payload[behind:],
        )
        return self._take(fresh)

    def _take(self, segment: Segment) -> list[Chunk]:
        chunks = [Chunk(segment.payload, segment.time_ns)]
        assert self.next_seq is not None
        self.next_seq = (self.next_seq + len(segment.payload)) % SEQ_SPACE
        while (following := self.early.pop(self.next_seq, None)) is not None:
            chunks.append(Chunk(following.payload, following.time_ns))
            self.next_seq = (self.next_seq + len(following.payload)) % SEQ_SPACE
        return chunks

    def close(self) -> bool:
        """End of the direction; True when bytes were missing (held segments never joined)."""
        self.finished = True
        missing = self.gap or bool(self.early)
        self.early.clear()
        return missing


def _distance(expected: int, seq: int) -> int:
    """seq - expected in 32-bit sequence space, as a signed number."""
    diff = (seq - expected) % SEQ_SPACE
    return diff - SEQ_SPACE if diff >= SEQ_SPACE // 2 else diff
