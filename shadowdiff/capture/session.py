"""`shadowdiff record`: live capture to a .gor file, stopped by --duration, --count,
Ctrl-C or SIGTERM, with everything captured so far written and the losses counted."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from shadowdiff.capture.assemble import Assembler, CaptureStats
from shadowdiff.capture.recording import assemble, gor_records
from shadowdiff.capture.tshark import live_segments
from shadowdiff.gorfile import GorWriter


class _Stop(Exception):
    """Raised by the stop signals inside the capture loop."""


@dataclass(frozen=True, slots=True)
class RecordSettings:
    interfaces: list[str]
    ports: list[int]
    bpf: str | None = None
    duration: float | None = None
    count: int | None = None


def capture_filter(ports: list[int], extra: str | None) -> str:
    """The BPF filter dumpcap applies in the kernel: the ports, plus the user's expression."""
    ports_part = " or ".join(f"port {p}" for p in ports)
    base = f"tcp and ({ports_part})"
    return f"{base} and ({extra})" if extra else base


def record(settings: RecordSettings, output: Path, on_ready: Callable[[], None]) -> CaptureStats:
    assembler = Assembler(set(settings.ports))
    segments = live_segments(
        settings.interfaces, capture_filter(settings.ports, settings.bpf), on_ready
    )
    written = 0
    with GorWriter(output) as writer, _stop_signals(settings.duration):
        try:
            for captured in assemble(segments, assembler):
                for record_ in gor_records(captured):
                    writer.write(record_)
                writer.flush()
                written += 1
                if settings.count is not None and written >= settings.count:
                    break
        except (_Stop, KeyboardInterrupt):
            pass
        finally:
            segments.close()
        for captured in assembler.close():
            for record_ in gor_records(captured):
                writer.write(record_)
    return assembler.stats


DRAIN_SECONDS = 1.0  # after a stop, packets already captured still reach the file


@contextmanager
def _stop_signals(duration: float | None) -> Iterator[None]:
    """Ctrl-C, SIGTERM and the --duration timer stop the capture: first they let what tshark
    already captured drain for DRAIN_SECONDS, then (or at a second signal) it stops."""
    draining = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal draining
        if draining:
            raise _Stop
        draining = True
        signal.setitimer(signal.ITIMER_REAL, DRAIN_SECONDS)

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)
    previous = {sig: signal.signal(sig, stop) for sig in handled}
    if duration:
        signal.setitimer(signal.ITIMER_REAL, duration)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
