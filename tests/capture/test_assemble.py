"""Segments -> exchanges, paired per connection, with every loss counted. The segments are
built by hand (`Conn`): sequence numbers, handshakes, FIN and RST as a real TCP stack would
send them; no tshark here."""

from __future__ import annotations

import gzip
import ipaddress
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.capture import assemble
from shadowdiff.capture.assemble import IDLE_NS, Assembler, Captured, CaptureStats
from shadowdiff.capture.tcp import SEQ_SPACE, Segment

MSS = 1460
T0 = 1_700_000_000_000_000_000


@dataclass(slots=True)
class Clock:
    now: int = T0

    def tick(self) -> int:
        self.now += 1000
        return self.now


@dataclass(slots=True)
class Conn:
    """One TCP connection, written segment by segment with correct sequence numbers."""

    stream: int = 0
    client: tuple[str, int] = ("10.0.0.1", 40000)
    server: tuple[str, int] = ("10.0.0.2", 8080)
    clock: Clock = field(default_factory=Clock)
    client_seq: int = 1_000
    server_seq: int = 900_000

    def open(self) -> list[Segment]:
        """SYN, SYN+ACK, ACK."""
        syn = self._up(b"", syn=True, ack=False)
        syn_ack = self._down(b"", syn=True)
        return [syn, syn_ack, self._up(b"")]

    def send(self, data: bytes, size: int | list[int] = MSS) -> list[Segment]:
        """Client -> server: `data` in segments of `size` bytes (or of these sizes, in turn)."""
        return [self._up(piece) for piece in _pieces(data, size)]

    def answer(self, data: bytes, size: int | list[int] = MSS) -> list[Segment]:
        """Server -> client."""
        return [self._down(piece) for piece in _pieces(data, size)]

    def close(self) -> list[Segment]:
        """The client closes: FIN, the server's FIN+ACK, the last ACK."""
        return [self.fin_client(), self.fin_server(), self._up(b"")]

    def fin_client(self, data: bytes = b"") -> Segment:
        return self._up(data, fin=True)

    def fin_server(self, data: bytes = b"") -> Segment:
        return self._down(data, fin=True)

    def ack_client(self) -> Segment:
        """A pure ACK from the client."""
        return self._up(b"")

    def ack_server(self) -> Segment:
        return self._down(b"")

    def rst_client(self) -> Segment:
        return self._up(b"", rst=True)

    def rst_server(self) -> Segment:
        return self._down(b"", rst=True)

    def _up(self, payload: bytes, **flags: bool) -> Segment:
        segment = Segment(
            self.stream,
            self.clock.tick(),
            *self.client,
            *self.server,
            self.client_seq,
            payload,
            **{"ack": True, **flags},
        )
        self.client_seq = _after(self.client_seq, payload, flags)
        return segment

    def _down(self, payload: bytes, **flags: bool) -> Segment:
        segment = Segment(
            self.stream,
            self.clock.tick(),
            *self.server,
            *self.client,
            self.server_seq,
            payload,
            **{"ack": True, **flags},
        )
        self.server_seq = _after(self.server_seq, payload, flags)
        return segment


def _after(seq: int, payload: bytes, flags: dict[str, bool]) -> int:
    used = len(payload) + int(flags.get("syn", False)) + int(flags.get("fin", False))
    return (seq + used) % SEQ_SPACE


def _pieces(data: bytes, size: int | list[int]) -> list[bytes]:
    sizes = [size] if isinstance(size, int) else size
    out, offset, turn = [], 0, 0
    while offset < len(data):
        step = sizes[turn % len(sizes)]
        out.append(data[offset : offset + step])
        offset, turn = offset + step, turn + 1
    return out


def run(
    segments: Iterable[Segment], ports: set[int] | None = None
) -> tuple[list[Captured], CaptureStats]:
    """Feed every segment, then end the capture; what came out and the counts."""
    assembler = Assembler({8080} if ports is None else ports)
    found = [c for s in segments for c in assembler.feed(s)]
    return found + assembler.close(), assembler.stats


def pairs(found: list[Captured]) -> list[tuple[bytes, bytes]]:
    return [(c.request.raw, c.response.raw) for c in found]


