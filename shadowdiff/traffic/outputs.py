"""GoReplay's record outputs: `--output-file` (chunks), `--output-stdout` and `--output-tcp`,
each under its own `|N` or `|N%`, each writing the message types GoReplay would: requests
(type 1) always, the recorded responses (type 2) when they are tracked
(`--input-raw-track-response`, or a file or TCP input that carries them), and the targets'
answers (type 3) with `--output-http-track-response`.

Unlike GoReplay, a rate decides per exchange, not per message, so a request and its
responses are kept or dropped together (GoReplay's limiter can split them).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from shadowdiff.exchange import Exchange
from shadowdiff.gorfile import REPLAYED, GorRecord
from shadowdiff.traffic.gorproto import baseline_record, request_record, wire_id
from shadowdiff.traffic.gortcp import GorTcpSender
from shadowdiff.traffic.rates import OutputLimit
from shadowdiff.traffic.rotation import RotatingGorWriter

if TYPE_CHECKING:
    from shadowdiff.bus.publish import BusWriter

KEPT_IDS = 100_000  # exchanges whose answers an output still takes (the latest)


class RecordSink(Protocol):
    async def start(self) -> None: ...

    def write(self, record: GorRecord) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class ExchangeSink(Protocol):
    """A sink that keeps an exchange's records together (RedisSink: one stream entry)."""

    def end_exchange(self) -> None: ...


@dataclass(slots=True)
class RecordOutput:
    """One record output: what it is called, its sink, its rate, the types it takes."""

    name: str
    sink: RecordSink
    limit: OutputLimit = field(default_factory=lambda: OutputLimit(None))
    originals: bool = False  # type 2: the recorded responses
    replayed: bool = False  # type 3: the targets' answers
    written: int = 0
    draw: Callable[[], float] = random.random
    _kept: OrderedDict[str, None] = field(default_factory=OrderedDict)  # ids awaiting answers

    def exchange(self, exchange: Exchange) -> None:
        """The request (and its recorded response), if the rate keeps the exchange."""
        if not self.limit.admits(time.monotonic(), self.draw()):
            return
        self._write(request_record(exchange))
        baseline = baseline_record(exchange) if self.originals else None
        if baseline is not None:
            self._write(baseline)
        if isinstance(self.sink, ExchangeSink):
            self.sink.end_exchange()
        if self.replayed:
            self._kept[wire_id(exchange.id)] = None
            if len(self._kept) > KEPT_IDS:
                self._kept.popitem(last=False)

    def answer(self, exchange_id: str, started_ns: int, latency_ns: int, raw: bytes) -> None:
        """A target's answer (type 3) to an exchange this output kept."""
        key = wire_id(exchange_id)
        if self.replayed and key in self._kept:
            self._write(GorRecord(REPLAYED, key, started_ns, latency_ns, raw))

    def _write(self, record: GorRecord) -> None:
        self.sink.write(record)
        self.written += 1


class FileSink:
    """`--output-file`: GoReplay's chunked, rotated files."""

    def __init__(self, writer: RotatingGorWriter) -> None:
        self.writer = writer

    async def start(self) -> None:
        pass

    def write(self, record: GorRecord) -> None:
        self.writer.write(record)

    async def close(self) -> None:
        self.writer.close()


class StdoutSink:
    """`--output-stdout`: the .gor framing on standard output, flushed per record."""

    def __init__(self) -> None:
        self._stream = sys.stdout.buffer

    async def start(self) -> None:
        pass

    def write(self, record: GorRecord) -> None:
        self._stream.write(record.to_bytes())
        self._stream.flush()

    async def close(self) -> None:
        self._stream.flush()


class TcpSink:
    """`--output-tcp`: the framing over TCP to a `--input-tcp` (types 1 and 2 only)."""

    def __init__(self, sender: GorTcpSender) -> None:
        self.sender = sender

    async def start(self) -> None:
        await self.sender.start()

    def write(self, record: GorRecord) -> None:
        self.sender.send(record)

    async def close(self) -> None:
        await self.sender.close()


class NullSink:
    """`--output-null`: takes everything, keeps nothing."""

    async def start(self) -> None:
        pass

    def write(self, record: GorRecord) -> None:
        pass

    async def close(self) -> None:
        pass


class RedisSink:
    """`--to redis://HOST:PORT/DB?stream=NAME`: each exchange (its request and recorded
    response) as one entry of a Redis stream (shadowdiff/bus/). Answers (type 3) are not
    published: the bus carries what was recorded. Never blocks: a full buffer drops the
    exchange, counted (bus/publish.py)."""

    def __init__(self, writer: BusWriter) -> None:
        self.writer = writer
        self.not_forwarded = 0

    async def start(self) -> None:
        self.writer.__enter__()

    def write(self, record: GorRecord) -> None:
        if record.type == REPLAYED:
            self.not_forwarded += 1
            return
        self.writer.write(record)

    def end_exchange(self) -> None:
        self.writer.flush()

    async def close(self) -> None:
        await asyncio.to_thread(self.writer.close)
