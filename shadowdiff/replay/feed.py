"""What feeds the targets: the traffic, through the middleware when there is one (GoReplay
runs it first), then the filters and rewrites; and, with `--track-response`, each
candidate's answer back to the middleware as a type-3 message with the exchange's id.

A middleware that fails ends the feed, not the run: the exchanges already handed on are
replayed and stored, then the failure is raised (one line, exit 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator
from types import TracebackType

from shadowdiff.exchange import Exchange
from shadowdiff.gorfile import GorRecord
from shadowdiff.store import ExchangeResult
from shadowdiff.traffic.gorproto import MiddlewareStats
from shadowdiff.traffic.middleware import Middleware, MiddlewareError
from shadowdiff.traffic.middleware_stage import send_replayed, skip_replayed, through_middleware
from shadowdiff.traffic.stages import TrafficOptions, prettified, shaped

_Answer = tuple[str, int, int, bytes] | str  # (id, started ns, latency ns, bytes) or a skipped id


def answer_of(result: ExchangeResult) -> tuple[str, int, int, bytes] | None:
    """A target's answer as a type-3 message carries it: (id, started ns, latency ns, bytes);
    None when the target gave none."""
    if result.candidate is None:
        return None
    latency_ns = int((result.candidate_latency or 0.0) * 1e6)
    started_ns = time.time_ns() - latency_ns
    return result.exchange.id, started_ns, latency_ns, result.candidate.to_bytes()


class Feed:
    def __init__(self, traffic: TrafficOptions, filtered: Counter[str]) -> None:
        self.traffic, self.filtered = traffic, filtered
        self.middleware = Middleware(traffic.middleware) if traffic.middleware else None
        self.stats = MiddlewareStats()
        self.failure: MiddlewareError | None = None
        self._abandoned = False
        self._answers: asyncio.Queue[_Answer | None] = asyncio.Queue()
        self._forwarder: asyncio.Task[None] | None = None

    @property
    def tracks(self) -> bool:
        return self.middleware is not None and self.traffic.track_response

    async def __aenter__(self) -> Feed:
        if self.middleware is not None:
            await self.middleware.start()
        if self.tracks:
            self._forwarder = asyncio.create_task(self._forward())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._forwarder is not None:  # the answers still queued go first
            self._answers.put_nowait(None)
            with contextlib.suppress(MiddlewareError):
                await self._forwarder
        if self.middleware is not None:
            with contextlib.suppress(MiddlewareError):
                await self.middleware.stop()

    async def exchanges(self, source: AsyncIterator[Exchange]) -> AsyncGenerator[Exchange, None]:
        """The traffic as the targets get it (a middleware failure is kept in `failure`)."""
        stream = prettified(source) if self.traffic.prettify else source
        if self.middleware is not None:
            stream = through_middleware(
                self.middleware,
                stream,
                self.stats,
                on_replayed=self._echoed_replay if self.tracks else None,
                with_baselines=self.traffic.middleware_responses,
            )
        try:
            async for exchange in shaped(stream, self.traffic.shaping, self.filtered, self.unsent):
                yield exchange
        except MiddlewareError as failure:
            if not self._abandoned:  # stopped on purpose, not a failure
                self.failure = failure
        finally:
            if isinstance(stream, AsyncGenerator):
                await stream.aclose()
            self.filtered.update(self._middleware_drops())

    async def abandon_when(self, stop: asyncio.Event) -> None:
        """A stop (Ctrl-C) ends the middleware too: its input is closed, and it is killed if
        it does not end within its stall timeout, so a hung middleware cannot hold the run."""
        await stop.wait()
        if self.middleware is not None:
            self._abandoned = True
            with contextlib.suppress(MiddlewareError):
                await self.middleware.stop()

    def unsent(self, exchange: Exchange) -> None:
        """No target will answer this exchange (filtered, refused by every rate)."""
        if self.tracks:
            self._answers.put_nowait(exchange.id)

    def answered(self, result: ExchangeResult) -> None:
        """A target's result: its answer goes to the middleware (type 3) when tracked."""
        if self.tracks:
            self._answers.put_nowait(answer_of(result) or result.exchange.id)

    def as_json(self) -> dict[str, object]:
        if self.middleware is None:
            return {}
        stats = self.stats
        counts = {  # by message type: 1 request, 2 recorded response, 3 replayed response
            "sent": {str(kind): n for kind, n in sorted(stats.sent.items())},
            "echoed": {str(kind): n for kind, n in sorted(stats.echoed.items())},
        }
        return {
            "middleware": {
                "command": self.middleware.command,
                **counts,
                "dropped": stats.dropped,
                "added": stats.added,
                "malformed": stats.malformed,
                "baselines_dropped": stats.baselines_dropped,
                "unpaired": stats.unpaired,
            }
        }

    async def _forward(self) -> None:
        assert self.middleware is not None
        while (answer := await self._answers.get()) is not None:
            if isinstance(answer, str):
                skip_replayed(self.middleware, answer)
            elif self.failure is None:
                await send_replayed(self.middleware, *answer, stats=self.stats)

    def _echoed_replay(self, record: GorRecord) -> None:
        """An echoed type 3: shadowdiff compares the answer it received, not the echo."""

    def _middleware_drops(self) -> dict[str, int]:
        if self.middleware is None or not self.stats.dropped:
            return {}
        return {f"--middleware {self.middleware.command}: not echoed": self.stats.dropped}
