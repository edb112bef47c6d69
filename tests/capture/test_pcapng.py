from pathlib import Path

from shadowdiff.capture.pcapng import PacketCounter
from tests.capture.test_import import REAL


def test_counts_the_packets_of_a_real_capture() -> None:
    assert PacketCounter(REAL).count() == 24  # capinfos -c says 24


def test_counts_a_growing_file_without_rereading_and_waits_for_half_written_blocks(
    tmp_path: Path,
) -> None:
    data = REAL.read_bytes()
    growing = tmp_path / "growing.pcapng"
    growing.write_bytes(data[: len(data) // 2])
    counter = PacketCounter(growing)
    first = counter.count()
    assert 0 < first < 24
    growing.write_bytes(data)
    assert counter.count() == 24 and counter.offset == len(data)


def test_a_missing_file_counts_nothing(tmp_path: Path) -> None:
    assert PacketCounter(tmp_path / "gone.pcapng").count() == 0
