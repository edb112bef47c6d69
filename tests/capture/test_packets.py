"""dumpcap's pcapng stream -> packets -> Segments, without tshark: blocks in any byte order
and cut anywhere, time resolutions and offsets, drop statistics, link layers, and the same
Segments tshark gives for a real capture."""

from __future__ import annotations

import dataclasses
import itertools
import pickle
import socket
import struct
import subprocess
import sys
from pathlib import Path

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.capture.packets import (
    MAX_BLOCK,
    Decoder,
    FlowIndex,
    Interface,
    Packet,
    PcapngError,
    PcapngStream,
    dpkt_tcp,
    plain_tcp,
)
from shadowdiff.capture.tcp import Segment
from tests.capture.test_import import REAL

T_NS = 1_763_760_000_123_456_789  # a capture time that floats cannot hold to the nanosecond
ETHERNET, SLL, SLL2, RAW = 1, 113, 276, 101

# --- pcapng blocks ----------------------------------------------------------------------


def pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def options(items: list[tuple[int, bytes]], order: str = "<") -> bytes:
    if not items:
        return b""
    packed = b"".join(struct.pack(order + "HH", code, len(v)) + pad(v) for code, v in items)
    return packed + struct.pack(order + "HH", 0, 0)


def block(kind: int, body: bytes, order: str = "<") -> bytes:
    length = 12 + len(pad(body))
    return struct.pack(order + "II", kind, length) + pad(body) + struct.pack(order + "I", length)


def shb(order: str = "<") -> bytes:
    return block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def idb(link_type: int, opts: list[tuple[int, bytes]] | None = None, order: str = "<") -> bytes:
    body = struct.pack(order + "HHI", link_type, 0, 262_144) + options(opts or [], order)
    return block(1, body, order)


def epb(interface: int, units: int, data: bytes, order: str = "<") -> bytes:
    header = struct.pack(
        order + "IIIII", interface, units >> 32, units & 0xFFFFFFFF, len(data), len(data)
    )
    return block(6, header + pad(data), order)


def isb(interface: int, ifdrop: int | None, osdrop: int | None = None, order: str = "<") -> bytes:
    opts = [(code, struct.pack(order + "Q", n)) for code, n in ((5, ifdrop), (7, osdrop)) if n]
    return block(5, struct.pack(order + "III", interface, 0, 0) + options(opts, order), order)


def tsresol(value: int) -> tuple[int, bytes]:
    return (9, bytes([value]))


def tsoffset(seconds: int, order: str = "<") -> tuple[int, bytes]:
    return (14, struct.pack(order + "q", seconds))


def read(data: bytes) -> tuple[PcapngStream, list[Packet]]:
    stream = PcapngStream()
    return stream, stream.feed(data)


# --- packets ----------------------------------------------------------------------------

CLIENT, SERVER = ("127.0.0.1", 40000), ("127.0.0.1", 8080)


def ip_address(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


def tcp(
    src: tuple[str, int] = CLIENT,
    dst: tuple[str, int] = SERVER,
    *,
    seq: int = 1000,
    flags: int = dpkt.tcp.TH_ACK,
    payload: bytes = b"",
) -> bytes:
    """An IPv4 or IPv6 packet (by the addresses) carrying one TCP segment."""
    segment = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=seq, flags=flags, data=payload)
    if ":" in src[0]:
        return bytes(
            dpkt.ip6.IP6(
                src=ip_address(src[0]),
                dst=ip_address(dst[0]),
                nxt=dpkt.ip.IP_PROTO_TCP,
                hlim=64,
                plen=len(bytes(segment)),
                data=segment,
            )
        )
    return bytes(
        dpkt.ip.IP(
            src=ip_address(src[0]), dst=ip_address(dst[0]), p=dpkt.ip.IP_PROTO_TCP, data=segment
        )
    )


def ethernet(network: bytes) -> bytes:
    kind = dpkt.ethernet.ETH_TYPE_IP6 if network[0] >> 4 == 6 else dpkt.ethernet.ETH_TYPE_IP
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=kind, data=network))


def sll(network: bytes) -> bytes:
    return bytes(dpkt.sll.SLL(type=4, hrd=1, hlen=6, hdr=b"\x02" * 6, ethtype=0x0800, data=network))


def decode(link_type: int, data: bytes) -> tuple[Segment | None, Decoder]:
    decoder = Decoder(PcapngStream(interfaces=[Interface(link_type)]))
    return decoder.segment(Packet(0, T_NS, data)), decoder


