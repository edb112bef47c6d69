"""Stream entries: one exchange's .gor records, byte for byte, both ways (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowdiff.bus.entry import (
    EntryGrouper,
    entry_bytes,
    entry_exchange,
    entry_records,
    exchange_records,
    group_records,
)
from shadowdiff.gorfile import REPLAYED, REQUEST, RESPONSE, GorRecord
from shadowdiff.testing import make_exchange, make_request, make_response


def records(exchange_id: str, with_response: bool = True) -> list[GorRecord]:
    request = GorRecord(REQUEST, exchange_id, 10, 3, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    response = GorRecord(RESPONSE, exchange_id, 20, 4, b"HTTP/1.1 204 No Content\r\n\r\n")
    return [request, response] if with_response else [request]


@given(st.from_regex(r"[0-9a-f]{1,24}", fullmatch=True), st.booleans())
def test_an_entry_holds_its_records_byte_for_byte(exchange_id: str, with_response: bool) -> None:
    group = records(exchange_id, with_response)
    data = entry_bytes(group)
    assert data == b"".join(record.to_bytes() for record in group)
    assert entry_records(data, "e") == group
    exchange = entry_exchange(data, "e")
    assert exchange.id == exchange_id and (exchange.baseline is not None) == with_response


def test_an_exchange_goes_onto_the_bus_and_comes_back() -> None:
    exchange = make_exchange(make_request(target="/a?b=1"), make_response(json={"x": 1}))
    back = entry_exchange(entry_bytes(exchange_records(exchange)), "e")
    assert back.request.to_bytes() == exchange.request.to_bytes()
    assert back.baseline is not None and exchange.baseline is not None
    assert back.baseline.to_bytes() == exchange.baseline.to_bytes()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"garbage", "truncated record"),
        (b"x y\nGET / HTTP/1.1\r\n\r\n\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n",
         "meta line"),
        (b"", "holds 0 exchanges"),
        (entry_bytes(records("a") + records("b")), "holds 2 exchanges"),
    ],
)  # fmt: skip
def test_an_entry_that_is_not_one_exchange_says_why(data: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        entry_exchange(data, "stream entry 1-0")


def test_a_recording_is_grouped_per_exchange_unchanged() -> None:
    a, b, c = records("a"), records("b"), records("c", with_response=False)
    answer = GorRecord(REPLAYED, "a", 30, 1, b"HTTP/1.1 200 OK\r\n\r\n")
    orphan = GorRecord(RESPONSE, "z", 5, 1, b"HTTP/1.1 200 OK\r\n\r\n")
    stream = [orphan, a[0], b[0], a[1], answer, c[0], b[1]]
    assert list(group_records(stream)) == [a, b, c]


def test_records_written_one_by_one_become_one_entry_per_exchange() -> None:
    grouper = EntryGrouper()
    a, b = records("a"), records("b", with_response=False)
    done = [grouper.add(record) for record in a + b]
    assert done == [None, None, entry_bytes(a)]
    assert grouper.end() == entry_bytes(b) and grouper.end() is None
