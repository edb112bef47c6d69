"""The .gor framing: byte compatibility with GoReplay, streaming, problems with offsets."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shadowdiff import gorfile
from shadowdiff.errors import InputError
from shadowdiff.gorfile import (
    SEPARATOR,
    GorProblem,
    GorRecord,
    GorWriter,
    iter_chunks,
    merge_gor,
    parse_record,
    read_gor,
    write_gor,
)

GET = b"GET /api/users/7 HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\n\r\n"
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{"id":7}'
ID = "8e1c9a04b2d3f00112233445"


def read_all(path: Path) -> tuple[list[GorRecord], list[GorProblem]]:
    problems: list[GorProblem] = []
    return list(read_gor(path, problems.append)), problems


def no_problem(problem: GorProblem) -> None:
    raise AssertionError(f"unexpected problem: {problem}")


def rec(
    type_: int = 1, id_: str = ID, ts: int = 1, lat: int | None = 0, payload: bytes = GET
) -> GorRecord:
    return GorRecord(type_, id_, ts, lat, payload)


def frameable(payload: bytes) -> bool:
    """GoReplay escapes nothing: the separator may only occur where the writer puts it.

    That rules out more than payloads containing it: one that starts with the emoji line, or
    ends with `\\n` + the emoji, makes a separator together with the framing around it.
    """
    return (b"\n" + payload + SEPARATOR).find(SEPARATOR) == len(payload) + 1


records = st.builds(
    GorRecord,
    type=st.sampled_from([1, 2, 3]),
    id=st.text("0123456789abcdef", min_size=1, max_size=40),
    timestamp=st.integers(0, 2**63),
    latency=st.none() | st.integers(-1, 2**63),
    payload=(
        st.binary(max_size=300)
        | st.sampled_from([GET, OK, b"", b"\n", "🐵🙈🙉 x🐵🙈🙉\n🐵🙈🙉 \n".encode(), b"\n\n"])
    ).filter(frameable),
)
ROUND_TRIP = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# --- round trips ----------------------------------------------------------------------------


@ROUND_TRIP
@given(st.lists(records, max_size=8), st.sampled_from(["t.gor", "t.gor.gz"]))
def test_read_undoes_write(tmp_path: Path, items: list[GorRecord], name: str) -> None:
    path = tmp_path / name
    assert write_gor(path, items) == len(items)
    assert read_all(path) == (items, [])


@ROUND_TRIP
@given(st.lists(records, min_size=1, max_size=5), st.integers(1, 20))
def test_read_in_tiny_blocks_gives_the_same_records(
    tmp_path: Path, items: list[GorRecord], block: int
) -> None:
    path = tmp_path / "t.gor"
    write_gor(path, items)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gorfile, "BLOCK", block)
        assert read_all(path) == (items, [])


# --- byte compatibility with GoReplay ---------------------------------------------------------


def test_separator_is_goreplays_14_bytes() -> None:
    assert bytes.fromhex("0a f09f90b5 f09f9988 f09f9989 0a") == SEPARATOR


def test_written_bytes_are_goreplays_framing(tmp_path: Path) -> None:
    record = rec(1, ID, 1_700_000_000_123_456_789, 15_000, GET)
    expected = f"1 {ID} 1700000000123456789 15000\n".encode() + GET + "\n🐵🙈🙉\n".encode()
    assert record.to_bytes() == expected
    write_gor(tmp_path / "a.gor", [record, record])
    assert (tmp_path / "a.gor").read_bytes() == expected * 2
    write_gor(tmp_path / "a.gor.gz", [record])
    assert gzip.decompress((tmp_path / "a.gor.gz").read_bytes()) == expected


def test_a_file_in_goreplays_framing_reads_back(tmp_path: Path) -> None:
    old_id = "2f1d0a5c1e9b4f0e8a7d6c5b4a39281706f5e4d3"  # 40-hex ids of GoReplay <= 1.1
    (tmp_path / "gr.gor").write_bytes(
        b"1 "
        + ID.encode()
        + b" 1700000000000000000 48213\n"
        + GET
        + SEPARATOR
        + b"2 "
        + ID.encode()
        + b" 1700000000002000000 1305\n"
        + OK
        + SEPARATOR
        + b"1 "
        + old_id.encode()
        + b" 1400000000000000000\n"
        + GET
        + SEPARATOR  # 3 fields
        + b"3 "
        + ID.encode()
        + b" 1700000000003000000 -1\n"
        + OK
        + SEPARATOR
    )
    assert read_all(tmp_path / "gr.gor") == (
        [
            rec(1, ID, 1_700_000_000_000_000_000, 48213, GET),
            rec(2, ID, 1_700_000_000_002_000_000, 1305, OK),
            rec(1, old_id, 1_400_000_000_000_000_000, None, GET),
            rec(3, ID, 1_700_000_000_003_000_000, -1, OK),
        ],
        [],
    )


def test_extra_meta_fields_are_kept_and_written_back() -> None:
    chunk = b"1 abc 5 7 future field\n" + GET
    record = parse_record(chunk)
    assert (record.latency, record.extra) == (7, ("future", "field"))
    assert record.to_bytes() == chunk + SEPARATOR


def test_records_know_where_they_came_from(tmp_path: Path) -> None:
    path = tmp_path / "w.gor"
    write_gor(path, [rec(), rec(ts=2)])
    first, second = read_all(path)[0]
    second_at = len(rec().to_bytes())
    assert (first.where, second.where) == (f"{path}: byte 0", f"{path}: byte {second_at}")


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        (b"1 abc 5", "no payload"),
        (b"1 abc\n" + GET, "needs at least 3"),
        (b"hello world again\n" + GET, "not 'type id timestamp"),
        (b"1 abc yesterday 5\n" + GET, "not 'type id timestamp"),
        (b"x abc 5 5\n" + GET, "not 'type id timestamp"),
    ],
)
def test_parse_record_says_what_is_wrong(chunk: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_record(chunk)


@pytest.mark.parametrize(
    "payload", [b"a" + SEPARATOR + b"b", SEPARATOR[1:] + b"GET", b"GET\n" + SEPARATOR[1:-1]]
)
def test_payloads_that_goreplays_framing_cannot_hold(payload: bytes) -> None:
    assert not frameable(payload)
    assert parse_record(rec(payload=payload).to_bytes()[: -len(SEPARATOR)]).payload == payload
    chunks = list(iter_chunks(io.BytesIO(rec(payload=payload).to_bytes())))
    assert len(chunks) > 1  # the reader (like GoReplay's) splits it early


def test_meta_line_without_latency() -> None:
    assert rec(2, "ab", 9, None).meta_line() == b"2 ab 9"


# --- streaming ------------------------------------------------------------------------------


class CountingReader(io.RawIOBase):
    """A stream that only has `read`, and remembers how much was asked each time."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)
        self.sizes: list[int] = []

    def read(self, size: int = -1, /) -> bytes:
        self.sizes.append(size)
        return self.data.read(size)