# what tcp(payload=b"hello") decodes to
HELLO = Segment(0, T_NS, "127.0.0.1", 40000, "127.0.0.1", 8080, 1000, b"hello", ack=True)


def capture() -> bytes:
    """A section with an Ethernet and an SLL interface, packets on both, statistics, and a
    block type the reader does not know (a name resolution block)."""
    return b"".join(
        [
            shb(),
            idb(ETHERNET),
            idb(SLL, [tsresol(9)]),
            epb(0, T_NS // 1000, ethernet(tcp(flags=dpkt.tcp.TH_SYN, seq=999))),
            epb(1, T_NS + 1, sll(tcp(SERVER, CLIENT, flags=dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK))),
            block(4, struct.pack("<HH", 0, 0)),
            epb(0, T_NS // 1000 + 2, ethernet(tcp(payload=b"GET / HTTP/1.1\r\n\r\n"))),
            isb(0, 3),
            epb(1, T_NS + 3, sll(tcp(SERVER, CLIENT, payload=b"HTTP/1.1 204 No Content\r\n\r\n"))),
        ]
    )


# --- feeding ----------------------------------------------------------------------------


def test_a_capture_read_whole_gives_its_packets_on_their_interfaces() -> None:
    stream, packets = read(capture())
    assert [(p.interface, p.time_ns) for p in packets] == [
        (0, T_NS - 789),
        (1, T_NS + 1),
        (0, T_NS - 789 + 2000),
        (1, T_NS + 3),
    ]
    assert packets[0].data == ethernet(tcp(flags=dpkt.tcp.TH_SYN, seq=999))
    assert stream.interfaces == [Interface(ETHERNET, dropped=3), Interface(SLL, 10**9)]
    assert stream.pending == 0


def test_fed_one_byte_at_a_time_gives_the_same_packets() -> None:
    data = capture()
    stream = PcapngStream()
    packets = [packet for i in range(len(data)) for packet in stream.feed(data[i : i + 1])]
    assert packets == read(data)[1]
    assert stream.interfaces == read(data)[0].interfaces and stream.pending == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(capture())), max_size=12))
def test_fed_in_pieces_cut_anywhere_gives_the_same_packets(cuts: list[int]) -> None:
    data = capture()
    bounds = [0, *sorted(cuts), len(data)]
    stream = PcapngStream()
    packets = [p for a, b in itertools.pairwise(bounds) for p in stream.feed(data[a:b])]
    assert packets == read(data)[1] and stream.pending == 0


def test_pending_counts_the_bytes_of_a_block_not_yet_whole() -> None:
    head, packet = shb() + idb(ETHERNET), epb(0, 0, ethernet(tcp()))
    stream = PcapngStream()
    assert stream.feed(head + packet[:30]) == []
    assert stream.pending == 30
    assert len(stream.feed(packet[30:])) == 1 and stream.pending == 0


def test_a_header_not_yet_whole_is_pending_too() -> None:
    stream = PcapngStream()
    assert stream.feed(shb()[:5]) == [] and stream.pending == 5


def test_a_big_endian_section_is_read_in_its_byte_order() -> None:
    data = b"".join(
        [
            shb(">"),
            idb(SLL, [tsresol(9), tsoffset(7, ">")], ">"),
            epb(0, T_NS, sll(tcp()), ">"),
            isb(0, 258, None, ">"),
        ]
    )
    stream, packets = read(data)
    assert stream.order == ">"
    assert packets == [Packet(0, T_NS + 7_000_000_000, sll(tcp()))]
    assert stream.interfaces == [Interface(SLL, 10**9, 7, dropped=258)]


def test_a_new_section_starts_over_with_its_own_interfaces_and_byte_order() -> None:
    first = shb(">") + idb(SLL, order=">") + idb(SLL, order=">")
    second = shb("<") + idb(ETHERNET) + epb(0, 5, ethernet(tcp()))
    stream, packets = read(first + second)
    assert stream.order == "<" and stream.interfaces == [Interface(ETHERNET)]
    assert packets == [Packet(0, 5000, ethernet(tcp()))]


# --- time stamps ------------------------------------------------------------------------


def one_packet_time(units: int, *interface_options: tuple[int, bytes]) -> int:
    data = shb() + idb(ETHERNET, list(interface_options)) + epb(0, units, b"x")
    return read(data)[1][0].time_ns


