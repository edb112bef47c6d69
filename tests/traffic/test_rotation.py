"""GoReplay's --output-file: names, chunks, restarts, rollover, append, gzip, limits (real
files in tmp_path)."""

from __future__ import annotations

import gzip
import random
import re
import time
import zlib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pytest

from shadowdiff.errors import InputError
from shadowdiff.gorfile import SEPARATOR, GorProblem, GorRecord, read_gor
from shadowdiff.traffic import rotation
from shadowdiff.traffic.rotation import OutputLimitReached, RotatingGorWriter, parse_size

GET = b"GET /api/users/7 HTTP/1.1\r\nHost: shop\r\n\r\n"
JAN_2 = datetime(2024, 1, 2, 10, 59, 30, 123456)


def make_record(n: int, type_: int = 1, payload: bytes = GET) -> GorRecord:
    return GorRecord(type_, f"{n:024x}", 1_700_000_000_000_000_000 + n, 1000, payload)


def make_records(count: int, payload: bytes = GET) -> list[GorRecord]:
    return [make_record(n, payload=payload) for n in range(count)]


def fixed_clock(at: datetime = JAN_2) -> list[datetime]:
    """A clock the test moves: the writer reads `moment[0]`."""
    return [at]


def write_all(writer: RotatingGorWriter, records: Iterable[GorRecord]) -> None:
    for record in records:
        writer.write(record)


def read_back(path: Path) -> list[GorRecord]:
    problems: list[GorProblem] = []
    records = list(read_gor(path, problems.append))
    assert problems == []
    return records


def names(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("requests.gor", "requests_0.gor"),
        ("%Y-%m-%d.gz", "2024-01-02_0.gz"),
        ("x.gor.gz", "x.gor_0.gz"),
        ("name", "name_0"),
        ("%Y_%m_%d.gor", "2024_01_02_0.gor"),  # GoReplay would make this 2024_01_0.gor
        ("logs/%Y%m%d/%H%M%S.gor", "logs/20240102/105930_0.gor"),
        ("ns-%NS.gor", "ns-123456000_0.gor"),
    ],
)
def test_chunk_names_put_the_index_before_the_last_extension(
    tmp_path: Path, template: str, expected: str
) -> None:
    moment = fixed_clock()
    with RotatingGorWriter(str(tmp_path / template), clock=lambda: moment[0]) as writer:
        writer.write(make_record(1))
    assert names(tmp_path) == [expected]
    assert writer.paths_written == [tmp_path / expected]
    assert read_back(tmp_path / expected) == [make_record(1)]


def test_chunks_hold_256_messages_by_default(tmp_path: Path) -> None:
    records = make_records(600)
    with RotatingGorWriter(str(tmp_path / "requests.gor")) as writer:
        write_all(writer, records)
    assert names(tmp_path) == ["requests_0.gor", "requests_1.gor", "requests_2.gor"]
    chunks = [read_back(path) for path in writer.paths_written]
    assert [len(chunk) for chunk in chunks] == [256, 256, 88]
    assert [record for chunk in chunks for record in chunk] == records


def test_a_chunk_ends_once_its_size_reaches_the_limit(tmp_path: Path) -> None:
    records = make_records(10)
    size = len(records[0].to_bytes())
    limit = 3 * size + 1  # the fourth record reaches it, the fifth opens the next chunk
    with RotatingGorWriter(str(tmp_path / "r.gor"), size_limit=limit, queue_limit=0) as writer:
        write_all(writer, records)
    sizes = [path.stat().st_size for path in writer.paths_written]
    assert sizes == [4 * size, 4 * size, 2 * size]


def test_a_restart_continues_at_the_last_index_plus_one(tmp_path: Path) -> None:
    template = str(tmp_path / "requests.gor")
    with RotatingGorWriter(template) as first:
        write_all(first, make_records(3))
    (tmp_path / "requests_7.gor").write_bytes(b"")
    (tmp_path / "requests_old.gor").write_bytes(b"")  # not a chunk: ignored
    (tmp_path / "requests_99.gor.bak").write_bytes(b"")  # another extension: ignored
    with RotatingGorWriter(template) as second:
        write_all(second, make_records(2))
    assert second.paths_written == [tmp_path / "requests_8.gor"]
    assert len(read_back(tmp_path / "requests_0.gor")) == 3


