"""One direction of a TCP connection back in order: retransmissions, early segments, overlaps,
the 32-bit sequence wrap, and whether bytes were missing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.capture import tcp
from shadowdiff.capture.tcp import SEQ_SPACE, Chunk, Direction, Segment

FAST = settings(max_examples=150, deadline=None)


def seg(
    seq: int,
    payload: bytes = b"",
    *,
    time_ns: int = 0,
    syn: bool = False,
    fin: bool = False,
    ack: bool = True,
) -> Segment:
    """A client -> server segment; only the sequence number, payload and flags matter here."""
    return Segment(
        0, time_ns, "10.0.0.1", 40000, "10.0.0.2", 80, seq % SEQ_SPACE, payload, syn, fin, ack=ack
    )


def cut(data: bytes, start: int, sizes: list[int]) -> list[Segment]:
    """`data` as consecutive segments of the given sizes (the last one takes the rest), the
    first byte at sequence number `start`, numbered by their position in time."""
    segments, offset = [], 0
    for size in [*sizes, len(data)]:
        if offset >= len(data):
            break
        piece = data[offset : offset + size]
        segments.append(seg(start + offset, piece, time_ns=len(segments)))
        offset += len(piece)
    return segments


def opened(first: int = 1) -> Direction:
    """A direction whose SYN was seen: its first byte has sequence number `first`."""
    direction = Direction()
    direction.push(seg(first - 1, syn=True, ack=False))
    return direction


def push_all(direction: Direction, segments: list[Segment]) -> bytes:
    return b"".join(chunk.data for s in segments for chunk in direction.push(s))


# --- in order -----------------------------------------------------------------------------


def test_in_order_bytes_come_out_at_once_with_their_segment_time() -> None:
    direction = Direction()
    assert direction.push(seg(999, syn=True, ack=False)) == []
    assert direction.push(seg(1000, b"GET ", time_ns=5)) == [Chunk(b"GET ", 5)]
    assert direction.push(seg(1004, b"/ HTTP/1.1", time_ns=6)) == [Chunk(b"/ HTTP/1.1", 6)]
    assert direction.next_seq == 1014
    assert direction.close() is False


def test_syn_takes_one_sequence_number_and_its_retransmission_is_ignored() -> None:
    direction = Direction()
    direction.push(seg(41, syn=True, ack=False))
    direction.push(seg(41, syn=True, ack=False))
    assert direction.push(seg(42, b"x")) == [Chunk(b"x", 0)]
    assert direction.retransmissions == 0


def test_capture_started_mid_connection_begins_at_the_first_segment_seen() -> None:
    direction = Direction()
    assert (
        push_all(direction, cut(b"HTTP/1.1 200 OK\r\n", 7_000_000, [5])) == b"HTTP/1.1 200 OK\r\n"
    )
    assert direction.close() is False


def test_pure_acks_and_empty_fins_give_no_bytes() -> None:
    direction = Direction()
    direction.push(seg(10, syn=True, ack=False))
    assert direction.push(seg(11)) == []
    assert direction.push(seg(11, b"ab")) == [Chunk(b"ab", 0)]
    assert direction.push(seg(13, fin=True)) == []
    assert direction.close() is False


def test_syn_with_data_keeps_its_first_byte() -> None:
    """TCP Fast Open: the SYN carries data, which starts one after the SYN's number."""
    direction = Direction()
    assert direction.push(seg(100, b"GET /", syn=True, ack=False)) == [Chunk(b"GET /", 0)]
    assert direction.push(seg(106, b" HTTP/1.1")) == [Chunk(b" HTTP/1.1", 0)]


# --- retransmissions and overlaps ---------------------------------------------------------


def test_exact_retransmission_is_dropped_and_counted() -> None:
    direction = opened()
    first, second = cut(b"hello world", 1, [5])
    assert push_all(direction, [first, first, second, second, first]) == b"hello world"
    assert direction.retransmissions == 3
    assert direction.close() is False


def test_partial_overlap_is_trimmed_to_the_new_bytes() -> None:
    direction = opened()
    direction.push(seg(1, b"hello"))
    assert direction.push(seg(4, b"lo wor", time_ns=9)) == [Chunk(b" wor", 9)]
    assert direction.push(seg(1, b"hello world")) == [Chunk(b"ld", 0)]
    assert direction.retransmissions == 0


def test_repacketized_retransmission_releases_held_segments_it_overlaps() -> None:
    """A retransmission that ends in the middle of a held segment: the held segment's tail
    still follows (TCP may coalesce lost segments into one of another size)."""
    data = bytes(range(60))
    _a, b, c = cut(data, 1, [20, 20])
    direction = opened()
    assert direction.push(b) == []
    assert direction.push(c) == []
    assert push_all(direction, [seg(1, data[:30])]) == data
    assert direction.early == {}
    assert direction.close() is False


def test_retransmission_covering_held_segments_leaves_nothing_behind() -> None:
    data = bytes(range(60))
    _, b, _ = cut(data, 1, [20, 20])
    direction = opened()
    direction.push(b)
    assert push_all(direction, [seg(1, data)]) == data
    assert direction.close() is False, "held bytes already delivered are not missing"


def test_retransmission_of_a_held_segment_keeps_the_longer_one() -> None:
    data = b"0123456789abcdefghij"
    direction = opened()
    direction.push(seg(11, data[10:]))
    direction.push(seg(11, data[10:15]))
    assert push_all(direction, [seg(1, data[:10])]) == data


# --- early segments -----------------------------------------------------------------------


def test_early_segments_are_held_until_the_gap_fills_and_keep_their_own_times() -> None:
    a, b, c = cut(b"aaabbbccc", 1, [3, 3])
    direction = opened()
    assert direction.push(c) == []
    assert direction.push(b) == []
    assert direction.push(a) == [Chunk(b"aaa", 0), Chunk(b"bbb", 1), Chunk(b"ccc", 2)]
    assert direction.early == {}