def test_time_stamps_are_microseconds_unless_said_otherwise() -> None:
    assert one_packet_time(T_NS // 1000) == 1_763_760_000_123_456_000


def test_nanosecond_time_stamps_are_exact() -> None:
    assert one_packet_time(T_NS, tsresol(9)) == T_NS


def test_a_power_of_two_resolution_is_read_from_the_high_bit() -> None:
    seconds = 1_763_760_000
    units = seconds * 2**20 + 2**19  # half a second in units of 2^-20 s
    assert one_packet_time(units, tsresol(0x80 | 20)) == seconds * 10**9 + 500_000_000


def test_the_time_offset_adds_whole_seconds() -> None:
    assert one_packet_time(123_456_789, tsresol(9), tsoffset(1_763_760_000)) == T_NS


def test_a_negative_time_offset_subtracts() -> None:
    assert one_packet_time(T_NS // 1000, tsoffset(-60)) == T_NS - 789 - 60 * 10**9


# --- drop statistics --------------------------------------------------------------------


def test_dropped_adds_up_the_interfaces() -> None:
    stream, _ = read(shb() + idb(ETHERNET) + idb(SLL) + isb(0, 4) + isb(1, None, 6))
    assert [i.dropped for i in stream.interfaces] == [4, 6] and stream.dropped == 10


def test_a_later_statistics_block_replaces_the_earlier_totals() -> None:
    stream, _ = read(shb() + idb(ETHERNET) + isb(0, 4) + isb(0, 9))
    assert stream.dropped == 9


def test_nothing_is_dropped_without_statistics() -> None:
    assert read(shb() + idb(ETHERNET))[0].dropped == 0


def test_kernel_and_dumpcap_drops_of_one_block_add_up() -> None:
    stream, _ = read(shb() + idb(ETHERNET) + isb(0, ifdrop=3, osdrop=2))
    assert stream.dropped == 5


# --- not pcapng -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + b"\0" * 16,  # a classic pcap file header
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        idb(ETHERNET) + shb(),  # an interface before any section
    ],
)
def test_bytes_that_do_not_start_with_a_section_header_are_refused(data: bytes) -> None:
    with pytest.raises(PcapngError, match="not a pcapng stream"):
        PcapngStream().feed(data)


def test_a_section_header_without_the_byte_order_magic_is_refused() -> None:
    bad = bytearray(shb())
    bad[8:12] = b"\x01\x02\x03\x04"
    with pytest.raises(PcapngError, match="byte-order magic"):
        PcapngStream().feed(bytes(bad))


@pytest.mark.parametrize("length", [8, 0, 13, 30, MAX_BLOCK + 4])
def test_an_impossible_block_length_is_refused(length: int) -> None:
    with pytest.raises(PcapngError, match=f"block of {length} bytes"):
        PcapngStream().feed(shb() + struct.pack("<II", 6, length) + b"\0" * 8)


def test_simple_packet_blocks_are_refused() -> None:
    with pytest.raises(PcapngError, match="simple packet"):
        PcapngStream().feed(shb() + idb(ETHERNET) + block(3, struct.pack("<I", 1) + b"x"))


def test_a_packet_on_an_undeclared_interface_is_refused() -> None:
    with pytest.raises(PcapngError):
        PcapngStream().feed(shb() + idb(ETHERNET) + epb(1, 0, b"x"))


# --- connection numbers -----------------------------------------------------------------


def test_both_directions_of_a_connection_share_a_number() -> None:
    flows = FlowIndex()
    a, b, c = (b"\x7f\0\0\x01", 40000), (b"\x7f\0\0\x01", 8080), (b"\x7f\0\0\x01", 40001)
    assert [flows.number(a, b), flows.number(b, a), flows.number(c, b)] == [0, 0, 1]


def test_the_least_recently_seen_connection_is_forgotten_beyond_the_limit() -> None:
    flows = FlowIndex(limit=2)
    one, two, three, server = [(b"\x0a\0\0\x01", port) for port in (1, 2, 3, 80)]
    assert [flows.number(one, server), flows.number(two, server)] == [0, 1]
    assert flows.number(server, one) == 0  # seen again: now the most recent
    assert flows.number(three, server) == 2  # `two` is forgotten
    assert [flows.number(one, server), flows.number(two, server)] == [0, 3]


