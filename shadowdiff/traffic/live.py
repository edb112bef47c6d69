"""Records arriving live (GoReplay's `--input-tcp`, fed by `--output-tcp` on the capture
hosts) paired into exchanges as they come.

A request waits up to `hold` seconds for its recorded response (type 2, same id), then goes on
without one (compared by assertions only, or against a live baseline); a response that comes
before its request waits as long for it. Replayed responses (type 3) are counted and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator

from shadowdiff.exchange import Exchange, Request, Response
from shadowdiff.gorfile import REQUEST, RESPONSE, GorRecord
from shadowdiff.http1 import HttpParseError
from shadowdiff.traffic.pairing import TrafficStats

Waiting = OrderedDict[str, tuple[GorRecord, float]]


_END = GorRecord(0, "", 0, None, b"")  # the records ended


async def pair_live(
    records: AsyncIterator[GorRecord], stats: TrafficStats, hold: float = 2.0
) -> AsyncIterator[Exchange]:
    queue: asyncio.Queue[GorRecord] = asyncio.Queue(maxsize=1024)
    pump = asyncio.create_task(_pump(records, queue))
    requests: Waiting = OrderedDict()
    responses: Waiting = OrderedDict()
    clock = asyncio.get_running_loop().time
    try:
        while (
            record := await _next(queue, _first_deadline(requests, responses) - clock())
        ) is not _END:
            for exchange in _expired(requests, responses, clock(), stats):
                yield exchange
            if record is not None:
                for paired in _take(record, requests, responses, clock() + hold, stats):
                    yield paired
        for exchange in _expired(requests, responses, float("inf"), stats):
            yield exchange
        await pump
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump


async def _pump(records: AsyncIterator[GorRecord], queue: asyncio.Queue[GorRecord]) -> None:
    try:
        async for record in records:
            await queue.put(record)
    finally:
        await queue.put(_END)


async def _next(queue: asyncio.Queue[GorRecord], timeout: float) -> GorRecord | None:
    """The next record, `_END`, or None when `timeout` passed first."""
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(queue.get(), max(0.0, timeout))
    return None


def _first_deadline(requests: Waiting, responses: Waiting) -> float:
    deadlines = [waiting[next(iter(waiting))][1] for waiting in (requests, responses) if waiting]
    return min(deadlines, default=float("inf"))


def _take(
    record: GorRecord, requests: Waiting, responses: Waiting, deadline: float, stats: TrafficStats
) -> list[Exchange]:
    if record.type == REQUEST:
        stats.requests += 1
        ready = []
        if (earlier := requests.pop(record.id, None)) is not None:  # ids repeat: it goes on
            stats.requests_without_response += 1
            ready = [e for e in [_exchange(earlier[0], None, stats)] if e is not None]
        early = responses.pop(record.id, None)
        if early is None:
            requests[record.id] = (record, deadline)
            return ready
        return ready + [e for e in [_exchange(record, early[0], stats)] if e is not None]
    if record.type == RESPONSE:
        stats.responses += 1
        waiting = requests.pop(record.id, None)
        if waiting is None:
            responses[record.id] = (record, deadline)
            return []
        return [e for e in [_exchange(waiting[0], record, stats)] if e is not None]
    stats.replayed_responses_ignored += 1
    return []


def _expired(
    requests: Waiting, responses: Waiting, now: float, stats: TrafficStats
) -> list[Exchange]:
    ready = []
    while requests and requests[next(iter(requests))][1] <= now:
        record, _ = requests.popitem(last=False)[1]
        stats.requests_without_response += 1
        if (exchange := _exchange(record, None, stats)) is not None:
            ready.append(exchange)
    while responses and responses[next(iter(responses))][1] <= now:
        responses.popitem(last=False)
        stats.responses_without_request += 1
    return ready


def _exchange(
    request: GorRecord, response: GorRecord | None, stats: TrafficStats
) -> Exchange | None:
    try:
        parsed = Response.parse(response.payload) if response is not None else None
        latency = max(0, response.timestamp - request.timestamp) if response is not None else None
        return Exchange(
            request.id, Request.parse(request.payload), parsed, request.timestamp, latency
        )
    except (ValueError, HttpParseError):
        stats.unreadable += 1
        return None