def test_missing_bytes_are_reported_at_close() -> None:
    a, _lost, c = cut(b"aaabbbccc", 1, [3, 3])
    direction = opened()
    assert push_all(direction, [a, c]) == b"aaa"
    assert direction.close() is True
    assert direction.early == {}, "held segments are freed at close"


def test_bytes_never_captured_are_given_up_once_enough_segments_wait_behind_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tcp, "GAP_SEGMENTS", 3)
    segments = cut(b"abcdefghij", 1, [1] * 9)  # one byte each; "b" is never captured
    direction = opened()
    assert push_all(direction, segments[:1]) == b"a"
    assert push_all(direction, segments[2:4]) == b"", "held: the hole may still fill"
    chunks = direction.push(segments[4])
    assert [c.data for c in chunks] == [b"c", b"d", b"e"]
    assert [c.after_gap for c in chunks] == [True, False, False]
    assert (direction.holes, direction.missing_bytes) == (1, 1)
    assert push_all(direction, segments[5:]) == b"fghij", "the direction goes on"
    assert push_all(direction, segments[1:2]) == b"", "the late byte is behind: ignored"
    assert direction.close() is True


def test_bytes_never_captured_are_given_up_after_a_second_of_capture_time() -> None:
    direction = opened()
    direction.push(seg(1, b"aaa", time_ns=0))
    assert direction.push(seg(10, b"ccc", time_ns=10)) == []  # 4..9 missing
    assert direction.push(seg(13, b"ddd", time_ns=500_000_000)) == []
    chunks = direction.push(seg(16, b"eee", time_ns=1_000_000_010))
    assert [(c.data, c.after_gap) for c in chunks] == [
        (b"ccc", True),
        (b"ddd", False),
        (b"eee", False),
    ]
    assert direction.missing_bytes == 6 and direction.waiting_since is None


def test_a_hole_that_fills_in_time_is_not_given_up() -> None:
    direction = opened()
    direction.push(seg(1, b"aaa", time_ns=0))
    direction.push(seg(7, b"ccc", time_ns=1))
    assert [c.data for c in direction.push(seg(4, b"bbb", time_ns=900_000_000))] == [
        b"bbb",
        b"ccc",
    ]
    assert direction.holes == 0 and direction.waiting_since is None
    assert direction.close() is False


# --- the 32-bit wrap ----------------------------------------------------------------------


def test_sequence_numbers_wrap_around_32_bits() -> None:
    data = bytes(range(256)) * 4
    segments = cut(data, SEQ_SPACE - 300, [100] * 9)
    assert segments[2].seq == SEQ_SPACE - 100 and segments[3].seq == 0
    direction = Direction()
    direction.push(seg(SEQ_SPACE - 301, syn=True, ack=False))
    order = [segments[4], segments[3], segments[0], segments[2], segments[1], *segments[5:]]
    assert push_all(direction, [*order, segments[3], segments[1]]) == data
    assert direction.retransmissions == 2
    assert direction.close() is False


def test_segment_across_the_wrap_and_overlap_across_it() -> None:
    direction = Direction()
    direction.push(seg(SEQ_SPACE - 2, b"abcd"))
    assert direction.next_seq == 2
    assert direction.push(seg(SEQ_SPACE - 1, b"bcdef")) == [Chunk(b"ef", 0)]


def test_syn_at_the_last_sequence_number() -> None:
    direction = Direction()
    direction.push(seg(SEQ_SPACE - 1, syn=True, ack=False))
    assert direction.next_seq == 0
    assert direction.push(seg(0, b"ok")) == [Chunk(b"ok", 0)]


# --- end of the direction -----------------------------------------------------------------


def test_fin_ends_the_direction_only_when_every_byte_before_it_is_in() -> None:
    a, b = cut(b"abcdef", 1, [3])
    last = seg(b.seq, b.payload, fin=True)
    direction = opened()
    direction.push(a)
    assert not direction.ended
    direction.push(seg(7, fin=True))
    assert not direction.ended, "a FIN alone says nothing about the bytes before it"
    direction.push(last)
    assert direction.ended


def test_fin_arriving_before_the_bytes_it_follows() -> None:
    a, b = cut(b"abcdef", 1, [3])
    direction = opened()
    direction.push(seg(b.seq, b.payload, fin=True))
    assert not direction.ended
    direction.push(a)
    assert direction.ended


# --- property -----------------------------------------------------------------------------


@FAST
@given(
    data=st.binary(min_size=1, max_size=3000),
    start=st.integers(0, SEQ_SPACE - 1),
    syn=st.booleans(),
    seed=st.randoms(use_true_random=False),
)
def test_any_segmentation_order_and_retransmission_gives_back_the_bytes(
    data: bytes, start: int, syn: bool, seed: random.Random
) -> None:
    """Random segment sizes, any order, random retransmissions (of other sizes too): the bytes
    come out once, in order, and nothing is reported missing."""
    sizes = [seed.randint(1, 200) for _ in range(len(data))]
    segments = cut(data, start, sizes)
    extra = []
    for _ in range(seed.randint(0, 5)):
        begin = seed.randrange(len(data))
        end = seed.randint(begin + 1, len(data))
        extra.append(seg(start + begin, data[begin:end]))
    shuffled = segments + extra
    seed.shuffle(shuffled)
    direction = Direction()
    if syn:
        direction.push(seg(start - 1, syn=True, ack=False))
    else:
        shuffled.insert(0, seg(start))  # capture starts on a pure ACK
    out = push_all(direction, shuffled)
    assert out == data
    assert direction.close() is False