def get(path: str = "/", extra: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: svc\r\n" + extra + b"\r\n"


def post(body: bytes, path: str = "/items") -> bytes:
    head = (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: svc\r\nContent-Type: application/json\r\n"
    )
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def ok(body: bytes = b"ok", status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body
    )


def chunked(body: bytes, size: int = 100) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def exchange(conn: Conn, request: bytes, response: bytes, size: int = MSS) -> list[Segment]:
    return conn.send(request, size) + conn.answer(response, size)


def assert_nothing_lost(stats: CaptureStats) -> None:
    assert stats.lost == 0, stats.summary()
    assert (stats.streams_with_gaps, stats.not_http, stats.streams_given_up) == (0, 0, 0)


# --- one connection -----------------------------------------------------------------------


def test_one_exchange_with_handshake_and_close() -> None:
    conn = Conn()
    segments = conn.open() + exchange(conn, get("/a"), ok(b"hello")) + conn.close()
    [captured], stats = run(segments)
    assert (captured.request.raw, captured.response.raw) == (get("/a"), ok(b"hello"))
    assert captured.client == ("10.0.0.1", 40000) and captured.server == ("10.0.0.2", 8080)
    assert captured.request.first_ns == segments[3].time_ns
    assert captured.response.first_ns == segments[4].time_ns
    assert (stats.packets, stats.exchanges) == (len(segments), 1)
    assert_nothing_lost(stats)


def test_id_is_goreplay_shaped() -> None:
    conn = Conn(client=("192.168.1.20", 0xABCD), server=("10.0.0.2", 8080))
    [captured], _ = run(conn.open() + exchange(conn, get(), ok()) + conn.close())
    assert re.fullmatch("[0-9a-f]{24}", captured.id)
    assert captured.id.startswith("abcd" + "1f90" + "c0a80114")


def test_keep_alive_with_many_requests() -> None:
    conn = Conn()
    sent = [(get(f"/item/{i}"), ok(b"item %d" % i * (i + 1))) for i in range(60)]
    segments = conn.open()
    for request, response in sent:
        segments += exchange(conn, request, response, size=97)
    found, stats = run(segments + conn.close())
    assert pairs(found) == sent
    assert len({c.id for c in found}) == len(sent)
    assert stats.exchanges == 60
    assert_nothing_lost(stats)


def test_pipelined_requests_in_one_segment_are_paired_in_order() -> None:
    conn = Conn()
    requests = [get("/1"), post(b'{"n": 2}'), get("/3")]
    responses = [ok(b"one"), ok(b"two", b"201 Created"), ok(b"three")]
    segments = conn.open() + conn.send(b"".join(requests))
    segments += conn.answer(responses[0]) + conn.answer(responses[1] + responses[2])
    found, stats = run(segments + conn.close())
    assert pairs(found) == list(zip(requests, responses, strict=True))
    assert len({c.id for c in found}) == 3
    assert_nothing_lost(stats)


def test_pipelined_head_response_in_one_segment_with_others() -> None:
    """Each response in a burst is framed for its own request's method: a HEAD answer has a
    Content-Length but no body."""
    conn = Conn()
    head = b"HEAD /big HTTP/1.1\r\nHost: svc\r\n\r\n"
    head_answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"
    requests = [get("/1"), head, get("/3")]
    responses = [ok(b"one"), head_answer, ok(b"three")]
    segments = conn.open() + conn.send(b"".join(requests)) + conn.answer(b"".join(responses))
    found, stats = run(segments + conn.close())
    assert pairs(found) == list(zip(requests, responses, strict=True))
    assert_nothing_lost(stats)


def test_head_response_then_more_exchanges() -> None:
    conn = Conn()
    head = b"HEAD /file HTTP/1.1\r\nHost: svc\r\n\r\n"
    head_answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n\r\n"
    sent = [(head, head_answer), (get("/file"), ok(b"x" * 1234)), (head, head_answer)]
    segments = conn.open()
    for request, response in sent:
        segments += exchange(conn, request, response)
    found, stats = run(segments + conn.close())
    assert pairs(found) == sent
    assert_nothing_lost(stats)


def test_chunked_and_gzip_bodies_are_kept_byte_for_byte() -> None:
    conn = Conn()
    document = b'{"rows": [' + b", ".join(b'{"id": %d}' % i for i in range(400)) + b"]}"
    packed = gzip.compress(document, mtime=0)
    chunked_gzip = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked(packed, 333)
    )
    chunked_request = (
        b"POST /upload HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Encoding: gzip\r\n\r\n" + chunked(packed, 1000)
    )
    trailer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
        b"4;ext=1\r\nabcd\r\n0\r\nX-Sum: 9\r\n\r\n"
    )
    sent = [
        (get("/rows", b"Accept-Encoding: gzip\r\n"), chunked_gzip),
        (chunked_request, ok(packed, extra=b"Content-Encoding: gzip\r\n")),
        (get("/t"), trailer),
    ]
    segments = conn.open()
    for request, response in sent:
        segments += exchange(conn, request, response, size=500)
    found, stats = run(segments + conn.close())
    assert pairs(found) == sent
    assert gzip.decompress(found[1].response.raw.split(b"\r\n\r\n", 1)[1]) == document
    assert_nothing_lost(stats)


