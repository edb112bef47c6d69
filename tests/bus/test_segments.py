"""Recording segments on a real redis-server: a segment of traffic published as a capture
host would (paced), replayed twice with identical exchange sets, at its recorded pace when
asked, exported to a .gor file byte for byte, and refused once trimming ate its start."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.bus.conftest import RedisServer
from tests.bus.helpers import finished, start_publisher, stored_ids, write_recording
from tests.conftest import run_cli
from tests.servers import RawServer, answer


def segment(*args: str) -> dict[str, object] | None:
    done = run_cli("segment", *args)
    assert done.returncode == 0, done.stderr
    return None


def test_a_segment_replays_twice_with_the_same_exchanges_and_exports_to_gor(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url("seg")
    ids = write_recording(tmp_path / "in.gor", "in", 40, gap_ms=20)
    write_recording(tmp_path / "out.gor", "out", 10)
    finished(start_publisher(url, str(tmp_path / "out.gor")))  # before: not in the segment
    segment("start", "morning", "--bus", url)
    finished(start_publisher(url, f"{tmp_path / 'in.gor'}|100%"))
    segment("stop", "morning", "--bus", url)
    finished(start_publisher(url, str(tmp_path / "out.gor")))  # after: not in it either
    listed = json.loads(run_cli("segment", "list", "--bus", url, "--json").stdout)
    assert [(s["name"], s["count"], s["intact"]) for s in listed] == [("morning", 40, True)]
    assert 0.6 <= listed[0]["span_seconds"] <= 3.0  # 40 exchanges 20 ms apart, published paced
    db = tmp_path / "store.db"
    (tmp_path / "none").mkdir()
    spreads = {}
    with RawServer(answer()) as server:
        for run, speed in (("first", "|100%"), ("second", "")):
            started = len(server.arrived)
            done = run_cli(
                "replay", "--from", url + speed, "--segment", "morning", "--target", server.url,
                "--db", str(db), "--run", run, "--rules", str(tmp_path / "none"),
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert f"run {run} finished: 40 exchanges" in done.stdout
            arrived = server.arrived[started:]
            spreads[run] = arrived[-1] - arrived[0]
    assert spreads["first"] >= 0.7  # |100%: the recorded 0.78 s, at least
    assert spreads["second"] < spreads["first"] / 2  # unpaced: as fast as it goes
    assert stored_ids(db, "first") == stored_ids(db, "second") == sorted(ids)
    exported = tmp_path / "morning.gor"
    done = run_cli("segment", "export", "morning", "--bus", url, "-o", str(exported))
    assert done.returncode == 0, done.stderr
    assert exported.read_bytes() == (tmp_path / "in.gor").read_bytes()


def test_a_segment_whose_start_was_trimmed_is_refused_with_one_line(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url("trimmed", maxlen=100)
    write_recording(tmp_path / "a.gor", "a", 20)
    write_recording(tmp_path / "b.gor", "b", 1000)
    segment("start", "early", "--bus", url)
    finished(start_publisher(url, str(tmp_path / "a.gor")))
    segment("stop", "early", "--bus", url)
    finished(start_publisher(url, str(tmp_path / "b.gor")))
    listed = run_cli("segment", "list", "--bus", url)
    assert "TRIMMED" in listed.stdout
    for args in (
        ("replay", "--from", url, "--segment", "early", "--target", "http://127.0.0.1:9"),
        ("segment", "export", "early", "--bus", url, "-o", str(tmp_path / "x.gor")),
    ):
        done = run_cli(*args)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and "segment early: trimmed" in done.stderr
    assert not (tmp_path / "x.gor").exists()


def test_segment_mistakes_are_one_line_and_exit_2(redis_server: RedisServer) -> None:
    url = redis_server.url(f"mistakes-{time.monotonic_ns()}")
    cases = [
        (("segment", "stop", "nope", "--bus", url), "segment nope: no such segment"),
        (("segment", "export", "nope", "--bus", url, "-o", "x.gor"), "no such segment"),
        (("segment", "start", "dup", "--bus", url), ""),
        (("segment", "start", "dup", "--bus", url), "segment dup: already exists"),
        (("replay", "--from", url, "--segment", "dup", "--target", "http://127.0.0.1:9"),
         "segment dup: still recording"),
    ]  # fmt: skip
    for args, message in cases:
        done = run_cli(*args)
        if not message:
            assert done.returncode == 0, done.stderr
            continue
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
