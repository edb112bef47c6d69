"""The stages traffic goes through on its way to the targets, as async iterators of
exchanges: a recording paced at a speed and looped, then (after the middleware, when there
is one) GoReplay's filters and rewrites. What a stage drops is counted by reason, never lost
silently: the counts are stored with the run (`filtered`) and shown by `gate`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace

from shadowdiff.exchange import Exchange
from shadowdiff.replay.plan import Target
from shadowdiff.traffic.prettify import prettify_exchange
from shadowdiff.traffic.rates import Pacer, Rate
from shadowdiff.traffic.shaping import Dropped, Shaping, shape_request

YIELD_EVERY = 256


@dataclass(frozen=True, slots=True)
class TrafficOptions:
    """How traffic is shaped on its way to the targets (GoReplay's flags and semantics)."""

    targets: tuple[tuple[Target, Rate | None], ...] = ()  # every target, with its |N or |N%
    split_output: bool = False  # each request to one target in turn, not to all
    shaping: Shaping = field(default_factory=Shaping)
    middleware: str | None = None
    middleware_responses: bool = True  # recorded responses go to it (GoReplay: if tracked)
    track_response: bool = False  # the candidates' answers go to the middleware (type 3)
    prettify: bool = False  # bodies de-chunked and decompressed before the middleware
    speed: float | None = None  # a recording's pace (2.0: twice as fast); None: at once
    max_wait: float | None = None  # the longest pause between two requests, paced (seconds)
    loop: bool = False  # a recording starts again when it ends
    exit_after: float | None = None  # seconds
    target_flag: str = "--target"  # what the user calls a target (shadowdiff gor: --output-http)

    def describe(self) -> dict[str, object]:
        """What the run's settings record about its traffic (only what is set)."""
        described: dict[str, object] = {
            "targets": [
                target.url + (rate.describe() if rate else "") for target, rate in self.targets
            ],
            "split_output": self.split_output,
            "middleware": self.middleware,
            "track_response": self.track_response,
            "prettify": self.prettify,
            "speed": self.speed,
            "max_wait": self.max_wait,
            "loop": self.loop,
            "exit_after": self.exit_after,
            "shaping": self.shaping.describe() if not self.shaping.is_empty else None,
        }
        return {key: value for key, value in described.items() if value}


async def paced(
    exchanges: Iterable[Exchange],
    speed: float | None,
    stop: asyncio.Event,
    max_wait: float | None = None,
) -> AsyncIterator[Exchange]:
    """The exchanges, each at its recorded time divided by `speed` (None: at once), no gap
    longer than `max_wait`; ends early when `stop` is set."""
    pacer = Pacer(speed or 1.0, max_wait)
    start = asyncio.get_running_loop().time()
    for exchange in exchanges:
        if stop.is_set():
            return
        if speed is not None:
            wait = start + pacer.due(exchange.timestamp) - asyncio.get_running_loop().time()
            if wait > 0 and await _stopped_within(stop, wait):
                return
        yield exchange


async def looped(
    recording: Callable[[], Iterable[Exchange]], loop: bool, stop: asyncio.Event
) -> AsyncIterator[Iterable[Exchange]]:
    """The recording once, or again and again until `stop` (a pass with no exchange ends
    the loop: there is nothing to repeat)."""
    while not stop.is_set():
        seen = False

        def counted() -> Iterable[Exchange]:
            nonlocal seen
            for exchange in recording():
                seen = True
                yield exchange

        yield counted()
        if not loop or not seen:
            return


async def prettified(exchanges: AsyncIterator[Exchange]) -> AsyncIterator[Exchange]:
    """GoReplay's --prettify-http on each exchange."""
    async for exchange in exchanges:
        yield prettify_exchange(exchange)


async def shaped(
    exchanges: AsyncIterator[Exchange],
    shaping: Shaping,
    filtered: Counter[str],
    on_drop: Callable[[Exchange], None] | None = None,
) -> AsyncIterator[Exchange]:
    """GoReplay's filters and rewrites on each request; what they drop is counted (and
    given to `on_drop`)."""
    async for exchange in exchanges:
        result = shape_request(exchange.request, shaping)
        if isinstance(result, Dropped):
            filtered[result.reason] += 1
            if on_drop is not None:
                on_drop(exchange)
            if filtered.total() % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a recording filtered whole still lets signals in
            continue
        yield exchange if result is exchange.request else replace(exchange, request=result)


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
