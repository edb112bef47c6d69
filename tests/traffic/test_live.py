"""Records arriving live, paired into exchanges; record outputs and their message types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from shadowdiff.exchange import Exchange
from shadowdiff.gorfile import REPLAYED, REQUEST, RESPONSE, GorRecord
from shadowdiff.testing import make_exchange, make_request, make_response
from shadowdiff.traffic.live import pair_live
from shadowdiff.traffic.outputs import RecordOutput
from shadowdiff.traffic.pairing import TrafficStats
from shadowdiff.traffic.rates import OutputLimit, Rate

REQ = make_request(target="/a").to_bytes()
RESP = make_response(json={"ok": True}).to_bytes()


async def arriving(*steps: GorRecord | float) -> AsyncIterator[GorRecord]:
    for step in steps:
        if isinstance(step, float):
            await asyncio.sleep(step)
        else:
            yield step


def collect(*steps: GorRecord | float, hold: float = 0.2) -> tuple[list[Exchange], TrafficStats]:
    stats = TrafficStats()

    async def main() -> list[Exchange]:
        return [exchange async for exchange in pair_live(arriving(*steps), stats, hold)]

    return asyncio.run(main()), stats


def test_a_request_pairs_with_its_response_in_either_order() -> None:
    exchanges, stats = collect(
        GorRecord(REQUEST, "a", 10, 0, REQ),
        GorRecord(RESPONSE, "b", 25, 0, RESP),
        GorRecord(RESPONSE, "a", 30, 0, RESP),
        GorRecord(REQUEST, "b", 20, 0, REQ),
        GorRecord(REPLAYED, "a", 40, 0, RESP),
    )
    assert [(e.id, e.baseline is not None, e.baseline_latency) for e in exchanges] == [
        ("a", True, 20),
        ("b", True, 5),
    ]
    assert (stats.requests, stats.responses, stats.replayed_responses_ignored) == (2, 2, 1)


def test_a_request_without_response_goes_on_after_hold_even_while_nothing_arrives() -> None:
    exchanges, stats = collect(
        GorRecord(REQUEST, "a", 10, 0, REQ),
        0.5,  # longer than hold, nothing arrives
        GorRecord(RESPONSE, "a", 30, 0, RESP),  # too late: a response without its request
    )
    assert [(e.id, e.baseline) for e in exchanges] == [("a", None)]
    assert (stats.requests_without_response, stats.responses_without_request) == (1, 1)


def test_unreadable_records_are_counted_not_fatal() -> None:
    exchanges, stats = collect(
        GorRecord(REQUEST, "a", 10, 0, b"NOT HTTP AT ALL"), GorRecord(RESPONSE, "a", 11, 0, RESP)
    )
    assert exchanges == [] and stats.unreadable == 1


class Kept:
    def __init__(self) -> None:
        self.records: list[GorRecord] = []

    async def start(self) -> None:
        pass

    def write(self, record: GorRecord) -> None:
        self.records.append(record)

    async def close(self) -> None:
        pass


def test_a_record_output_writes_the_types_goreplay_would() -> None:
    exchange = make_exchange(make_request(), make_response(), id="ab" * 12, timestamp=5)
    plain, tracked = Kept(), Kept()
    outputs = [
        RecordOutput("plain", plain),
        RecordOutput("tracked", tracked, originals=True, replayed=True),
    ]
    for output in outputs:
        output.exchange(exchange)
        output.answer(exchange.id, 7, 2, RESP)
    assert [r.type for r in plain.records] == [REQUEST]
    assert [(r.type, r.id) for r in tracked.records] == [
        (REQUEST, exchange.id),
        (RESPONSE, exchange.id),
        (REPLAYED, exchange.id),
    ]


def test_a_record_output_rate_keeps_or_drops_whole_exchanges() -> None:
    sink = Kept()
    draws = iter([0.1, 0.9] * 50)
    output = RecordOutput(
        "half", sink, OutputLimit(Rate(percent=50)), True, True, draw=lambda: next(draws)
    )
    for i in range(100):
        exchange = make_exchange(make_request(), make_response(), id=f"{i:024x}")
        output.exchange(exchange)
        output.answer(exchange.id, 1, 1, RESP)
    assert len(sink.records) == 50 * 3
    ids = {r.id for r in sink.records}
    assert all(sum(r.id == i for r in sink.records) == 3 for i in ids)


def test_a_repeated_request_id_sends_the_earlier_request_on_without_a_response() -> None:
    exchanges, stats = collect(
        GorRecord(REQUEST, "a", 10, 0, REQ),
        GorRecord(REQUEST, "a", 20, 0, REQ),
        GorRecord(RESPONSE, "a", 30, 0, RESP),
    )
    assert [(e.timestamp, e.baseline is not None) for e in exchanges] == [(10, False), (20, True)]
    assert (stats.requests, stats.requests_without_response) == (2, 1)
