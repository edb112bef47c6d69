"""Count the packets in a pcapng file as it grows (pure reading, no dissection).

tshark (under pyshark) writes every captured packet to a temporary pcapng file before it
reads it back; when a capture stops, that file says how many packets are still to come.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_SECTION = 0x0A0D0D0A
_PACKETS = {0x2, 0x3, 0x6}  # obsolete packet, simple packet, enhanced packet blocks
_MAGIC_LE = 0x1A2B3C4D


@dataclass(slots=True)
class PacketCounter:
    """Counts packet blocks of one pcapng file, resuming where it stopped last time."""

    path: Path
    offset: int = 0
    packets: int = 0
    order: str = "<"

    def count(self) -> int:
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self.offset)
                data = stream.read()
        except OSError:
            return self.packets
        position = 0
        while position + 12 <= len(data):
            kind, length = self._header(data, position)
            if length < 12 or position + length > len(data):
                break  # a block still being written
            if kind in _PACKETS:
                self.packets += 1
            position += length
        self.offset += position
        return self.packets

    def _header(self, data: bytes, position: int) -> tuple[int, int]:
        kind = struct.unpack_from("<I", data, position)[0]
        if kind == _SECTION:  # the byte-order magic follows the length
            magic = struct.unpack_from("<I", data, position + 8)[0]
            self.order = "<" if magic == _MAGIC_LE else ">"
        kind, length = struct.unpack_from(self.order + "II", data, position)
        return kind, length