def test_an_existing_chunk_is_never_overwritten(tmp_path: Path) -> None:
    template = str(tmp_path / "r.gor")
    with RotatingGorWriter(template, queue_limit=1) as writer:
        writer.write(make_record(1))
        (tmp_path / "r_1.gor").write_bytes(b"someone else's")  # appears while writing
        writer.write(make_record(2))
    assert (tmp_path / "r_1.gor").read_bytes() == b"someone else's"
    assert writer.paths_written == [tmp_path / "r_0.gor", tmp_path / "r_2.gor"]


def test_an_index_taken_by_another_writer_meanwhile_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "r_0.gor").write_bytes(b"another writer's")
    monkeypatch.setattr(rotation, "next_index", lambda name: 0)  # as if it had just appeared
    with RotatingGorWriter(str(tmp_path / "r.gor")) as writer:
        writer.write(make_record(1))
    assert (tmp_path / "r_0.gor").read_bytes() == b"another writer's"
    assert read_back(tmp_path / "r_1.gor") == [make_record(1)]


def test_a_new_hour_starts_a_new_file_and_completes_the_old_one(tmp_path: Path) -> None:
    moment = fixed_clock(datetime(2024, 1, 2, 10, 59, 59))
    template = str(tmp_path / "requests-%Y-%m-%d-%H.gor.gz")
    with RotatingGorWriter(template, clock=lambda: moment[0]) as writer:
        write_all(writer, make_records(2))
        moment[0] = datetime(2024, 1, 2, 11, 0, 0)
        writer.write(make_record(2))
        ten = tmp_path / "requests-2024-01-02-10.gor_0.gz"
        assert read_back(ten) == make_records(2)  # closed: a complete gzip file already
        writer.write(make_record(3))
    assert names(tmp_path) == [ten.name, "requests-2024-01-02-11.gor_0.gz"]
    assert read_back(writer.paths_written[1]) == [make_record(2), make_record(3)]


def test_the_index_continues_per_rendered_name(tmp_path: Path) -> None:
    moment = fixed_clock(datetime(2024, 1, 2, 10, 0))
    (tmp_path / "r-11_4.gor").write_bytes(b"")  # an earlier run during the 11 o'clock hour
    with RotatingGorWriter(str(tmp_path / "r-%H.gor"), clock=lambda: moment[0]) as writer:
        writer.write(make_record(1))
        moment[0] = datetime(2024, 1, 2, 11, 0)
        writer.write(make_record(2))
    assert [path.name for path in writer.paths_written] == ["r-10_0.gor", "r-11_5.gor"]


@pytest.mark.parametrize("name", ["%Y%m%d.log", "%Y%m%d.log.gz"])
def test_append_writes_one_file_per_rendered_name(tmp_path: Path, name: str) -> None:
    moment = fixed_clock()
    template = str(tmp_path / name)
    for count in (3, 300):
        with RotatingGorWriter(template, append=True, clock=lambda: moment[0]) as writer:
            write_all(writer, make_records(count))
    rendered = name.replace("%Y%m%d", "20240102")
    assert names(tmp_path) == [rendered]
    assert read_back(tmp_path / rendered) == make_records(3) + make_records(300)


def test_gzip_chunks_are_complete_files_that_read_back(tmp_path: Path) -> None:
    records = [make_record(n, type_=1 + n % 2) for n in range(250)]
    with RotatingGorWriter(str(tmp_path / "x.gor.gz"), queue_limit=100) as writer:
        write_all(writer, records)
    assert names(tmp_path) == ["x.gor_0.gz", "x.gor_1.gz", "x.gor_2.gz"]
    for path in writer.paths_written:
        assert gzip.decompress(path.read_bytes()).endswith(SEPARATOR)
    assert [r for path in writer.paths_written for r in read_back(path)] == records


def test_gzip_size_limit_counts_compressed_bytes(tmp_path: Path) -> None:
    noise = random.Random(7)
    records = [make_record(n, payload=noise.randbytes(5000) + bytes(5000)) for n in range(60)]
    template = str(tmp_path / "x.gz")
    with RotatingGorWriter(template, size_limit=20_000, queue_limit=0) as writer:
        write_all(writer, records)  # 10 KB each, about 5 KB compressed
    assert 5 <= len(writer.paths_written) <= 20  # 300 KB on disk; 600 KB would be 30 chunks
    assert [r for path in writer.paths_written for r in read_back(path)] == records


