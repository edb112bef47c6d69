"""What Redis says besides "unreachable", and malformed data on the bus: one line each,
never a traceback. A key of the wrong type is refused at start (exit 2); an error reply
mid-run stops the publisher or the worker with exit 3, everything not sent counted."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from shadowdiff.bus.entry import FIELD, UID
from shadowdiff.bus.publish import Publisher
from shadowdiff.bus.segments import segments_key
from tests.bus.conftest import RedisServer
from tests.bus.helpers import (
    count_stored,
    ended,
    finished,
    one_line_error,
    run_row,
    start_publisher,
    start_worker,
    stored_ids,
    wait_until,
    write_recording,
)
from tests.conftest import run_cli
from tests.servers import RawServer, answer


def test_a_stream_key_of_another_type_is_refused_at_start(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    write_recording(tmp_path / "a.gor", "a", 5)
    with redis_server.client() as client:
        client.set("plain", "x")
        client.set(segments_key("seg-plain"), "x")
    url = redis_server.url("plain")
    expected = "the key 'plain' holds a string, not a stream"
    for args in (
        ("publish", str(tmp_path / "a.gor"), "--to", url, "--buffer", "5"),
        ("replay", "--from", url, "--group", "g", "--target", "http://127.0.0.1:9"),
        ("segment", "start", "s", "--bus", url),
        ("segment", "list", "--bus", url),
    ):
        done = run_cli(*args)
        one_line_error(done.returncode, done.stderr, 2, expected)
    done = run_cli("segment", "list", "--bus", redis_server.url("seg-plain"))
    one_line_error(done.returncode, done.stderr, 2, "holds a string, not a hash")


def test_a_publisher_refused_mid_run_stops_counts_and_never_blocks(
    redis_server: RedisServer,
) -> None:
    url = redis_server.bus("refused-inproc")
    publisher = Publisher(url, buffer=5)
    publisher.start()
    assert publisher.put(b"1 a 1\nGET / HTTP/1.1\r\n\r\n")
    wait_until(lambda: publisher.stats.sent == 1, what="the first entry sent")
    with redis_server.client() as client:
        client.delete("refused-inproc")
        client.set("refused-inproc", "x")
    started, handed = time.monotonic(), 1
    while handed < 100 and publisher.put(b"entry"):  # would block forever on a dead thread
        handed += 1
    assert time.monotonic() - started < 10 and publisher.failure is not None
    assert "Redis refused the entries: WRONGTYPE" in publisher.failure
    stats = publisher.close()
    assert stats.sent == 1 and stats.sent + stats.dropped_refused == handed + 1  # + the refused put
    assert publisher.send(b"later") is False


def test_publish_refused_mid_run_exits_3_with_one_line(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    write_recording(tmp_path / "a.gor", "a", 200, gap_ms=5)
    url, stats = redis_server.url("refused"), tmp_path / "stats.json"
    publisher = start_publisher(url, f"{tmp_path / 'a.gor'}|100%", stats=stats)
    with redis_server.client() as client:
        wait_until(lambda: client.xlen("refused") >= 20, what="20 entries published")
        client.set("refused", "x")  # one command: the stream is never seen missing
    code, out, err = ended(publisher)
    one_line_error(code, err, 3, "Redis refused the entries: WRONGTYPE")
    counts = json.loads(stats.read_text())
    assert counts["dropped_refused"] > 0 and counts["sent"] >= 20
    assert sum(counts[k] for k in counts if k != "outages") == 200
    assert "refused" in out


def test_a_worker_refused_mid_run_exits_3_with_one_line(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url, db = redis_server.url("worker-refused"), tmp_path / "store.db"
    write_recording(tmp_path / "a.gor", "a", 5)
    finished(start_publisher(url, str(tmp_path / "a.gor")))
    with RawServer(answer()) as server:
        worker = start_worker(url, server.url, db, "w", "--exit-after", "30")
        wait_until(lambda: count_stored(db) == 5, what="5 exchanges stored")
        with redis_server.client() as client:
            client.set("worker-refused", "x")  # one command: never seen missing
        code, _, err = ended(worker)
    one_line_error(code, err, 3, "Redis refused: WRONGTYPE")
    assert run_row(db, "pool")[0] == "failed"


def test_trimmed_pending_entries_are_problems_of_the_run_and_counted(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url, db = redis_server.url("trim"), tmp_path / "store.db"
    ids = write_recording(tmp_path / "a.gor", "a", 10)
    finished(start_publisher(url, str(tmp_path / "a.gor")))
    with redis_server.client() as client:  # delivered to "w", then trimmed away
        client.xgroup_create("trim", "g", id="0")
        client.xreadgroup("g", "w", {"trim": ">"}, count=3)
        client.xtrim("trim", maxlen=7, approximate=False)
    with RawServer(answer()) as server:
        _, err = finished(start_worker(url, server.url, db, "w", "--idle-exit", "0.5"))
    assert stored_ids(db, "pool") == sorted(ids[3:])
    assert err.count("trimmed from the stream") == 3
    status, traffic = run_row(db, "pool")
    assert status == "finished" and traffic["trimmed"] == 3
    with sqlite3.connect(db) as conn:
        problems = [row[0] for row in conn.execute("SELECT message FROM problems")]
    assert len(problems) == 3 and all("trimmed" in problem for problem in problems)


def test_an_exchange_published_twice_is_stored_and_replayed_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url, db = redis_server.url("twice"), tmp_path / "store.db"
    write_recording(tmp_path / "a.gor", "a", 1)
    entry = (tmp_path / "a.gor").read_bytes()
    with redis_server.client() as client:  # a batch resent after its reply was lost
        for _ in range(2):
            client.xadd("twice", {FIELD: entry, UID: b"p:1"})
    with RawServer(answer()) as server:
        finished(start_worker(url, server.url, db, "w", "--idle-exit", "0.5"))
    assert stored_ids(db, "pool") == ["a00000"]
    assert run_row(db, "pool")[1]["duplicates"] == 1


def test_malformed_entries_and_segments_are_one_line(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url("bad")
    write_recording(tmp_path / "a.gor", "a", 2)
    assert run_cli("segment", "start", "s", "--bus", url).returncode == 0
    finished(start_publisher(url, str(tmp_path / "a.gor")))
    with redis_server.client() as client:
        client.xadd("bad", {FIELD: b"1 x 1\nGET / HTTP/1.1\r\n\r\n", UID: b"p:9"})  # no separator
        client.hset(segments_key("bad"), "broken", '{"name": "bad"}')
    assert run_cli("segment", "stop", "s", "--bus", url).returncode == 0
    done = run_cli("segment", "export", "s", "--bus", url, "-o", str(tmp_path / "s.gor"))
    one_line_error(done.returncode, done.stderr, 2, "no separator")
    assert not (tmp_path / "s.gor").exists()
    listed = run_cli("segment", "list", "--bus", url)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert listed.stdout.startswith("s ") and "segment broken: not a segment" in listed.stderr
    done = run_cli("segment", "stop", "broken", "--bus", url)
    one_line_error(done.returncode, done.stderr, 2, "segment broken: not a segment")
    (tmp_path / "none").mkdir()
    with RawServer(answer()) as server:
        done = run_cli(
            "replay", "--from", url, "--segment", "s", "--target", server.url,
            "--db", str(tmp_path / "store.db"), "--rules", str(tmp_path / "none"),
        )  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "2 exchanges" in done.stdout and "no separator) (skipped)" in done.stderr
