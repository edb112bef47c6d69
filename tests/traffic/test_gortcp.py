"""GoReplay's --output-tcp / --input-tcp pair over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from shadowdiff.errors import EnvironmentProblem, InputError
from shadowdiff.gorfile import SEPARATOR, GorRecord
from shadowdiff.traffic.gortcp import GorTcpListener, GorTcpSender, parse_address

GET = b"GET /api/users/7 HTTP/1.1\r\nHost: shop\r\n\r\n"
OK = b'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{"id":7}'
LOCAL = "127.0.0.1"
T = TypeVar("T")


def run(coroutine: Awaitable[T], timeout: float = 10) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


def make_records(host: str, count: int) -> list[GorRecord]:
    """A request and its response per id, ids marked by the capture host that saw them."""
    records = []
    for n in range(count // 2):
        rid = f"{host}{n:020x}"
        records.append(GorRecord(1, rid, 1_700_000_000_000_000_000 + n, 1000, GET))
        records.append(GorRecord(2, rid, 1_700_000_000_000_000_500 + n, 2000, OK))
    return records


async def collect(listener: GorTcpListener, count: int) -> list[GorRecord]:
    received = []
    async for record in listener.records():
        received.append(record)
        if len(received) == count:
            break
    return received


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOCAL, 0))
        return int(probe.getsockname()[1])


def test_two_capture_hosts_feed_one_listener_exactly_once() -> None:
    async def scenario() -> None:
        listener = GorTcpListener(LOCAL, 0)
        await listener.start()
        senders = [GorTcpSender(LOCAL, listener.port), GorTcpSender(LOCAL, listener.port)]
        sent = {"aaaa": make_records("aaaa", 400), "bbbb": make_records("bbbb", 400)}
        for sender, records in zip(senders, sent.values(), strict=True):
            await sender.start()
            assert all(sender.send(record) for record in records)
        received = await collect(listener, 800)
        for sender in senders:
            await sender.close()
        await listener.close()
        for host, records in sent.items():  # in order per sender, byte for byte
            mine = [r.to_bytes() for r in received if r.id.startswith(host)]
            assert mine == [r.to_bytes() for r in records]
        assert [s.sent for s in senders] == [400, 400]
        assert (listener.received, listener.malformed, listener.connections) == (800, 0, 2)
        assert all(r.where.startswith(f"{LOCAL}:") for r in received)

    run(scenario())


def test_a_sender_started_before_the_listener_delivers_once_it_appears() -> None:
    async def scenario() -> None:
        port = free_port()
        sender = GorTcpSender(LOCAL, port)
        await sender.start()
        records = make_records("cccc", 10)
        assert all(sender.send(record) for record in records)
        await asyncio.sleep(0.35)  # 0.1 + 0.2 s of backoff: several attempts
        assert (sender.sent, sender.dropped) == (0, 0)
        assert sender.reconnects >= 2
        listener = GorTcpListener(LOCAL, port)
        await listener.start()
        assert await collect(listener, 10) == records
        await sender.close()
        await listener.close()
        assert (sender.sent, sender.dropped) == (10, 0)

    run(scenario())


def test_the_sender_reconnects_when_the_listener_restarts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        first = GorTcpListener(LOCAL, 0)
        await first.start()
        sender = GorTcpSender(LOCAL, first.port)
        await sender.start()
        before, after = make_records("dddd", 4), make_records("eeee", 4)
        for record in before:
            sender.send(record)
        assert await collect(first, 4) == before
        await first.close()
        await asyncio.sleep(0.1)  # the sender sees the connection end
        for record in after:
            sender.send(record)
        second = GorTcpListener(LOCAL, first.port)
        await second.start()
        assert await collect(second, 4) == after
        await sender.close()
        await second.close()
        assert sender.reconnects >= 1

    run(scenario())
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []  # asyncio is content


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    async def scenario() -> None:
        sender = GorTcpSender(LOCAL, free_port(), queue_limit=10)  # nobody listens there
        await sender.start()
        records = make_records("ffff", 1000)
        started = time.perf_counter()
        accepted = [sender.send(record) for record in records]
        assert time.perf_counter() - started < 0.5
        assert accepted.count(True) == 10
        assert sender.dropped == 990
        await sender.close(timeout=0.2)
        assert (sender.sent, sender.dropped) == (0, 1000)  # the unsent ten are counted too
        assert not sender.send(records[0])

    run(scenario())


def test_replayed_responses_are_not_forwarded() -> None:
    async def scenario() -> None:
        sender = GorTcpSender(LOCAL, free_port())
        assert not sender.send(GorRecord(3, "a" * 24, 1, 5, OK))
        assert (sender.not_forwarded, sender.dropped) == (1, 0)
        await sender.close(timeout=0)

    run(scenario())


def test_a_malformed_record_from_one_peer_does_not_break_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        listener = GorTcpListener(LOCAL, 0)
        await listener.start()
        good = GorTcpSender(LOCAL, listener.port)
        await good.start()
        records = make_records("abab", 6)
        _, writer = await asyncio.open_connection(LOCAL, listener.port)
        bad_port = writer.get_extra_info("sockname")[1]
        writer.write(b"not a meta line\nxxx" + SEPARATOR + records[0].to_bytes())
        await writer.drain()
        for record in records[1:]:
            good.send(record)
        received = await collect(listener, 6)
        writer.write(b"half a record")  # then the connection ends inside it
        writer.close()
        await writer.wait_closed()
        while listener.malformed < 2:  # the listener sees the connection end
            await asyncio.sleep(0.01)
        await good.close()
        await listener.close()
        assert sorted(r.to_bytes() for r in received) == sorted(r.to_bytes() for r in records)
        assert listener.malformed == 2
        problems = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(f"{LOCAL}:{bad_port}: byte 0: meta line" in p for p in problems)
        assert any(f"{LOCAL}:{bad_port}: byte" in p and "inside a record" in p for p in problems)

    with caplog.at_level(logging.WARNING, logger="shadowdiff.traffic.gortcp"):
        run(scenario())


def test_a_5_mb_payload_arrives_intact() -> None:
    async def scenario() -> None:
        listener = GorTcpListener(LOCAL, 0)
        await listener.start()
        sender = GorTcpSender(LOCAL, listener.port)
        await sender.start()
        body = bytes(range(256)) * (5 * 4096)
        big = GorRecord(1, "b" * 24, 1, 1, b"POST /upload HTTP/1.1\r\n\r\n" + body)
        sender.send(big)
        sender.send(GorRecord(2, "b" * 24, 2, 2, OK))
        received = await collect(listener, 2)
        await sender.close()
        await listener.close()
        assert received[0].to_bytes() == big.to_bytes()
        assert len(received[0].payload) > 5_000_000

    run(scenario())


def test_records_ends_after_close() -> None:
    async def scenario() -> list[GorRecord]:
        listener = GorTcpListener(LOCAL, 0)
        await listener.start()
        await listener.close()
        await listener.close()
        first = [record async for record in listener.records()]
        return first + [record async for record in listener.records()]

    assert run(scenario()) == []


def test_a_port_in_use_is_one_line_naming_the_flag() -> None:
    async def scenario() -> None:
        first = GorTcpListener(LOCAL, 0)
        await first.start()
        try:
            with pytest.raises(EnvironmentProblem) as raised:
                await GorTcpListener(LOCAL, first.port).start()
        finally:
            await first.close()
        message = f"--input-tcp {LOCAL}:{first.port}: cannot listen: Address already in use"
        assert str(raised.value) == message
        assert raised.value.exit_code == 3

    run(scenario())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (":28020", ("", 28020)),
        ("host:28020", ("host", 28020)),
        ("replay.local:28020", ("replay.local", 28020)),
        ("10.0.0.5:80", ("10.0.0.5", 80)),
        ("[::1]:28020", ("::1", 28020)),
        ("[::]:0", ("::", 0)),
    ],
)
def test_parse_address(value: str, expected: tuple[str, int]) -> None:
    assert parse_address(value, "--input-tcp") == expected


@pytest.mark.parametrize("value", ["", "28020", "host", "host:", "::1:28020", "h:70000", "h:x"])
def test_parse_address_names_the_flag(value: str) -> None:
    with pytest.raises(InputError, match=r"^--output-tcp '.*': expected HOST:PORT"):
        parse_address(value, "--output-tcp")