def test_large_body_out_of_order_with_retransmissions() -> None:
    """A 300 KB upload and a 300 KB answer in 1,460-byte segments, shuffled, with duplicates:
    the recorded bytes are the sent bytes."""
    shuffle = random.Random(7)
    conn = Conn()
    upload = post(bytes(shuffle.randrange(256) for _ in range(300_000)), "/upload")
    download = ok(bytes(shuffle.randrange(256) for _ in range(300_000)))
    handshake, up, down = conn.open(), conn.send(upload), conn.answer(download)
    assert len(up) > 200
    duplicates = shuffle.sample(up, 30) + shuffle.sample(down, 30)
    shuffle.shuffle(up)
    shuffle.shuffle(down)
    segments = handshake + up + duplicates[:30] + down + duplicates[30:] + conn.close()
    [captured], stats = run(segments)
    assert captured.request.raw == upload
    assert captured.response.raw == download
    assert stats.retransmissions == 60
    assert_nothing_lost(stats)


def test_expect_100_continue() -> None:
    conn = Conn()
    head = b"PUT /doc HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\nContent-Length: 2000\r\n\r\n"
    body = b"b" * 2000
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    final = ok(b"stored", b"201 Created")
    segments = conn.open() + conn.send(head) + conn.answer(interim) + conn.send(body)
    segments += conn.answer(final) + exchange(conn, get("/next"), ok()) + conn.close()
    found, stats = run(segments)
    assert pairs(found) == [(head + body, interim + final), (get("/next"), ok())]
    assert found[0].request.first_ns == segments[3].time_ns
    assert_nothing_lost(stats)


def test_close_delimited_response_ends_at_the_server_fin() -> None:
    conn = Conn()
    request = b"GET /old HTTP/1.0\r\nHost: svc\r\n\r\n"
    response = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"z" * 5000
    segments = conn.open() + conn.send(request) + conn.answer(response)
    segments += [conn.fin_server(), conn.fin_client()]
    assembler = Assembler({8080})
    found = [c for s in segments for c in assembler.feed(s)]
    assert pairs(found) == [(request, response)], "emitted at the FINs, not at capture end"
    assert assembler.close() == []
    assert_nothing_lost(assembler.stats)


def test_close_delimited_response_without_server_fin_is_incomplete() -> None:
    """Capture ended (or the client reset) while the body was still coming: not an exchange."""
    conn = Conn()
    request = b"GET /old HTTP/1.0\r\nHost: svc\r\n\r\n"
    response = b"HTTP/1.0 200 OK\r\n\r\n" + b"z" * 5000
    start = conn.open() + conn.send(request) + conn.answer(response)
    found, stats = run(start)
    assert found == []
    assert (stats.incomplete_responses, stats.lost) == (1, 1)
    found, stats = run([*start, conn.rst_client()])
    assert found == []
    assert (stats.incomplete_responses, stats.lost) == (1, 1)


def test_fin_from_one_side_only_keeps_the_connection_open() -> None:
    conn = Conn()
    segments = conn.open() + conn.send(get()) + [conn.fin_client()] + conn.answer(ok())
    assembler = Assembler({8080})
    found = [c for s in segments for c in assembler.feed(s)]
    assert pairs(found) == [(get(), ok())]
    assert assembler.feed(conn.fin_server()) == []
    assert assembler.close() == []
    assert_nothing_lost(assembler.stats)


def test_fin_that_overtakes_the_last_bytes_does_not_cut_them_off() -> None:
    conn = Conn()
    start = conn.open() + conn.send(get())
    last = conn.answer(ok(b"x" * 3000))
    fin_server, fin_client = conn.fin_server(), conn.fin_client()
    found, stats = run([*start, last[0], fin_server, fin_client, *last[1:]])
    assert pairs(found) == [(get(), ok(b"x" * 3000))]
    assert_nothing_lost(stats)


def test_segments_after_the_close_do_not_reopen_the_connection() -> None:
    """The last ACK, and a retransmission of bytes already seen, after both FINs."""
    conn = Conn()
    segments = conn.open() + conn.send(get())
    answer = conn.answer(ok(b"y" * 3000))
    segments += answer + conn.close() + answer[1:]
    found, stats = run(segments)
    assert pairs(found) == [(get(), ok(b"y" * 3000))]
    assert_nothing_lost(stats)