# --- decoding ---------------------------------------------------------------------------


def test_an_ipv4_segment_over_ethernet() -> None:
    segment, decoder = decode(ETHERNET, ethernet(tcp(payload=b"hello")))
    assert segment == HELLO and decoder.skipped == 0


def test_an_ipv6_segment_over_ethernet() -> None:
    data = ethernet(tcp(("::1", 40000), ("2001:db8::2", 443), seq=2**32 - 1, payload=b"hi"))
    segment, _ = decode(ETHERNET, data)
    assert segment == Segment(0, T_NS, "::1", 40000, "2001:db8::2", 443, 2**32 - 1, b"hi", ack=True)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (dpkt.tcp.TH_SYN, (True, False, False, False)),
        (dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK, (True, False, False, True)),
        (dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, (False, True, False, True)),
        (dpkt.tcp.TH_RST, (False, False, True, False)),
        (0, (False, False, False, False)),
    ],
)
def test_tcp_flags(flags: int, expected: tuple[bool, bool, bool, bool]) -> None:
    segment, _ = decode(ETHERNET, ethernet(tcp(flags=flags)))
    assert segment is not None
    assert (segment.syn, segment.fin, segment.rst, segment.ack) == expected


def test_both_directions_get_one_stream_number_and_another_connection_the_next() -> None:
    decoder = Decoder(PcapngStream(interfaces=[Interface(ETHERNET)]))
    frames = [
        tcp(CLIENT, SERVER),
        tcp(SERVER, CLIENT),
        tcp(("127.0.0.1", 40001), SERVER),
        tcp(("::1", 40000), ("::1", 8080)),
        tcp(SERVER, CLIENT),
    ]
    segments = [decoder.segment(Packet(0, 0, ethernet(frame))) for frame in frames]
    assert [s.stream if s else None for s in segments] == [0, 0, 1, 2, 0]


def udp() -> bytes:
    datagram = dpkt.udp.UDP(sport=5353, dport=53, data=b"query")
    datagram.ulen = len(bytes(datagram))
    return bytes(
        dpkt.ip.IP(src=ip_address("10.0.0.1"), dst=ip_address("10.0.0.2"), p=17, data=datagram)
    )


def fragment(**flags: int) -> bytes:
    segment = dpkt.tcp.TCP(sport=40000, dport=80, flags=dpkt.tcp.TH_ACK, data=b"part")
    return bytes(
        dpkt.ip.IP(
            src=ip_address("10.0.0.1"), dst=ip_address("10.0.0.2"), p=6, data=segment, **flags
        )
    )


def arp() -> bytes:
    return bytes(
        dpkt.ethernet.Ethernet(
            src=b"\x02" * 6, dst=b"\xff" * 6, type=dpkt.ethernet.ETH_TYPE_ARP, data=dpkt.arp.ARP()
        )
    )


@pytest.mark.parametrize(
    ("link_type", "data"),
    [
        pytest.param(ETHERNET, ethernet(udp()), id="udp"),
        pytest.param(ETHERNET, arp(), id="arp"),
        pytest.param(ETHERNET, ethernet(fragment(mf=1)), id="first-fragment"),
        pytest.param(ETHERNET, ethernet(fragment(offset=185)), id="later-fragment"),
        pytest.param(ETHERNET, ethernet(tcp())[: 14 + 20 + 10], id="truncated-tcp-header"),
        pytest.param(ETHERNET, ethernet(tcp())[:20], id="truncated-ip-header"),
        pytest.param(ETHERNET, ethernet(tcp())[:6], id="truncated-ethernet"),
        pytest.param(RAW, tcp()[:12], id="truncated-raw-ip"),
        pytest.param(RAW, b"", id="empty-raw-ip"),
        pytest.param(RAW, b"\x50" + tcp()[1:], id="raw-not-ip"),
        pytest.param(147, ethernet(tcp()), id="unknown-link-type"),
    ],
)
def test_what_is_not_tcp_over_ip_is_skipped_and_counted(link_type: int, data: bytes) -> None:
    segment, decoder = decode(link_type, data)
    assert segment is None and decoder.skipped == 1


def test_a_packet_on_an_unknown_interface_is_skipped() -> None:
    decoder = Decoder(PcapngStream(interfaces=[Interface(ETHERNET)]))
    assert decoder.segment(Packet(3, 0, ethernet(tcp()))) is None and decoder.skipped == 1


