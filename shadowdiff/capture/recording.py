"""Captured exchanges -> .gor records (GoReplay's: type 1 request and type 2 response with
one id, nanosecond capture timestamps, each message's own packet duration as latency)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from shadowdiff.capture.assemble import Assembler, Captured, CaptureStats
from shadowdiff.capture.tcp import Segment
from shadowdiff.gorfile import REQUEST, RESPONSE, GorRecord, GorWriter


def gor_records(captured: Captured) -> tuple[GorRecord, GorRecord]:
    request, response = captured.request, captured.response
    return (
        GorRecord(
            REQUEST, captured.id, request.first_ns, request.last_ns - request.first_ns, request.raw
        ),
        GorRecord(
            RESPONSE,
            captured.id,
            response.first_ns,
            response.last_ns - response.first_ns,
            response.raw,
        ),
    )


def assemble(segments: Iterable[Segment], assembler: Assembler) -> Iterator[Captured]:
    """Every exchange the segments hold, idle connections closed as capture time passes."""
    last_expiry = 0
    for segment in segments:
        yield from assembler.feed(segment)
        if segment.time_ns - last_expiry > 1_000_000_000:
            last_expiry = segment.time_ns
            yield from assembler.expire(segment.time_ns)
    yield from assembler.close()


def write_captured(segments: Iterable[Segment], ports: set[int], output: Path) -> CaptureStats:
    """Assemble segments and write each exchange to a .gor file as it completes."""
    assembler = Assembler(ports)
    with GorWriter(output, atomic=True) as writer:
        for captured in assemble(segments, assembler):
            for record in gor_records(captured):
                writer.write(record)
    return assembler.stats
