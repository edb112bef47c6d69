"""dumpcap's pcapng stream -> Segments (pure, sans-IO).

`PcapngStream` is fed the bytes dumpcap writes (`-w -`) in whatever pieces the pipe gives
and returns the packets of every whole block: interface, capture time in nanoseconds, link
layer bytes. It follows the interfaces' link types and time resolutions, and keeps the
interface statistics dumpcap writes when it stops (packets dropped by the kernel or by
dumpcap itself). dpkt decodes link layers and IP/TCP headers; `Decoder` turns a packet into
the same `Segment` tshark's path produces, numbering connections itself (`FlowIndex`).
"""

from __future__ import annotations

import socket
import struct
from collections import OrderedDict
from dataclasses import dataclass, field

import dpkt

from shadowdiff.capture.tcp import Segment

SECTION_HEADER, INTERFACE, PACKET, SIMPLE_PACKET, STATISTICS = 0x0A0D0D0A, 1, 6, 3, 5
_MAGIC = 0x1A2B3C4D
_OPT_TSRESOL, _OPT_TSOFFSET = 9, 14
_OPT_IFDROP, _OPT_OSDROP = 5, 7
MAX_BLOCK = 256 << 20


class PcapngError(ValueError):
    """Bytes that are not a pcapng stream."""


@dataclass(frozen=True, slots=True)
class Packet:
    interface: int
    time_ns: int
    data: bytes


@dataclass(slots=True)
class Interface:
    link_type: int
    units_per_second: int = 1_000_000  # if_tsresol: microseconds unless said otherwise
    offset_s: int = 0
    dropped: int = 0  # by the kernel and by dumpcap, from its statistics block


@dataclass(slots=True)
class PcapngStream:
    """Feed bytes, get packets. `interfaces` lists the current section's interfaces."""

    interfaces: list[Interface] = field(default_factory=list)
    order: str = "<"
    _buffer: bytearray = field(default_factory=bytearray)
    _started: bool = False

    def feed(self, data: bytes) -> list[Packet]:
        buffer = bytes(self._buffer) + data if self._buffer else data
        packets: list[Packet] = []
        position = 0
        while len(buffer) - position >= 12:
            kind, length = self._header(buffer, position)
            if length < 12 or length % 4 or length > MAX_BLOCK:
                raise PcapngError(f"pcapng block of {length} bytes at a block boundary")
            if len(buffer) - position < length:
                break
            body = buffer[position + 8 : position + length - 4]
            if kind == PACKET:
                packets.append(self._packet(body))
            else:
                self._other(kind, body)
            position += length
        self._buffer = bytearray(buffer[position:])
        return packets

    @property
    def dropped(self) -> int:
        return sum(interface.dropped for interface in self.interfaces)

    @property
    def pending(self) -> int:
        """Bytes of a block not yet whole (at the end of the stream: a cut-off block)."""
        return len(self._buffer)

    def _header(self, buffer: bytes, position: int) -> tuple[int, int]:
        kind = struct.unpack_from("<I", buffer, position)[0]
        if kind == SECTION_HEADER:
            magic = struct.unpack_from("<I", buffer, position + 8)[0]
            self.order = "<" if magic == _MAGIC else ">"
            if struct.unpack_from(self.order + "I", buffer, position + 8)[0] != _MAGIC:
                raise PcapngError("pcapng section header without its byte-order magic")
            self._started, self.interfaces = True, []
        elif not self._started:
            raise PcapngError("not a pcapng stream (no section header first)")
        return struct.unpack_from(self.order + "II", buffer, position)

    def _interface(self, index: int) -> Interface:
        if index >= len(self.interfaces):
            raise PcapngError(f"a block names interface {index}, which was not described")
        return self.interfaces[index]

    def _packet(self, body: bytes) -> Packet:
        if len(body) < 20:
            raise PcapngError(f"a packet block of {len(body) + 12} bytes is too short")
        index, high, low, captured = struct.unpack_from(self.order + "IIII", body, 0)
        interface = self._interface(index)
        units = (high << 32) | low
        seconds, rest = divmod(units, interface.units_per_second)
        nanos = rest * 1_000_000_000 // interface.units_per_second
        time_ns = (seconds + interface.offset_s) * 1_000_000_000 + nanos
        return Packet(index, time_ns, bytes(body[20 : 20 + captured]))

    def _other(self, kind: int, body: bytes) -> None:
        if kind == INTERFACE:
            link_type = struct.unpack_from(self.order + "H", body, 0)[0]
            interface = Interface(link_type)
            for code, value in _options(body[8:], self.order):
                if code == _OPT_TSRESOL and value:
                    exponent = value[0] & 0x7F
                    interface.units_per_second = 2**exponent if value[0] & 0x80 else 10**exponent
                elif code == _OPT_TSOFFSET and len(value) == 8:
                    interface.offset_s = struct.unpack(self.order + "q", value)[0]
            self.interfaces.append(interface)
        elif kind == STATISTICS:
            interface = self._interface(struct.unpack_from(self.order + "I", body, 0)[0])
            drops = [
                struct.unpack(self.order + "Q", value)[0]
                for code, value in _options(body[12:], self.order)
                if code in (_OPT_IFDROP, _OPT_OSDROP) and len(value) == 8
            ]
            if drops:  # totals so far (kernel + dumpcap): the last block counts
                interface.dropped = sum(drops)
        elif kind == SIMPLE_PACKET:
            raise PcapngError("simple packet blocks (no time stamps) are not supported")