def test_request_id_and_type_placeholders(tmp_path: Path) -> None:
    template = str(tmp_path / "by-id" / "%r-%t.gor")
    with RotatingGorWriter(template) as writer:
        for n in (1, 2):  # interleaved: request 1, request 2, response 1, response 2
            writer.write(make_record(n, type_=1))
        for n in (1, 2):
            writer.write(make_record(n, type_=2))
    assert names(tmp_path / "by-id") == [
        f"{1:024x}-1_0.gor",
        f"{1:024x}-2_0.gor",
        f"{2:024x}-1_0.gor",
        f"{2:024x}-2_0.gor",
    ]


def test_an_id_from_the_wire_cannot_leave_the_directory(tmp_path: Path) -> None:
    record = GorRecord(1, "../../evil", 1, 0, GET)
    with RotatingGorWriter(str(tmp_path / "out" / "%r" / "r.gor")) as writer:
        writer.write(record)
    assert writer.paths_written == [tmp_path / "out" / "______evil" / "r_0.gor"]


def test_ids_of_one_record_per_file_stay_open_together(tmp_path: Path) -> None:
    with RotatingGorWriter(str(tmp_path / "%r.gor")) as writer:
        for n in range(40):  # more ids than files kept open: the oldest are closed
            writer.write(make_record(n))
        writer.write(make_record(39, type_=2))
    assert len(names(tmp_path)) == 40
    assert len(read_back(tmp_path / f"{39:024x}_0.gor")) == 2


def test_instance_placeholder_is_eight_letters_per_writer(tmp_path: Path) -> None:
    with RotatingGorWriter(str(tmp_path / "%i.gor")) as one:
        one.write(make_record(1))
    with RotatingGorWriter(str(tmp_path / "%i.gor")) as two:
        two.write(make_record(1))
    assert re.fullmatch(r"[A-Za-z]{8}", one.instance_id)
    assert one.instance_id != two.instance_id
    assert names(tmp_path) == sorted([f"{one.instance_id}_0.gor", f"{two.instance_id}_0.gor"])


def test_max_size_stops_the_output_with_one_line(tmp_path: Path) -> None:
    record = make_record(1)
    size = len(record.to_bytes())
    with RotatingGorWriter(str(tmp_path / "r.gor"), max_size=3 * size) as writer:
        write_all(writer, [record, record])
        with pytest.raises(OutputLimitReached) as raised:
            writer.write(record)  # reaches the limit: written, then refused
        with pytest.raises(OutputLimitReached):
            writer.write(record)  # over it: not written
    assert raised.value.exit_code == 3
    assert "--output-file-max-size-limit" in str(raised.value)
    assert "\n" not in str(raised.value)
    assert read_back(tmp_path / "r_0.gor") == [record] * 3


@pytest.mark.parametrize("name", ["r.gor", "r.gor.gz"])
def test_records_reach_the_disk_within_the_flush_interval(tmp_path: Path, name: str) -> None:
    with RotatingGorWriter(str(tmp_path / name), flush_interval=0.05) as writer:
        writer.write(make_record(1))
        deadline = time.monotonic() + 2
        while not on_disk(writer.paths_written[0]) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert on_disk(writer.paths_written[0]) == make_record(1).to_bytes()


def on_disk(path: Path) -> bytes:
    """What a reader would find now, the writer still open (a gzip stream without its end)."""
    data = path.read_bytes()
    return zlib.decompressobj(wbits=31).decompress(data) if path.suffix == ".gz" else data


def test_an_unwritable_place_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    problem = r"^--output-file .*/file: cannot create the directory: "
    writer = RotatingGorWriter(str(tmp_path / "file" / "r.gor"))
    with writer, pytest.raises(InputError, match=problem):
        writer.write(make_record(1))


def test_writing_after_close_is_refused(tmp_path: Path) -> None:
    writer = RotatingGorWriter(str(tmp_path / "r.gor"))
    writer.close()
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(make_record(1))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("1024", 1024),
        ("100b", 100),
        ("32mb", 32 << 20),
        ("32MB", 32 << 20),
        ("500kb", 500 << 10),
        ("7k", 7 << 10),
        ("2g", 2 << 30),
        ("2 GB", 2 << 30),
        ("1TB", 1 << 40),
        ("1t", 1 << 40),
    ],
)
def test_parse_size(value: str, expected: int) -> None:
    assert parse_size(value, "--output-file-size-limit") == expected


@pytest.mark.parametrize("value", ["", "mb", "-1", "1.5mb", "12xb", "32 mib", "0x10"])
def test_parse_size_names_the_flag(value: str) -> None:
    with pytest.raises(InputError, match=r"^--output-file-max-size-limit '.*': expected a size"):
        parse_size(value, "--output-file-max-size-limit")
