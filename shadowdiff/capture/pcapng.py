"""Count the packets in a pcapng file as it grows (pure reading, no dissection).

tshark (under pyshark) writes every captured packet to a temporary pcapng file before it
reads it back; when a capture stops, that file says how many packets are still to come.
"""

from __future__ import annotations

import os
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
        """Packets in the file so far: block headers only, read by seeking, never the
        packets themselves (a night's capture file is large)."""
        try:
            with open(self.path, "rb") as stream:
                size = os.fstat(stream.fileno()).st_size
                while self.offset + 12 <= size:
                    stream.seek(self.offset)
                    kind, length = self._header(stream.read(12), 0)
                    if length < 12 or self.offset + length > size:
                        break  # a block still being written
                    self.packets += kind in _PACKETS
                    self.offset += length
        except OSError:
            pass
        return self.packets

    def _header(self, data: bytes, position: int) -> tuple[int, int]:
        kind = struct.unpack_from("<I", data, position)[0]
        if kind == _SECTION:  # the byte-order magic follows the length
            magic = struct.unpack_from("<I", data, position + 8)[0]
            self.order = "<" if magic == _MAGIC_LE else ">"
        kind, length = struct.unpack_from(self.order + "II", data, position)
        return kind, length