def _options(data: bytes, order: str) -> list[tuple[int, bytes]]:
    found, position = [], 0
    while position + 4 <= len(data):
        code, length = struct.unpack_from(order + "HH", data, position)
        if code == 0:
            break
        found.append((code, bytes(data[position + 4 : position + 4 + length])))
        position += 4 + (length + 3) // 4 * 4
    return found


class FlowIndex:
    """A number per TCP connection (both directions share it), as tshark's `tcp.stream`
    gives; the least recently seen are forgotten beyond `limit` (the assembler gives them up
    long before). A port reused later keeps its number: the assembler tells a new connection
    by its SYN."""

    def __init__(self, limit: int = 1 << 17) -> None:
        self._numbers: OrderedDict[tuple[object, ...], int] = OrderedDict()
        self._next, self._limit = 0, limit

    def number(self, a: tuple[bytes, int], b: tuple[bytes, int]) -> int:
        key = (a, b) if a <= b else (b, a)
        found = self._numbers.get(key)
        if found is None:
            found = self._numbers[key] = self._next
            self._next += 1
            if len(self._numbers) > self._limit:
                self._numbers.popitem(last=False)
        else:
            self._numbers.move_to_end(key)
        return found


_LINK_LAYERS: dict[int, type[dpkt.Packet]] = {
    1: dpkt.ethernet.Ethernet,
    113: dpkt.sll.SLL,  # Linux "any" (cooked)
    276: dpkt.sll2.SLL2,
    0: dpkt.loopback.Loopback,  # BSD loopback
    108: dpkt.loopback.Loopback,
}
_RAW_IP = {12, 14, 101}  # raw IP (v4 or v6, by the version nibble)
_IPV4, _IPV6 = 228, 229
_FRAGMENT = 44  # IPv6 fragment header


