"""The middleware stage: exchanges in, exchanges out as a GoReplay middleware lets them
through (requests and baselines sent as types 1 and 2; echoes paired back by `gorproto`), and
the candidates' answers sent as type 3 when the middleware tracks them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable

from shadowdiff.exchange import Exchange
from shadowdiff.gorfile import REPLAYED, GorRecord
from shadowdiff.traffic.gorproto import (
    EchoPairer,
    MiddlewareStats,
    baseline_record,
    replayed_record,
    request_record,
    wire_id,
)
from shadowdiff.traffic.middleware import Middleware, MiddlewareError

logger = logging.getLogger(__name__)

BACKLOG = 1000  # exchanges echoed but not yet taken before sending pauses
DRAIN_POLL = 0.05

OnReplayed = Callable[[GorRecord], None]


async def through_middleware(
    middleware: Middleware,
    exchanges: AsyncIterator[Exchange],
    stats: MiddlewareStats,
    hold: float = 2.0,
    forget_after: float = 30.0,
    on_replayed: OnReplayed | None = None,
    with_baselines: bool = True,
) -> AsyncIterator[Exchange]:
    """The exchanges as the middleware lets them through (order not kept).

    Each exchange goes in as a request (type 1) and, with a baseline, a response (type 2); an
    exchange comes out once its request is echoed and its response too, or it had none, or
    `hold` seconds passed (then without baseline). Echoed payloads replace the originals;
    echoed requests never sent are new exchanges. Requests not echoed are counted `dropped`.

    Pass `on_replayed` when the candidate's responses will be sent with `send_replayed`: it
    receives what the middleware echoes of them, and the middleware's input then stays open,
    after `exchanges` ends, until every exchange handed on has had `send_replayed` or
    `skip_replayed` (or `forget_after` seconds passed). Then its input is closed, everything
    it still echoes is handed on, and a MiddlewareError raised if it failed. The caller
    stops the middleware (`async with Middleware(...)`), and closes this generator when it
    leaves early (`contextlib.aclosing`).
    """
    if not middleware.is_started:
        await middleware.start()
    stage = _Stage(middleware, stats, hold, forget_after, on_replayed)
    stage.with_baselines = with_baselines
    writer = asyncio.create_task(stage.write(exchanges))
    reader = asyncio.create_task(stage.read())
    try:
        while True:
            if stage.ready:
                yield stage.take()
            elif stage.is_finished(writer, reader):
                break
            else:
                await stage.wait()
        for exchange in stage.flush():
            yield exchange
        reader.result()
    finally:
        for task in (writer, reader):
            task.cancel()
        await asyncio.gather(writer, reader, return_exceptions=True)


async def send_replayed(
    middleware: Middleware,
    exchange_id: str,
    started_ns: int,
    latency_ns: int,
    response_bytes: bytes,
    stats: MiddlewareStats | None = None,
) -> None:
    """Send the candidate's response as GoReplay does (`3 <id> <started> <latency>`), so the
    middleware sees types 1, 2 and 3 with one id. Once its input is closed, it is counted in
    `middleware.replays_too_late` and not sent."""
    middleware.replays.settle(wire_id(exchange_id))
    if middleware.is_input_closed:
        middleware.replays_too_late += 1
        log = logger.warning if middleware.replays_too_late == 1 else logger.debug
        log("--middleware %r: input closed, replayed response not sent", middleware.command)
        return
    await middleware.send(replayed_record(exchange_id, started_ns, latency_ns, response_bytes))
    if stats is not None:
        stats.sent[REPLAYED] += 1


def skip_replayed(middleware: Middleware, exchange_id: str) -> None:
    """No replayed response will be sent for this exchange (its replay failed)."""
    middleware.replays.settle(wire_id(exchange_id))


class _Stage:
    """The state `through_middleware` shares between its writer and reader tasks."""

    def __init__(
        self,
        middleware: Middleware,
        stats: MiddlewareStats,
        hold: float,
        forget_after: float,
        on_replayed: OnReplayed | None,
    ) -> None:
        self.middleware, self.stats, self.on_replayed = middleware, stats, on_replayed
        self.hold, self.forget_after = hold, forget_after
        self.with_baselines = True  # GoReplay sends type 2 only when it tracks responses
        self.pairer = EchoPairer(stats, hold, forget_after, self._problem)
        self.ready: deque[Exchange] = deque()
        self.changed, self.room = asyncio.Event(), asyncio.Event()
        self.clock = asyncio.get_running_loop().time
        self.last_activity = self.clock()
        self.problems = 0

    def take(self) -> Exchange:
        exchange = self.ready.popleft()
        self.room.set()
        self.ready.extend(self.pairer.expire(self.clock()))  # a busy run still expires
        if self.on_replayed is not None:
            deadline = self.clock() + self.forget_after
            self.middleware.replays.expect(wire_id(exchange.id), deadline)
        return exchange

    def is_finished(self, writer: asyncio.Task[None], reader: asyncio.Task[None]) -> bool:
        if writer.done() and not writer.cancelled() and (error := writer.exception()):
            raise error  # reading the input failed
        return reader.done()

    async def wait(self) -> None:
        deadline = self.pairer.next_deadline()
        timeout = None if deadline is None else max(0.0, deadline - self.clock())
        self.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), timeout)
        self.ready.extend(self.pairer.expire(self.clock()))

    def flush(self) -> list[Exchange]:
        ready = self.pairer.finish()
        stats = self.stats
        if stats.dropped or stats.baselines_dropped:
            logger.info(
                "--middleware %r: %d requests not echoed (dropped), %d exchanges without "
                "their baseline",
                self.middleware.command,
                stats.dropped,
                stats.baselines_dropped,
            )
        return ready

    async def write(self, exchanges: AsyncIterator[Exchange]) -> None:
        try:
            async for exchange in exchanges:
                while len(self.ready) >= BACKLOG:
                    self.room.clear()
                    await self.room.wait()
                await self._send(exchange)
            if self.on_replayed is not None:
                while not self._may_close_input():
                    await asyncio.sleep(DRAIN_POLL)
            await self.middleware.close_input()
        except MiddlewareError:
            pass  # the child is gone or killed; the reader ends and reports it
        finally:
            self.changed.set()

    async def read(self) -> None:
        try:
            async for record in self.middleware.echoed(self._malformed):
                self.last_activity = self.clock()
                self.stats.echoed[record.type] += 1
                if record.type != REPLAYED:
                    self.ready.extend(self.pairer.echoed(record, self.clock()))
                elif self.on_replayed is not None:
                    self.on_replayed(record)
                self.changed.set()
        finally:
            self.changed.set()

    async def _send(self, exchange: Exchange) -> None:
        with_baseline = self.with_baselines
        self.pairer.sent(exchange, self.clock(), with_baseline)  # first: the echo may be quick
        baseline = baseline_record(exchange) if with_baseline else None
        for record in (request_record(exchange), baseline):
            if record is not None:
                await self.middleware.send(record)
                self.stats.sent[record.type] += 1
                self.last_activity = self.clock()

    def _may_close_input(self) -> bool:
        """After the input ended: nothing handed on awaits its replayed response, and nothing
        sent is still expected back (or the middleware has been quiet for `hold` seconds)."""
        now = self.clock()
        quiet = now - self.last_activity >= self.hold
        expected = self.pairer.pending and not quiet
        return not self.ready and not expected and not self.middleware.replays.outstanding(now)

    def _malformed(self, reason: str) -> None:
        self.stats.malformed += 1

    def _problem(self, message: str) -> None:
        self.problems += 1
        log = logger.warning if self.problems == 1 else logger.debug
        log("--middleware %r: %s", self.middleware.command, message)