def loopback(network: bytes) -> bytes:
    family = 24 if network[0] >> 4 == 6 else 2  # AF_INET6 is 24 on every BSD
    return struct.pack("=I", family) + network


def sll2(network: bytes) -> bytes:
    return bytes(dpkt.sll2.SLL2(ethtype=0x0800, intindex=1, hrd=772, hdr=b"\0" * 6, data=network))


@pytest.mark.parametrize(
    ("link_type", "data"),
    [
        pytest.param(113, sll(tcp(payload=b"hello")), id="linux-sll"),
        pytest.param(276, sll2(tcp(payload=b"hello")), id="linux-sll2"),
        pytest.param(0, loopback(tcp(payload=b"hello")), id="bsd-loopback"),
        pytest.param(108, loopback(tcp(payload=b"hello")), id="openbsd-loopback"),
        pytest.param(101, tcp(payload=b"hello"), id="raw-101"),
        pytest.param(12, tcp(payload=b"hello"), id="raw-12"),
        pytest.param(14, tcp(payload=b"hello"), id="raw-14"),
        pytest.param(228, tcp(payload=b"hello"), id="ipv4-228"),
    ],
)
def test_link_layers(link_type: int, data: bytes) -> None:
    segment, decoder = decode(link_type, data)
    assert segment == HELLO and decoder.skipped == 0


@pytest.mark.parametrize("link_type", [101, 229])
def test_ipv6_over_raw_link_types(link_type: int) -> None:
    segment, _ = decode(link_type, tcp(("::1", 40000), ("::1", 8080), payload=b"hello"))
    assert segment == dataclasses.replace(HELLO, src="::1", dst="::1")


def test_bsd_loopback_ipv6() -> None:
    segment, _ = decode(0, loopback(tcp(("::1", 40000), ("::1", 8080), payload=b"hello")))
    assert segment == dataclasses.replace(HELLO, src="::1", dst="::1")


def test_each_packet_is_decoded_by_the_link_type_of_its_interface() -> None:
    stream = PcapngStream()
    decoder = Decoder(stream)
    segments = [decoder.segment(packet) for packet in stream.feed(capture())]
    assert decoder.skipped == 0
    assert [(s.stream, s.sport, s.syn, s.ack, s.payload) for s in segments if s] == [
        (0, 40000, True, False, b""),
        (0, 8080, True, True, b""),
        (0, 40000, False, True, b"GET / HTTP/1.1\r\n\r\n"),
        (0, 8080, False, True, b"HTTP/1.1 204 No Content\r\n\r\n"),
    ]


def test_an_ipv4_fragment_over_raw_ip_is_skipped() -> None:
    segment, decoder = decode(RAW, fragment(mf=1))
    assert segment is None and decoder.skipped == 1


def test_a_first_ipv6_fragment_is_skipped() -> None:
    whole = dpkt.tcp.TCP(sport=40000, dport=80, flags=dpkt.tcp.TH_ACK, data=b"part of more")
    part = bytes(whole)[:24]
    header = struct.pack("!BBHI", dpkt.ip.IP_PROTO_TCP, 0, 0x0001, 7)  # offset 0, more follow
    ip6 = dpkt.ip6.IP6(
        src=ip_address("::1"), dst=ip_address("::2"), nxt=44, hlim=64, plen=8 + len(part)
    )
    segment, decoder = decode(ETHERNET, ethernet(bytes(ip6) + header + part))
    assert segment is None and decoder.skipped == 1


# --- against tshark ---------------------------------------------------------------------


def tshark_segments(path: Path) -> list[Segment]:
    """`file_segments` (tshark via pyshark) in a child process: pyshark leaves its file
    handle and the main thread's event loop open, which a long test process would report
    later, in some other test."""
    code = (
        "import pickle, sys; from pathlib import Path; "
        "from shadowdiff.capture.tshark import file_segments; "
        "sys.stdout.buffer.write(pickle.dumps(list(file_segments(Path(sys.argv[1])))))"
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, str(path)], capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    found: list[Segment] = pickle.loads(done.stdout)
    return found