def test_a_new_connection_with_a_closed_connections_stream_index() -> None:
    first = Conn(7)
    second = Conn(7, client_seq=5_000_000, server_seq=6_000_000)
    segments = first.open() + exchange(first, get("/1"), ok(b"1")) + first.close()
    segments += second.open() + exchange(second, get("/2"), ok(b"2")) + second.close()
    found, stats = run(segments)
    assert pairs(found) == [(get("/1"), ok(b"1")), (get("/2"), ok(b"2"))]
    assert_nothing_lost(stats)


def test_reset_after_a_whole_exchange_loses_nothing() -> None:
    conn = Conn()
    found, stats = run([*conn.open(), *exchange(conn, get(), ok()), conn.rst_client()])
    assert pairs(found) == [(get(), ok())]
    assert_nothing_lost(stats)


def test_reset_mid_response_is_an_incomplete_response() -> None:
    conn = Conn()
    segments = conn.open() + exchange(conn, get("/1"), ok())
    segments += conn.send(get("/2")) + conn.answer(ok(b"w" * 5000))[:2] + [conn.rst_server()]
    assembler = Assembler({8080})
    found = [c for s in segments for c in assembler.feed(s)]
    assert pairs(found) == [(get("/1"), ok())]
    stats = assembler.stats
    assert (stats.incomplete_responses, stats.lost) == (1, 1), "one exchange, counted once"
    assert assembler.close() == []


def test_reset_mid_request_is_an_incomplete_request() -> None:
    conn = Conn()
    segments = conn.open() + conn.send(post(b"v" * 4000))[:2] + [conn.rst_client()]
    found, stats = run(segments)
    assert found == []
    assert (stats.incomplete_requests, stats.lost) == (1, 1)


def test_request_left_unanswered() -> None:
    conn = Conn()
    segments = conn.open() + exchange(conn, get("/1"), ok()) + conn.send(get("/2"))
    found, stats = run([*segments, conn.rst_client()])
    assert pairs(found) == [(get("/1"), ok())]
    assert (stats.requests_without_response, stats.lost) == (1, 1)


def test_capture_started_mid_connection_counts_the_answer_to_an_unseen_request() -> None:
    conn = Conn()
    conn.send(get("/before"))  # sent before the capture started
    segments = conn.answer(ok(b"before")) + exchange(conn, get("/after"), ok(b"after"))
    found, stats = run(segments + conn.close())
    assert pairs(found) == [(get("/after"), ok(b"after"))]
    assert (stats.responses_without_request, stats.lost) == (1, 1)


def test_capture_started_mid_connection_on_a_pure_ack() -> None:
    conn = Conn()
    conn.open()
    segments = [conn.ack_client(), *exchange(conn, get(), ok()), *conn.close()]
    found, stats = run(segments)
    assert pairs(found) == [(get(), ok())]
    assert_nothing_lost(stats)


# --- missing bytes ------------------------------------------------------------------------


def test_lost_request_segment_is_counted_and_no_wrong_exchange_is_emitted() -> None:
    conn = Conn()
    segments = conn.open() + exchange(conn, get("/1"), ok(b"one"))
    second = conn.send(post(b"p" * 4000, "/2"))
    del second[1]  # never captured
    segments += second + conn.answer(ok(b"two"))
    segments += exchange(conn, get("/3"), ok(b"three")) + conn.close()
    found, stats = run(segments)
    assert pairs(found) == [(get("/1"), ok(b"one"))]
    assert stats.streams_with_gaps == 1
    assert stats.lost >= 2, stats.summary()


def test_lost_response_segment_emits_no_truncated_response() -> None:
    conn = Conn()
    request = b"GET /old HTTP/1.0\r\nHost: svc\r\n\r\n"
    response = b"HTTP/1.0 200 OK\r\n\r\n" + b"z" * 5000
    segments = conn.open() + conn.send(request)
    answer = conn.answer(response)
    del answer[2]
    segments += [*answer, conn.fin_server(), conn.fin_client()]
    found, stats = run(segments)
    assert found == []
    assert stats.streams_with_gaps == 1
    assert (stats.incomplete_responses, stats.lost) == (1, 1)


def keep_alive(conn: Conn, numbers: range) -> list[Segment]:
    return [s for n in numbers for s in exchange(conn, get(f"/{n}"), ok(b"r%d" % n))]