@dataclass(slots=True)
class Decoder:
    """Packets -> Segments for the interfaces of a `PcapngStream`; what is not TCP over IP
    (ARP, UDP, fragments, a truncated header) is counted and skipped."""

    stream: PcapngStream
    flows: FlowIndex = field(default_factory=FlowIndex)
    skipped: int = 0
    _names: dict[bytes, str] = field(default_factory=dict)

    def segment(self, packet: Packet) -> Segment | None:
        interfaces = self.stream.interfaces
        link_type = (
            interfaces[packet.interface].link_type if packet.interface < len(interfaces) else -1
        )
        fields = plain_tcp(packet.data) if link_type == _ETHERNET else None
        if fields is None:
            fields = dpkt_tcp(link_type, packet.data)
        if fields is None:
            self.skipped += 1
            return None
        src, sport, dst, dport, seq, flags, payload = fields
        return Segment(
            stream=self.flows.number((src, sport), (dst, dport)),
            time_ns=packet.time_ns,
            src=self._name(src),
            sport=sport,
            dst=self._name(dst),
            dport=dport,
            seq=seq,
            payload=payload,
            syn=bool(flags & dpkt.tcp.TH_SYN),
            fin=bool(flags & dpkt.tcp.TH_FIN),
            rst=bool(flags & dpkt.tcp.TH_RST),
            ack=bool(flags & dpkt.tcp.TH_ACK),
        )

    def _name(self, address: bytes) -> str:
        name = self._names.get(address)
        if name is None:
            family = socket.AF_INET if len(address) == 4 else socket.AF_INET6
            name = socket.inet_ntop(family, address)
            if len(self._names) < 65_536:
                self._names[address] = name
        return name


TcpFields = tuple[bytes, int, bytes, int, int, int, bytes]  # src, sport, dst, dport, seq,
# flags, payload


def dpkt_tcp(link_type: int, frame: bytes) -> TcpFields | None:
    """TCP over IP in a frame of any supported link type, decoded by dpkt; None for anything
    else (not IP, not TCP, a fragment, a truncated header)."""
    try:
        network = _network(link_type, frame)
    except (dpkt.UnpackError, struct.error, IndexError):
        return None
    tcp = getattr(network, "data", None)
    if network is None or not isinstance(tcp, dpkt.tcp.TCP):
        return None
    return (network.src, tcp.sport, network.dst, tcp.dport, tcp.seq, tcp.flags, bytes(tcp.data))


def _network(link_type: int, frame: bytes) -> dpkt.Packet | None:
    if link_type in _RAW_IP or link_type in (_IPV4, _IPV6):
        version = frame[0] >> 4 if frame else 0
        layer = dpkt.ip.IP if version == 4 else dpkt.ip6.IP6 if version == 6 else None
        network = layer(frame) if layer else None
    else:
        link = _LINK_LAYERS[link_type](frame) if link_type in _LINK_LAYERS else None
        network = getattr(link, "data", None)
    if isinstance(network, dpkt.ip.IP):
        return None if network.mf or network.offset else network
    if isinstance(network, dpkt.ip6.IP6):
        return None if _FRAGMENT in network.extension_hdrs else network
    return None  # not IP, or a fragment: TCP over fragmented IP is not reassembled


_ETHERNET = 1
_ETH_IP4, _ETH_IP6 = b"\x08\x00", b"\x86\xdd"
_TCP_HEADER = struct.Struct(">HHII")


def plain_tcp(frame: bytes) -> TcpFields | None:
    """The live hot path (dpkt costs ~25 us a packet, most of what is left of a capture's
    CPU): Ethernet without VLAN tags, then IPv4 unfragmented or IPv6 without extension
    headers, then TCP, read where those headers put the fields. None for anything else,
    which dpkt then decodes. A property test checks both read every frame alike."""
    kind = frame[12:14]
    if kind == _ETH_IP4 and len(frame) >= 34 and frame[14] >> 4 == 4:
        header = (frame[14] & 0x0F) * 4
        total = int.from_bytes(frame[16:18])
        if frame[23] != 6 or header < 20 or int.from_bytes(frame[20:22]) & 0x3FFF:
            return None
        src, dst, tcp, end = frame[26:30], frame[30:34], 14 + header, 14 + total
    elif kind == _ETH_IP6 and len(frame) >= 54 and frame[14] >> 4 == 6 and frame[20] == 6:
        src, dst, tcp, end = frame[22:38], frame[38:54], 54, 54 + int.from_bytes(frame[18:20])
    else:
        return None
    if end > len(frame) or tcp + 20 > end:
        return None
    offset = (frame[tcp + 12] >> 4) * 4
    if offset < 20 or tcp + offset > end:
        return None
    sport, dport, seq, _ack = _TCP_HEADER.unpack_from(frame, tcp)
    return src, sport, dst, dport, seq, frame[tcp + 13], frame[tcp + offset : end]
