"""Pairing type 1 and type 2 .gor records by id into exchanges, counting what does not pair."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.exchange import Exchange
from shadowdiff.gorfile import (
    REPLAYED,
    REQUEST,
    RESPONSE,
    GorProblem,
    GorRecord,
    read_gor,
    write_gor,
)
from shadowdiff.testing import gor_records_for, make_exchange, make_request, make_response
from shadowdiff.traffic import pairing
from shadowdiff.traffic.pairing import TrafficStats, pair_records

GET = make_request(target="/a")
POST = make_request("POST", "/b", json={"x": 1})
OK = make_response(json={"ok": True})
GONE = make_response(404)


def req(id_: str, ts: int, payload: bytes = GET.to_bytes(), where: str = "") -> GorRecord:
    return GorRecord(REQUEST, id_, ts, 0, payload, where=where)


def resp(id_: str, ts: int, payload: bytes = OK.to_bytes(), where: str = "") -> GorRecord:
    return GorRecord(RESPONSE, id_, ts, 0, payload, where=where)


def pair(records: list[GorRecord]) -> tuple[list[Exchange], TrafficStats, list[GorProblem]]:
    stats, problems = TrafficStats(), list[GorProblem]()
    return list(pair_records(records, stats, problems.append)), stats, problems


def summary(exchanges: list[Exchange]) -> list[tuple[str, int, int | None, int | None]]:
    """(id, request timestamp, baseline status, baseline latency) per exchange."""
    return [
        (e.id, e.timestamp, e.baseline.status if e.baseline else None, e.baseline_latency)
        for e in exchanges
    ]


def test_request_and_response_pair_by_id() -> None:
    exchanges, stats, problems = pair([req("a", 100), resp("a", 350)])
    assert exchanges == [Exchange("a", GET, OK, 100, 250)]
    assert stats == TrafficStats(requests=1, responses=1)
    assert problems == []


def test_interleaved_exchanges_pair_by_id_not_by_order() -> None:
    records = [
        req("a", 1, GET.to_bytes()),
        req("b", 2, POST.to_bytes()),
        resp("b", 5, GONE.to_bytes()),
        resp("a", 9, OK.to_bytes()),
    ]
    exchanges, stats, _ = pair(records)
    assert exchanges == [Exchange("b", POST, GONE, 2, 3), Exchange("a", GET, OK, 1, 8)]
    assert stats == TrafficStats(requests=2, responses=2)


def test_response_before_its_request_in_the_file_still_pairs() -> None:
    exchanges, stats, _ = pair([resp("a", 20), req("b", 5), req("a", 10), resp("b", 30)])
    assert summary(exchanges) == [("a", 10, 200, 10), ("b", 5, 200, 25)]
    assert stats == TrafficStats(requests=2, responses=2)


def test_response_seen_before_a_later_request_belongs_to_another_one() -> None:
    exchanges, stats, _ = pair([resp("a", 5), req("a", 10)])
    assert summary(exchanges) == [("a", 10, None, None)]
    assert stats == TrafficStats(
        requests=1, responses=1, responses_without_request=1, requests_without_response=1
    )


def test_reused_ids_pair_each_request_with_the_next_response() -> None:
    records = [
        req("a", 1),
        resp("a", 2, OK.to_bytes()),
        req("a", 10),
        resp("a", 12, GONE.to_bytes()),
    ]
    exchanges, stats, _ = pair(records)
    assert summary(exchanges) == [("a", 1, 200, 1), ("a", 10, 404, 2)]
    assert stats.requests_without_response == stats.responses_without_request == 0


def test_a_second_request_with_a_pending_id_ends_the_first() -> None:
    exchanges, stats, _ = pair([req("a", 1), req("a", 5), resp("a", 7)])
    assert summary(exchanges) == [("a", 1, None, None), ("a", 5, 200, 2)]
    assert stats.requests_without_response == 1


def test_a_second_early_response_with_the_same_id_ends_the_first() -> None:
    exchanges, stats, _ = pair([resp("a", 3, GONE.to_bytes()), resp("a", 4), req("a", 1)])
    assert summary(exchanges) == [("a", 1, 200, 3)]
    assert stats == TrafficStats(requests=1, responses=2, responses_without_request=1)


def test_response_without_request_is_counted_not_yielded() -> None:
    exchanges, stats, problems = pair([resp("x", 1), req("a", 2), resp("a", 3)])
    assert summary(exchanges) == [("a", 2, 200, 1)]
    assert stats == TrafficStats(requests=1, responses=2, responses_without_request=1)
    assert problems == []


def test_request_without_response_comes_out_without_baseline() -> None:
    exchanges, stats, _ = pair([req("a", 1, where="f.gor: byte 0"), req("b", 2), resp("b", 4)])
    assert summary(exchanges) == [("b", 2, 200, 2), ("a", 1, None, None)]
    assert exchanges[1].source == "f.gor: byte 0"
    assert stats == TrafficStats(requests=2, responses=1, requests_without_response=1)


def test_replayed_responses_are_ignored_and_counted() -> None:
    replayed = GorRecord(REPLAYED, "a", 3, 900, GONE.to_bytes())
    exchanges, stats, _ = pair([req("a", 1), replayed, resp("a", 4), replayed])
    assert summary(exchanges) == [("a", 1, 200, 3)]
    assert stats == TrafficStats(requests=1, responses=1, replayed_responses_ignored=2)


def test_response_timestamp_before_request_gives_no_latency() -> None:
    exchanges, _, _ = pair([req("a", 10), resp("a", 4)])
    assert summary(exchanges) == [("a", 10, 200, None)]


AT = "in.gor: byte 120"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (req("a", 1, b"not http at all\r\n\r\n", AT), "unreadable request"),
        (req("a", 1, b"GET / HTTP/1.1\r\nHost: a\r\n", AT), "unreadable request"),
        (resp("a", 1, b"HTTP/1.1 OK\r\n\r\n", AT), "unreadable response"),
        (resp("a", 1, GET.to_bytes(), AT), "unreadable response"),
        (GorRecord(7, "a", 1, 0, GET.to_bytes(), where=AT), "unknown record type 7"),
    ],
)
def test_unreadable_records_are_reported_with_their_place(record: GorRecord, message: str) -> None:
    exchanges, stats, problems = pair([record, req("b", 2), resp("b", 3)])
    assert summary(exchanges) == [("b", 2, 200, 1)]
    assert stats.unreadable == 1
    assert [(p.path, p.offset) for p in problems] == [("in.gor", 120)]
    assert message in problems[0].message


@pytest.mark.parametrize(
    ("where", "path", "offset"),
    [("", "", -1), ("odd name", "odd name", -1), ("a: byte 5: byte 7", "a: byte 5", 7)],
)
def test_problem_place_of_a_record_from_elsewhere(where: str, path: str, offset: int) -> None:
    problems = pair([req("a", 1, b"junk\r\n\r\n", where)])[2]
    assert [(p.path, p.offset) for p in problems] == [(path, offset)]


def test_pairing_records_read_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "t.gor"
    records = [req("a", 1), GorRecord(REQUEST, "b", 2, 0, b"garbage\n\n"), resp("a", 3)]
    write_gor(path, records)
    problems: list[GorProblem] = []
    exchanges = list(pair_records(read_gor(path, problems.append), TrafficStats(), problems.append))
    assert exchanges == [Exchange("a", GET, OK, 1, 2)]
    assert exchanges[0].source == f"{path}: byte 0"
    assert [(p.path, p.offset) for p in problems] == [(str(path), len(records[0].to_bytes()))]


def test_pending_requests_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pairing, "PENDING_WINDOW", 2)
    exchanges, stats, _ = pair([req("a", 1), req("b", 2), req("c", 3), resp("a", 4), resp("c", 5)])
    assert summary(exchanges) == [("a", 1, None, None), ("c", 3, 200, 2), ("b", 2, None, None)]
    assert stats == TrafficStats(
        requests=3, responses=2, responses_without_request=1, requests_without_response=2
    )


def test_early_responses_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pairing, "PENDING_WINDOW", 2)
    exchanges, stats, _ = pair([resp("a", 4), resp("b", 5), resp("c", 6), req("a", 1), req("c", 2)])
    assert summary(exchanges) == [("c", 2, 200, 4), ("a", 1, None, None)]
    assert stats.responses_without_request == 2


def test_pairing_streams() -> None:
    def records() -> Iterator[GorRecord]:
        yield req("a", 1)
        yield resp("a", 2)
        raise AssertionError("read past the first exchange")

    exchanges = pair_records(records(), TrafficStats(), print)
    assert next(exchanges).id == "a"


exchange_lists = st.lists(
    st.builds(
        make_exchange,
        request=st.sampled_from([GET, POST]),
        baseline=st.sampled_from([OK, GONE, None]),
        timestamp=st.integers(0, 10**18),
        baseline_latency=st.integers(0, 10**9),
    ),
    max_size=10,
)


@settings(max_examples=50, deadline=None)
@given(exchange_lists)
def test_pairing_gives_back_the_exchanges_recorded(exchanges: list[Exchange]) -> None:
    expected = [
        e if e.baseline else make_exchange(e.request, None, e.id, e.timestamp) for e in exchanges
    ]
    paired, stats, problems = pair(gor_records_for(exchanges))
    assert sorted(paired, key=lambda e: e.id) == sorted(expected, key=lambda e: e.id)
    assert stats.requests == len(exchanges)
    assert stats.requests_without_response == sum(e.baseline is None for e in exchanges)
    assert problems == []