def test_chunks_are_read_in_blocks_never_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gorfile, "BLOCK", 64)
    data = b"".join(rec(ts=i).to_bytes() for i in range(20))
    stream = CountingReader(data)
    chunks = list(iter_chunks(stream))  # type: ignore[arg-type]
    assert [parse_record(chunk) for _, chunk, _ in chunks] == [rec(ts=i) for i in range(20)]
    assert set(stream.sizes) == {64}
    assert len(stream.sizes) == len(data) // 64 + 2  # the last read finds the end


def test_record_larger_than_the_block(tmp_path: Path) -> None:
    body = bytes(range(256)) * 12288
    big = GET.replace(b"\r\n\r\n", b"\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    assert len(big) > 3 * gorfile.BLOCK
    items = [rec(ts=1), rec(2, payload=big, ts=2), rec(ts=3)]
    for name in ("big.gor", "big.gor.gz"):
        write_gor(tmp_path / name, items)
        assert read_all(tmp_path / name) == (items, [])


@pytest.mark.parametrize("block", [1, 2, 7, 13, 14, 15])
def test_separators_straddling_block_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(gorfile, "BLOCK", block)
    items = [rec(ts=i, payload=GET[: i * 5]) for i in range(12)]
    write_gor(tmp_path / "s.gor", items)
    assert read_all(tmp_path / "s.gor") == (items, [])


def test_chunk_offsets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gorfile, "BLOCK", 7)
    first, second = rec().to_bytes(), rec(2, payload=OK).to_bytes()
    chunks = list(iter_chunks(io.BytesIO(first + second + b"1 a 1\ncut")))
    assert [(offset, complete) for offset, _, complete in chunks] == [
        (0, True),
        (len(first), True),
        (len(first) + len(second), False),
    ]