def test_a_request_packet_never_captured_costs_that_exchange_and_the_connection_goes_on() -> None:
    conn = Conn()
    segments = conn.open() + keep_alive(conn, range(1, 2))
    second = conn.send(post(b"p" * 4000, "/2"))
    del second[1]  # the kernel dropped it: no retransmission will come
    segments += second + conn.answer(ok(b"two"))
    conn.clock.now += 2_000_000_000  # the next request comes 2 s later
    segments += keep_alive(conn, range(3, 6)) + conn.close()
    found, stats = run(segments)
    assert pairs(found) == [(get(f"/{n}"), ok(b"r%d" % n)) for n in (1, 3, 4, 5)]
    assert (stats.holes, stats.streams_with_gaps) == (1, 1)
    assert (stats.incomplete_requests, stats.responses_without_request) == (1, 1)
    assert stats.lost == 2, stats.summary()


def test_a_response_packet_never_captured_costs_what_cannot_be_told_apart_and_no_more() -> None:
    conn = Conn()
    segments = conn.open() + keep_alive(conn, range(1, 2))
    segments += conn.send(get("/2"))
    answer = conn.answer(ok(b"z" * 5000))
    del answer[1]
    segments += answer
    conn.clock.now += 2_000_000_000
    segments += keep_alive(conn, range(3, 7)) + conn.close()
    found, stats = run(segments)
    # /3's answer might be the rest of /2's: it is not paired; from /4 on the pairing is sure
    assert pairs(found) == [(get(f"/{n}"), ok(b"r%d" % n)) for n in (1, 4, 5, 6)]
    assert (stats.holes, stats.incomplete_responses) == (1, 1)
    assert stats.lost == 2, stats.summary()  # /2 and /3, each counted once


def test_after_a_hole_a_request_sent_while_a_response_is_under_way_is_not_paired() -> None:
    """Pipelined after a hole: which response answers which request cannot be told."""
    conn = Conn()
    segments = conn.open() + conn.send(get("/1"))
    answer = conn.answer(ok(b"z" * 5000))
    del answer[1]
    segments += answer[:2]
    conn.clock.now += 2_000_000_000
    segments += conn.send(get("/2") + get("/3"))  # pipelined while /1's answer is unfinished
    segments += answer[2:] + conn.answer(ok(b"r2") + ok(b"r3"))
    segments += keep_alive(conn, range(4, 5)) + conn.close()
    found, stats = run(segments)
    assert pairs(found) == [(get("/4"), ok(b"r4"))]
    assert stats.lost >= 3, stats.summary()


# --- several connections ------------------------------------------------------------------


def test_two_connections_interleaved_are_never_crossed() -> None:
    clock = Clock()
    a = Conn(0, ("10.0.0.1", 40000), clock=clock)
    b = Conn(1, ("10.0.0.1", 40001), clock=clock, client_seq=1_000, server_seq=900_000)
    sent_a = [(get(f"/a/{i}"), ok(b"a%d" % i)) for i in range(5)]
    sent_b = [(post(b"b%d" % i, f"/b/{i}"), ok(b"b%d" % i * 300)) for i in range(5)]
    segments = a.open() + b.open()
    for (req_a, resp_a), (req_b, resp_b) in zip(sent_a, sent_b, strict=True):
        segments += a.send(req_a) + b.send(req_b, 100) + b.answer(resp_b, 700) + a.answer(resp_a)
    found, stats = run(segments + b.close() + a.close())
    assert pairs([c for c in found if c.client[1] == 40000]) == sent_a
    assert pairs([c for c in found if c.client[1] == 40001]) == sent_b
    assert_nothing_lost(stats)


def test_responses_are_never_paired_across_connections() -> None:
    clock = Clock()
    a, b = Conn(0, clock=clock), Conn(1, ("10.0.0.1", 40001), clock=clock)
    segments = a.open() + b.open() + a.send(get("/a")) + b.answer(ok(b"b")) + a.answer(ok(b"a"))
    found, stats = run(segments + a.close() + b.close())
    assert pairs(found) == [(get("/a"), ok(b"a"))]
    assert stats.responses_without_request == 1


