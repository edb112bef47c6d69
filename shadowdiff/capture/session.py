"""`shadowdiff record`: live capture to a .gor file, stopped by --duration, --count,
Ctrl-C or SIGTERM, with everything captured so far written and the losses counted."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Protocol

from shadowdiff.capture.assemble import Assembler, CaptureStats
from shadowdiff.capture.dumpcap import DumpcapSource
from shadowdiff.capture.recording import assemble, gor_records
from shadowdiff.capture.tcp import Segment
from shadowdiff.capture.tshark import LiveSource
from shadowdiff.gorfile import GorRecord, GorWriter


class _Stop(Exception):
    """Raised by the stop signals inside the capture loop."""


@dataclass(frozen=True, slots=True)
class RecordSettings:
    interfaces: list[str]
    ports: list[int]
    bpf: str | None = None
    duration: float | None = None
    count: int | None = None
    engine: str = "dumpcap"  # dumpcap + our decoder, or tshark via pyshark
    buffer_mb: int = 64


def capture_filter(ports: list[int], extra: str | None) -> str:
    """The BPF filter dumpcap applies in the kernel: the ports, plus the user's expression."""
    ports_part = " or ".join(f"port {p}" for p in ports)
    base = f"tcp and ({ports_part})"
    return f"{base} and ({extra})" if extra else base


def open_source(settings: RecordSettings, on_ready: Callable[[], None]) -> _Source:
    bpf = capture_filter(settings.ports, settings.bpf)
    if settings.engine == "tshark":
        return LiveSource(settings.interfaces, bpf, on_ready)
    return DumpcapSource(settings.interfaces, bpf, on_ready, settings.buffer_mb)


class RecordWriter(Protocol):
    """Where `record` writes: a .gor file (GorWriter) or the traffic bus (BusWriter)."""

    def __enter__(self) -> RecordWriter: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def write(self, record: GorRecord) -> None: ...

    def flush(self) -> None: ...


def record(
    settings: RecordSettings,
    output: Path,
    on_ready: Callable[[], None],
    open_writer: Callable[[Path], RecordWriter] = GorWriter,  # record --to: a bus BusWriter
) -> CaptureStats:
    assembler = Assembler(set(settings.ports))
    source = open_source(settings, on_ready)
    stopper = _PipeStopper(source) if isinstance(source, DumpcapSource) else _Stopper(source)
    segments = source.segments()
    written = 0
    with open_writer(output) as writer, stopper.installed(settings.duration):
        try:
            for captured in assemble(stopper.watch(segments), assembler):
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
    if isinstance(source, DumpcapSource):
        assembler.stats.kernel_dropped = source.dropped
    elif stopper.target is not None and stopper.stopping and not settings.count:
        # the drain limit ended the capture before tshark delivered all it had captured
        assembler.stats.undelivered = max(0, stopper.target - source.delivered)
    return assembler.stats


_Source = DumpcapSource | LiveSource


class _Stopper:
    """Ctrl-C, SIGTERM and the --duration timer stop a capture in two steps. At the first,
    the packets captured so far are counted (in tshark's capture file); the capture goes on
    until exactly those are delivered (without that count: until QUIET seconds pass without
    a packet), MAX_DRAIN seconds at most. A second Ctrl-C or SIGTERM stops at once.

    The handler never interrupts writing: it only raises while the capture waits inside
    tshark's reader; otherwise it sets `stopping` and the loop ends at the next exchange."""

    QUIET, SETTLE, MAX_DRAIN, TICK = 3.0, 1.0, 30.0, 0.25

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.draining_since: float | None = None
        self.target: int | None = None
        self.last_packet = time.monotonic()
        self.stopping = False
        self.waiting = False

    def watch(self, segments: Iterator[Segment]) -> Iterator[Segment]:
        iterator = iter(segments)
        while not self.stopping:
            self.waiting = True
            try:
                segment = next(iterator)
            except StopIteration:
                return
            finally:
                self.waiting = False
            self.last_packet = time.monotonic()
            yield segment

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        now = time.monotonic()
        if self.draining_since is None:
            self.draining_since = now
            assert isinstance(self.source, LiveSource)
            self.target = self.source.captured()
        elif signum != signal.SIGALRM or self._drained(now, self.draining_since):
            self.stopping = True
            if self.waiting:
                raise _Stop
            return
        signal.setitimer(signal.ITIMER_REAL, self.TICK)

    def _drained(self, now: float, since: float) -> bool:
        assert isinstance(self.source, LiveSource)
        if now - since >= self.MAX_DRAIN:
            return True
        if now - since < self.SETTLE:  # packets still on their way into tshark's file
            captured = self.source.captured()
            if captured is not None:
                self.target = max(self.target or 0, captured)
            return False
        if self.target is None:
            return now - self.last_packet >= self.QUIET
        return self.source.delivered >= self.target

    @contextmanager
    def installed(self, duration: float | None) -> Iterator[None]:
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)
        previous = {sig: signal.signal(sig, self.on_signal) for sig in handled}
        if duration:
            signal.setitimer(signal.ITIMER_REAL, duration)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _PipeStopper(_Stopper):
    source: DumpcapSource

    """dumpcap's stop is exact: asked to stop, it writes out every packet it captured and
    closes the pipe, so the capture simply reads to the end. A second Ctrl-C or SIGTERM
    stops reading at once."""

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.draining_since is None:
            self.draining_since = time.monotonic()
            self.source.stop()
            return
        if signum == signal.SIGALRM:
            return
        self.stopping = True
        if self.waiting:
            raise _Stop