def test_reading_is_lazy(tmp_path: Path) -> None:
    path = tmp_path / "lazy.gor"
    write_gor(path, [rec(ts=1), rec(ts=2)])
    stream = read_gor(path, no_problem)
    assert next(stream) == rec(ts=1)
    path.unlink()  # already open: reading goes on
    assert list(stream) == [rec(ts=2)]


# --- problems -------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 20, len(GET), len(GET) + 30, -1, -5, -13])
def test_truncated_last_record(tmp_path: Path, cut: int) -> None:
    items = [rec(ts=1), rec(2, payload=OK, ts=2)]
    last = rec(ts=3, payload=GET + b"x" * 20).to_bytes()
    whole = b"".join(r.to_bytes() for r in items)
    (tmp_path / "t.gor").write_bytes(whole + last[:cut])
    found, problems = read_all(tmp_path / "t.gor")
    assert found == items
    message = "truncated record (no separator)"
    assert problems == [GorProblem(str(tmp_path / "t.gor"), len(whole), message)]
    assert str(problems[0]) == f"{tmp_path / 't.gor'}: byte {len(whole)}: {message}"


def test_trailing_blank_bytes_are_no_record(tmp_path: Path) -> None:
    (tmp_path / "n.gor").write_bytes(rec().to_bytes() + b"\n\n")
    assert read_all(tmp_path / "n.gor") == ([rec()], [])


@pytest.mark.parametrize(
    ("garbage", "message"),
    [
        (b"garbage meta line\nGET / HTTP/1.1\r\n\r\n", "not 'type id timestamp"),
        (b"1 onlytwo\n" + GET, "needs at least 3"),
        (b"no newline at all", "no payload"),
        (b"\x00\xff\xfe binary junk\x01\n\x02", "not 'type id timestamp"),
    ],
)
def test_corrupt_record_in_the_middle(tmp_path: Path, garbage: bytes, message: str) -> None:
    before, after = [rec(ts=1)], [rec(2, payload=OK, ts=2), rec(ts=3)]
    head = b"".join(r.to_bytes() for r in before)
    data = head + garbage + SEPARATOR + b"".join(r.to_bytes() for r in after)
    (tmp_path / "c.gor").write_bytes(data)
    found, problems = read_all(tmp_path / "c.gor")
    assert found == before + after
    assert [(p.offset, message in p.message) for p in problems] == [(len(head), True)]


def test_problems_of_every_record_are_reported_in_order(tmp_path: Path) -> None:
    bad = b"bad\n" + SEPARATOR
    data = bad + rec().to_bytes() + bad + b"1 a 1\ncut"
    (tmp_path / "m.gor").write_bytes(data)
    found, problems = read_all(tmp_path / "m.gor")
    assert found == [rec()]
    good = len(rec().to_bytes())
    assert [p.offset for p in problems] == [0, len(bad) + good, 2 * len(bad) + good]


def gz_of(items: Iterable[GorRecord]) -> tuple[bytes, list[int]]:
    """A gzip file of many records, flushed after each, and where each record ends."""
    raw, ends = io.BytesIO(), []
    with gzip.GzipFile(fileobj=raw, mode="wb") as packer:
        for item in items:
            packer.write(item.to_bytes())
            packer.flush()
            ends.append(raw.tell())
    return raw.getvalue(), ends


def test_truncated_gz_gives_the_records_before_the_cut(tmp_path: Path) -> None:
    items = [rec(ts=i, payload=GET + bytes(range(256)) * 40) for i in range(200)]
    data, ends = gz_of(items)
    (tmp_path / "t.gor.gz").write_bytes(data[: ends[150] + 10])
    found, problems = read_all(tmp_path / "t.gor.gz")
    assert 100 < len(found) <= 151
    assert found == items[: len(found)]
    assert len(problems) == 1
    assert problems[0].offset == sum(len(r.to_bytes()) for r in found)
    assert "unreadable" in problems[0].message