def test_a_real_capture_gives_the_segments_tshark_gives() -> None:
    data = REAL.read_bytes()
    assert data[:4] == b"\x0a\x0d\x0d\x0a"  # pcapng, not classic pcap
    stream = PcapngStream()
    decoder = Decoder(stream)
    ours = [s for p in stream.feed(data) if (s := decoder.segment(p)) is not None]
    theirs = tshark_segments(REAL)
    assert stream.pending == 0 and len(ours) == len(theirs) == 10
    assert [dataclasses.replace(s, stream=0) for s in ours] == [
        dataclasses.replace(s, stream=0) for s in theirs
    ]
    pairs = {(a.stream, b.stream) for a, b in zip(ours, theirs, strict=True)}
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


# --- the plain path and dpkt read alike -----------------------------------------------------


@st.composite
def _frames(draw: st.DrawFn) -> bytes:
    """Ethernet frames of every shape the plain path must take or refuse: IPv4 with options
    or fragment bits, IPv6 with or without an extension header, TCP with options, UDP,
    VLAN tags, Ethernet padding, truncation, a lying length field."""
    payload = draw(st.binary(max_size=64))
    options = draw(st.sampled_from([b"", b"\x02\x04\x05\xb4", b"\x01\x01\x08\x0a" + bytes(8)]))
    segment = dpkt.tcp.TCP(
        sport=draw(st.integers(0, 65535)),
        dport=draw(st.integers(0, 65535)),
        seq=draw(st.integers(0, 2**32 - 1)),
        flags=draw(st.integers(0, 0xFF)),
        opts=options,
        data=payload,
    )
    transport: dpkt.Packet = segment
    if draw(st.booleans()) is False and draw(st.integers(0, 5)) == 0:
        transport = dpkt.udp.UDP(sport=1, dport=2, data=payload)
    if draw(st.booleans()):
        ip_options = draw(st.sampled_from([b"", b"\x01\x01\x01\x01"]))
        packet = dpkt.ip.IP(
            src=bytes(draw(st.binary(min_size=4, max_size=4))),
            dst=bytes(draw(st.binary(min_size=4, max_size=4))),
            p=dpkt.ip.IP_PROTO_UDP if isinstance(transport, dpkt.udp.UDP) else 6,
            opts=ip_options,
            data=transport,
        )
        fragment = draw(st.sampled_from(["none", "df", "mf", "offset"]))
        packet.df, packet.mf = fragment == "df", fragment == "mf"
        packet.offset = 8 if fragment == "offset" else 0
        network: bytes = bytes(packet)
        kind = dpkt.ethernet.ETH_TYPE_IP
    else:
        body = bytes(transport)
        next_header = dpkt.ip.IP_PROTO_UDP if isinstance(transport, dpkt.udp.UDP) else 6
        if draw(st.booleans()):  # a hop-by-hop extension header in front
            body = bytes([next_header, 0]) + bytes(6) + body
            next_header = 0
        network = (
            bytes(
                dpkt.ip6.IP6(
                    src=draw(st.binary(min_size=16, max_size=16)),
                    dst=draw(st.binary(min_size=16, max_size=16)),
                    nxt=next_header,
                    hlim=64,
                    plen=len(body),
                )
            )[:40]
            + body
        )
        kind = dpkt.ethernet.ETH_TYPE_IP6
    frame = bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=kind)) + network
    if draw(st.booleans()) and draw(st.booleans()):  # a VLAN tag
        frame = frame[:12] + b"\x81\x00\x00\x07" + frame[12:]
    frame += bytes(draw(st.sampled_from([0, 0, 6])))  # Ethernet padding
    if draw(st.integers(0, 4)) == 0:
        frame = frame[: draw(st.integers(0, len(frame)))]  # truncated
    return frame


@settings(max_examples=400, deadline=None)
@given(_frames())
def test_the_plain_path_reads_every_frame_as_dpkt_does(frame: bytes) -> None:
    plain = plain_tcp(frame)
    if plain is not None:  # where the plain path answers, dpkt agrees field by field
        assert plain == dpkt_tcp(1, frame)


@settings(max_examples=200, deadline=None)
@given(_frames())
def test_the_decoder_gives_what_dpkt_alone_gives(frame: bytes) -> None:
    found, _ = decode(1, frame)
    expected = dpkt_tcp(1, frame)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found.sport, found.dport, found.seq, found.payload) == (
            expected[1],
            expected[3],
            expected[4],
            expected[6],
        )


def test_the_plain_path_takes_the_usual_frames() -> None:
    for network in (tcp(payload=b"hello"), tcp(("::1", 4), ("::1", 80), payload=b"x")):
        assert plain_tcp(ethernet(network)) is not None