def test_several_server_ports() -> None:
    clock = Clock()
    api = Conn(0, ("10.0.0.1", 40000), ("10.0.0.2", 8080), clock)
    admin = Conn(1, ("10.0.0.1", 40001), ("10.0.0.3", 9090), clock)
    other = Conn(2, ("10.0.0.1", 40002), ("10.0.0.4", 5432), clock)
    segments = api.open() + admin.open() + other.open()
    segments += exchange(api, get("/api"), ok(b"api")) + exchange(admin, get("/admin"), ok())
    segments += exchange(other, b"not http at all", b"\x00\x01")
    found, stats = run(segments + api.close() + admin.close(), ports={8080, 9090})
    assert sorted(pairs(found)) == sorted([(get("/api"), ok(b"api")), (get("/admin"), ok())])
    assert {c.server for c in found} == {("10.0.0.2", 8080), ("10.0.0.3", 9090)}
    assert_nothing_lost(stats)


def test_ipv6_addresses() -> None:
    conn = Conn(client=("2001:db8::1:c0a8:114", 50000), server=("2001:db8::2", 8080))
    [captured], stats = run(conn.open() + exchange(conn, get(), ok()) + conn.close())
    assert captured.client == ("2001:db8::1:c0a8:114", 50000)
    assert captured.server == ("2001:db8::2", 8080)
    assert captured.id[8:16] == ipaddress.ip_address("192.168.1.20").packed.hex()
    assert re.fullmatch("[0-9a-f]{24}", captured.id)
    assert_nothing_lost(stats)


def test_sequence_numbers_wrapping_mid_exchange() -> None:
    conn = Conn(client_seq=SEQ_SPACE - 3000, server_seq=SEQ_SPACE - 1)
    sent = [(post(b"q" * 5000), ok(b"r" * 5000)), (get(), ok())]
    segments = conn.open()
    for request, response in sent:
        segments += exchange(conn, request, response)
    found, stats = run(segments + conn.close())
    assert pairs(found) == sent
    assert_nothing_lost(stats)


# --- direction without server ports -------------------------------------------------------


def test_direction_is_inferred_from_the_handshake() -> None:
    conn = Conn(server=("10.0.0.2", 31337))
    segments = conn.open() + exchange(conn, get(), ok()) + conn.close()
    [captured], stats = run(segments, ports=set())
    assert captured.server == ("10.0.0.2", 31337)
    assert_nothing_lost(stats)


def test_direction_is_inferred_from_syn_ack_when_the_syn_was_missed() -> None:
    conn = Conn(server=("10.0.0.2", 31337))
    segments = conn.open()[1:] + exchange(conn, get(), ok()) + conn.close()
    [captured], _ = run(segments, ports=set())
    assert (captured.client, captured.server) == (conn.client, conn.server)


def test_direction_is_inferred_from_a_request_line_mid_connection() -> None:
    conn = Conn(server=("10.0.0.2", 31337))
    conn.open()
    segments = [conn.ack_server(), *exchange(conn, get(), ok()), *conn.close()]
    [captured], stats = run(segments, ports=set())
    assert (captured.client, captured.server) == (conn.client, conn.server)
    assert_nothing_lost(stats)


def test_direction_is_inferred_from_a_status_line_mid_connection() -> None:
    conn = Conn(server=("10.0.0.2", 31337))
    conn.send(get("/unseen"))
    segments = conn.answer(ok(b"x")) + exchange(conn, get("/seen"), ok(b"y")) + conn.close()
    [captured], stats = run(segments, ports=set())
    assert (captured.client, captured.server) == (conn.client, conn.server)
    assert pairs([captured]) == [(get("/seen"), ok(b"y"))]
    assert stats.responses_without_request == 1


def test_segments_outside_the_server_ports_are_ignored() -> None:
    conn = Conn(server=("10.0.0.2", 5432))
    segments = conn.open() + exchange(conn, get(), ok()) + conn.close()
    found, stats = run(segments)
    assert found == []
    assert stats.packets == len(segments) and stats.exchanges == 0
    assert_nothing_lost(stats)


# --- not HTTP, protocol switches, bounds --------------------------------------------------


def test_tls_on_the_port_is_counted_as_not_http() -> None:
    clock = Clock()
    tls, plain = Conn(0, clock=clock), Conn(1, ("10.0.0.1", 40001), clock=clock)
    segments = tls.open() + plain.open()
    segments += tls.send(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"r" * 200)
    segments += tls.answer(b"\x16\x03\x03\x00\x5a\x02" + b"s" * 300)
    segments += exchange(plain, get(), ok()) + tls.close() + plain.close()
    found, stats = run(segments)
    assert pairs(found) == [(get(), ok())]
    assert stats.not_http == 1
    assert stats.lost == 0