@pytest.mark.parametrize("where", [0.3, 0.6, 0.9])
def test_corrupt_gz_is_reported_not_raised(tmp_path: Path, where: float) -> None:
    data = bytearray(gz_of(rec(ts=i, payload=GET * i) for i in range(300))[0])
    at = int(len(data) * where)
    data[at : at + 40] = bytes(b ^ 0x5A for b in data[at : at + 40])
    (tmp_path / "c.gor.gz").write_bytes(bytes(data))
    found, problems = read_all(tmp_path / "c.gor.gz")
    assert found == [rec(ts=i, payload=GET * i) for i in range(len(found))]
    assert any("unreadable from here on" in p.message for p in problems)


@pytest.mark.parametrize("data", [b"", b"plain text, not gzip", b"\x1f\x8b\x08"])
def test_not_gzip_under_a_gz_name(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "x.gor.gz").write_bytes(data)
    found, problems = read_all(tmp_path / "x.gor.gz")
    assert found == []
    assert [p.offset for p in problems] == ([] if not data else [0])


def test_gzip_content_under_a_plain_name_is_not_sniffed(tmp_path: Path) -> None:
    (tmp_path / "x.gor").write_bytes(gzip.compress(rec().to_bytes()))
    found, problems = read_all(tmp_path / "x.gor")
    assert found == []
    assert len(problems) == 1


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "missing.gor"
    for name in (path, path.with_name("missing.gor.gz")):
        with pytest.raises(InputError, match=re.escape(str(name))):
            list(read_gor(name, no_problem))
    with pytest.raises(InputError, match=re.escape(str(path))):
        GorWriter(path)


def test_a_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=re.escape(str(tmp_path))):
        list(read_gor(tmp_path, no_problem))


# --- merge ----------------------------------------------------------------------------------


def test_merge_by_timestamp(tmp_path: Path) -> None:
    files = {
        "a.gor": [rec(ts=1, id_="a"), rec(2, ts=4, id_="a"), rec(ts=9, id_="a")],
        "b.gor.gz": [rec(ts=2, id_="b"), rec(2, ts=3, id_="b"), rec(ts=9, id_="b")],
        "c.gor": [rec(ts=0, id_="c"), rec(ts=10, id_="c")],
        "empty.gor": [],
    }
    for name, items in files.items():
        write_gor(tmp_path / name, items)
    merged = list(merge_gor([tmp_path / name for name in files], no_problem))
    assert [(r.timestamp, r.id) for r in merged] == [
        (0, "c"),
        (1, "a"),
        (2, "b"),
        (3, "b"),
        (4, "a"),
        (9, "a"),
        (9, "b"),
        (10, "c"),
    ]
    sources = {r.where.rpartition(": byte ")[0] for r in merged}
    assert sources == {str(tmp_path / name) for name in ("a.gor", "b.gor.gz", "c.gor")}


def test_merge_reports_problems_with_their_file(tmp_path: Path) -> None:
    write_gor(tmp_path / "a.gor", [rec(ts=1), rec(ts=3)])
    (tmp_path / "b.gor").write_bytes(rec(ts=2).to_bytes() + b"junk\n" + SEPARATOR)
    problems: list[GorProblem] = []
    merged = list(merge_gor([tmp_path / "a.gor", tmp_path / "b.gor"], problems.append))
    assert [r.timestamp for r in merged] == [1, 2, 3]
    at = len(rec().to_bytes())
    assert [(p.path, p.offset) for p in problems] == [(str(tmp_path / "b.gor"), at)]


# --- writer ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["w.gor", "w.gor.gz"])
def test_writer_appends(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with GorWriter(path) as writer:
        writer.write(rec(ts=1))
        writer.flush()
        assert writer.count == 1
    with GorWriter(path, append=True) as writer:
        writer.write(rec(ts=2))
    assert read_all(path) == ([rec(ts=1), rec(ts=2)], [])
    write_gor(path, [rec(ts=3)])  # not appending: starts over
    assert read_all(path) == ([rec(ts=3)], [])
