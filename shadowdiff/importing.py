"""`shadowdiff import`: HAR or pcap/pcapng -> .gor."""

from __future__ import annotations

from pathlib import Path

from shadowdiff.errors import InputError
from shadowdiff.gorfile import GorWriter
from shadowdiff.har import is_har, read_har


def import_file(source: Path, output: Path, ports: set[int]) -> str:
    """Convert; returns the summary to print."""
    if not source.is_file():
        raise InputError(f"{source}: no such file")
    if is_har(source):
        return _import_har(source, output)
    from shadowdiff.capture.recording import write_captured
    from shadowdiff.capture.tshark import file_segments

    stats = write_captured(file_segments(source), ports, output)
    return f"imported {stats.exchanges} exchanges from {source} to {output}\n{stats.summary()}"


def _import_har(source: Path, output: Path) -> str:
    entries = answered = 0
    with GorWriter(output, atomic=True) as writer:
        for request, response in read_har(source):
            writer.write(request)
            entries += 1
            if response is not None:
                writer.write(response)
                answered += 1
    return (
        f"imported {entries} HAR entries from {source} to {output} "
        f"({entries - answered} without a response)"
    )