def test_switching_protocols_pairs_the_upgrade_and_ignores_what_follows() -> None:
    conn = Conn()
    upgrade = get("/ws", b"Connection: Upgrade\r\nUpgrade: websocket\r\n")
    switch = (
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )
    segments = conn.open() + conn.send(upgrade) + conn.answer(switch + b"\x81\x02hi")
    segments += conn.send(b"\x81\x82abcd\x00\x00") + conn.answer(b"\x81\x03bye") + conn.close()
    found, stats = run(segments)
    assert pairs(found) == [(upgrade, switch)]
    assert found[0].response.switched
    assert_nothing_lost(stats)


def test_too_many_connections_gives_up_the_least_recently_active(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(assemble, "MAX_STREAMS", 2)
    clock = Clock()
    conns = [Conn(i, ("10.0.0.1", 40000 + i), clock=clock) for i in range(3)]
    segments = conns[0].open() + conns[0].send(get("/0"))
    segments += conns[1].open() + conns[2].open()
    found, stats = run(segments)
    assert found == []
    assert stats.streams_given_up == 1
    assert stats.requests_without_response == 1


def test_idle_connections_expire() -> None:
    conn = Conn()
    segments = conn.open() + conn.send(get("/1")) + conn.answer(ok()) + conn.send(get("/2"))
    assembler = Assembler({8080})
    found = [c for s in segments for c in assembler.feed(s)]
    assert pairs(found) == [(get("/1"), ok())]
    last = segments[-1].time_ns
    assert assembler.expire(last + IDLE_NS - 1) == []
    assert assembler.stats.requests_without_response == 0
    assert assembler.expire(last + IDLE_NS) == []
    assert assembler.stats.requests_without_response == 1
    assert assembler.close() == []
    assert assembler.stats.requests_without_response == 1


def test_expire_keeps_recently_active_connections() -> None:
    clock = Clock()
    old, new = Conn(0, clock=clock), Conn(1, ("10.0.0.1", 40001), clock=clock)
    assembler = Assembler({8080})
    for segment in old.open() + old.send(get()):
        assembler.feed(segment)
    clock.now += IDLE_NS
    for segment in new.open() + new.send(get()):
        assembler.feed(segment)
    assembler.expire(clock.now + 1)
    assert assembler.stats.requests_without_response == 1
    assert pairs(assembler.feed(new.answer(ok())[0])) == [(get(), ok())]


def test_summary_names_every_count() -> None:
    stats = CaptureStats(
        packets=100,
        exchanges=40,
        requests_without_response=1,
        responses_without_request=2,
        incomplete_requests=3,
        incomplete_responses=4,
        streams_with_gaps=5,
        retransmissions=6,
        not_http=7,
        streams_given_up=8,
        kernel_dropped=9,
        undelivered=10,
        holes=11,
    )
    assert stats.lost == 1 + 2 + 3 + 4 + 10, "kernel drops are packets, counted apart"
    line = stats.summary()
    assert "\n" not in line
    assert "100 packets, 40 exchanges; lost 20" in line
    for number in range(1, 12):
        if number != 6:  # retransmissions are not a loss
            assert str(number) in line
    assert "kernel drops not known" in CaptureStats().summary()


# --- property -----------------------------------------------------------------------------

_body = st.binary(max_size=2500)


@st.composite
def _exchange(draw: st.DrawFn) -> tuple[bytes, bytes]:
    kind = draw(st.sampled_from(["get", "post", "chunked"]))
    body, answer = draw(_body), draw(_body)
    request = {
        "get": get("/" + draw(st.text("abc/", max_size=8))),
        "post": post(body),
        "chunked": b"PUT /c HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked(body, 700),
    }[kind]
    if draw(st.booleans()):
        return request, ok(answer)
    return request, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(answer, 900)


def _shuffled_nearby(items: list[Segment], rng: random.Random, window: int) -> list[Segment]:
    """Reordered, each item about `window` places at most from where it was."""
    order = sorted(range(len(items)), key=lambda i: i + rng.uniform(0, window))
    return [items[i] for i in order]


def _retransmitted(segments: list[Segment], rng: random.Random) -> list[Segment]:
    """Some segments sent again a little later."""
    out = list(segments)
    for _ in range(rng.randint(0, 3)):
        where = rng.randrange(len(segments))
        out.insert(where + rng.randint(1, 4), segments[where])
    return out


def _ends(messages: list[bytes]) -> list[int]:
    """Where each message ends in the direction's byte stream."""
    ends, total = [], 0
    for message in messages:
        total += len(message)
        ends.append(total)
    return ends


def _connection_segments(
    conn: Conn, sent: list[tuple[bytes, bytes]], rng: random.Random
) -> list[Segment]:
    """The client's and the server's bytes cut at random places, reordered nearby, some
    retransmitted, FINs included; no loss. The server's segments come after the client's
    segments holding the requests they answer (a server answers only what it has read)."""
    handshake = conn.open()
    up_base, down_base = conn.client_seq, conn.server_seq
    up = conn.send(b"".join(r for r, _ in sent), [rng.randint(1, 1500) for _ in range(9)])
    down = conn.answer(b"".join(r for _, r in sent), [rng.randint(1, 1500) for _ in range(9)])
    up = _shuffled_nearby(_retransmitted([*up, conn.fin_client()], rng), rng, 4)
    down = _shuffled_nearby(_retransmitted([*down, conn.fin_server()], rng), rng, 4)
    request_ends, response_ends = _ends([r for r, _ in sent]), _ends([r for _, r in sent])
    # for the i-th response: how many of `up` must be out before it
    needed = [
        1 + max(i for i, s in enumerate(up) if (s.seq - up_base) % SEQ_SPACE < end)
        for end in request_ends
    ]

    def up_needed(segment: Segment) -> int:
        last = (segment.seq - down_base) % SEQ_SPACE + len(segment.payload) - 1
        answers = next((i for i, end in enumerate(response_ends) if last < end), len(sent) - 1)
        return needed[answers]

    merged, taken = list(handshake), 0
    while up or down:
        if down and taken >= up_needed(down[0]) and (not up or rng.random() < 0.5):
            merged.append(down.pop(0))
        else:
            merged.append(up.pop(0))
            taken += 1
    return merged


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(_exchange(), min_size=1, max_size=4), min_size=1, max_size=3),
    st.randoms(use_true_random=False),
    st.sets(st.sampled_from([8080, 9090]), max_size=2),
)
def test_any_segmentation_and_reordering_without_loss_gives_back_the_exchanges(
    connections: list[list[tuple[bytes, bytes]]], rng: random.Random, ports: set[int]
) -> None:
    clock = Clock()
    streams = []
    for number, sent in enumerate(connections):
        conn = Conn(
            number,
            ("10.0.0.1", 40000 + number),
            ("10.0.0.2", 8080 if number % 2 == 0 else 9090),
            clock,
            rng.randrange(SEQ_SPACE),
            rng.randrange(SEQ_SPACE),
        )
        streams.append(_connection_segments(conn, sent, rng))
    segments = []
    while any(streams):
        segments.append(rng.choice([s for s in streams if s]).pop(0))
    found, stats = run(segments, ports={8080, 9090} if len(ports) == 2 else set())
    for number, sent in enumerate(connections):
        assert pairs([c for c in found if c.client[1] == 40000 + number]) == sent
    assert stats.exchanges == sum(map(len, connections))
    assert_nothing_lost(stats)


