"""Replay against real servers on 127.0.0.1: fidelity, errors as data, bounded concurrency."""

import asyncio

import pytest

from shadowdiff.compare.model import DIFFERS, ERROR, SAME
from shadowdiff.exchange import Exchange, Request
from shadowdiff.replay.plan import parse_target
from shadowdiff.replay.runner import ReplaySettings, replay_exchanges
from shadowdiff.rules import RuleSet
from shadowdiff.store.writer import ExchangeResult
from shadowdiff.testing import make_exchange, make_request, make_response
from tests.servers import RawServer, answer, garbage, reset, silent


def replay(exchanges: list[Exchange], url: str, **settings: object) -> list[ExchangeResult]:
    results: list[ExchangeResult] = []
    config = ReplaySettings(parse_target(url), **settings)  # type: ignore[arg-type]
    asyncio.run(replay_exchanges(exchanges, config, RuleSet(), results.append, asyncio.Event()))
    return results


def test_the_request_arrives_byte_for_byte_with_only_host_changed() -> None:
    raw = (
        b"POST /api/cart?src=app&x=%20y HTTP/1.1\r\nHost: api.example.com\r\n"
        b"user-agent: ShopApp/5.1\r\nX-Trace-Id: abc\r\nAccept-Encoding: gzip, br\r\n"
        b'content-type: application/json\r\nContent-Length: 11\r\n\r\n{"items":1}'
    )
    exchange = make_exchange(Request.parse(raw), make_response(json={"ok": True}))
    with RawServer(answer()) as server:
        results = replay([exchange], server.url)
    expected = raw.replace(b"api.example.com", f"127.0.0.1:{server.port}".encode())
    assert server.received == [expected]
    assert results[0].comparison.verdict == SAME


FAITHFUL = [
    b"GET /a HTTP/1.1\r\nUser-Agent: okhttp/4.12.0\r\nx-trace-id: 1\r\n"
    b"Host: api.example.com\r\n\r\n",
    b"GET /old HTTP/1.0\r\nUser-Agent: legacy\r\n\r\n",
    b"POST /empty HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost:api.example.com\r\nX-A:   v  \r\nX-B:v\r\n\r\n",
    b"PUT /x HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n",
]


@pytest.mark.parametrize("raw", FAITHFUL)
def test_what_arrives_is_the_recorded_bytes_with_only_the_host_value_changed(raw: bytes) -> None:
    exchange = make_exchange(Request.parse(raw), make_response(json={"ok": True}))
    with RawServer(answer()) as server:
        results = replay([exchange], server.url)
    assert server.received == [raw.replace(b"api.example.com", f"127.0.0.1:{server.port}".encode())]
    assert results[0].comparison.verdict == SAME


def test_a_body_that_disagrees_with_its_framing_is_an_error_and_not_sent() -> None:
    raw = b"POST /x HTTP/1.1\r\nHost: o\r\nContent-Length: 10\r\n\r\nabc"
    with RawServer(answer()) as server:
        results = replay([make_exchange(Request.parse(raw), make_response(json={}))], server.url)
    assert server.received == []
    assert results[0].comparison.error == (
        "recorded request not sent: Content-Length 10 but the recorded body has 3 bytes"
    )


def test_keep_alive_connections_are_reused() -> None:
    exchanges = [
        make_exchange(make_request(target=f"/{i}"), make_response(json={"ok": True}))
        for i in range(20)
    ]
    with RawServer(answer()) as server:
        replay(exchanges, server.url, concurrency=1)
    assert server.connections == 1 and len(server.received) == 20


@pytest.mark.parametrize(
    ("handler", "reason"),
    [(reset, "connection"), (garbage, "malformed"), (silent, "timeout")],
)
def test_transport_failures_are_error_verdicts_and_the_run_goes_on(handler, reason) -> None:  # type: ignore[no-untyped-def]
    exchanges = [
        make_exchange(make_request(target=f"/{i}"), make_response(json={})) for i in range(3)
    ]
    with RawServer(handler) as server:
        results = replay(exchanges, server.url, timeout=0.3)
    assert len(results) == 3
    assert all(r.comparison.verdict == ERROR for r in results)
    assert all(reason in (r.comparison.error or "") for r in results)


def test_refused_connection_is_an_error_verdict() -> None:
    with RawServer(answer()) as server:
        url = server.url
    results = replay([make_exchange(make_request(), make_response(json={}))], url)
    assert results[0].comparison.verdict == ERROR
    assert "connection failed" in (results[0].comparison.error or "")


def test_live_baseline_is_compared_when_given() -> None:
    exchange = make_exchange(make_request(target="/v"))  # no recorded response
    with RawServer(answer(b'{"v": 1}')) as base, RawServer(answer(b'{"v": 2}')) as cand:
        results = replay([exchange], cand.url, baseline=parse_target(base.url))
    assert results[0].comparison.verdict == DIFFERS
    assert [(d.path, d.baseline, d.candidate) for d in results[0].comparison.differences] == [
        ("$.v", 1, 2)
    ]
    assert len(base.received) == len(cand.received) == 1


def test_concurrency_bounds_the_connections_in_flight() -> None:
    exchanges = [
        make_exchange(make_request(target=f"/{i}"), make_response(json={"ok": True}))
        for i in range(40)
    ]
    with RawServer(answer(), delay=0.02) as server:
        results = replay(exchanges, server.url, concurrency=4)
    assert len(results) == 40 and {r.comparison.verdict for r in results} == {SAME}
    assert 1 <= server.connections <= 4