# --- one bad message does not blind a connection (review findings) -----------------------


def test_a_request_h11_refuses_is_lost_alone_and_the_connection_goes_on() -> None:
    conn = Conn()
    segments = conn.open()
    good = [get(f"/ok/{i}") for i in range(6)]
    for request in good[:3]:
        segments += exchange(conn, request, ok())
    segments += exchange(conn, b"GET /health HTTP/1.1\r\n\r\n", ok(b"bad"))  # no Host
    for request in good[3:]:
        segments += exchange(conn, request, ok())
    found, stats = run(segments + conn.close())
    assert [request for request, _ in pairs(found)] == good
    assert stats.incomplete_requests == 1 and stats.responses_without_request == 1


def test_joining_mid_connection_skips_to_the_next_request_line_and_never_glues_bytes() -> None:
    conn = Conn()
    conn.open()  # the capture starts after the handshake
    segments = conn.send(b'"tail": 56789}')  # the end of an earlier request's body
    segments += conn.answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    later = [get(f"/later/{i}") for i in range(3)]
    for request in later:
        segments += exchange(conn, request, ok())
    found, stats = run(segments + conn.close())
    assert [request for request, _ in pairs(found)] == later
    assert stats.bytes_skipped == len(b'"tail": 56789}')
    assert stats.responses_without_request == 1


def test_a_connection_capped_at_max_waiting_requests_counts_the_overflow() -> None:
    from shadowdiff.capture import assemble

    conn = Conn()
    segments = conn.open()
    for i in range(assemble.MAX_WAITING + 5):
        segments += conn.send(get(f"/one-way/{i}"))  # a capture that sees one direction only
    found, stats = run(segments + conn.close())
    assert found == []
    assert stats.requests_without_response == assemble.MAX_WAITING + 5
