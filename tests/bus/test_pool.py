"""A worker pool on a real redis-server: two publishers, three worker processes, one of
them killed with SIGKILL mid-run, one stopped with SIGTERM, a busy one outliving the
others; every published exchange ends in the run exactly once, the run is closed by the
last worker alive, and the gate reads the run like any other."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import redis

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
    worker_rows,
    write_recording,
)
from tests.conftest import run_cli
from tests.servers import RawServer, answer


def test_two_publishers_three_workers_one_killed_every_exchange_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url("pool")
    ids = write_recording(tmp_path / "a.gor", "a", 300)
    ids += write_recording(tmp_path / "b.gor", "b", 300)
    db = tmp_path / "store.db"
    with RawServer(answer(), delay=0.01) as server:
        flags = ("--concurrency", "2", "--claim-idle", "1", "--idle-exit", "2")
        workers = [start_worker(url, server.url, db, f"w{n}", *flags) for n in range(3)]
        publishers = [start_publisher(url, str(tmp_path / f"{x}.gor")) for x in "ab"]
        for publisher in publishers:
            out, _ = finished(publisher)
            assert "published 300 exchanges" in out and "not sent: 0" in out
        wait_until(lambda: count_stored(db) >= 100, what="100 exchanges stored")
        workers[0].send_signal(signal.SIGKILL)
        workers[0].communicate(timeout=10)
        with redis_server.client() as client:  # what it held when it died
            held = len(client.xpending_range("pool", "g", "-", "+", 10_000, "w0"))
        outcomes = [finished(worker) for worker in workers[1:]]
    assert held > 0  # the killed worker held entries: the others had to claim them
    assert stored_ids(db, "pool") == sorted(ids)  # all 600, none twice
    status, traffic = run_row(db, "pool")
    assert status == "finished" and traffic["workers"] == 3
    assert traffic["reclaimed"] == held  # its entries, each claimed once; nobody else's
    assert traffic["exchanges"] == 600
    assert worker_rows(db, "pool")["w0"] == "gone"
    stored_by_each = [int(out.split(": ")[1].split(" ")[0]) for out, _ in outcomes]
    assert sum(stored_by_each) <= 600  # the outcome lines leave duplicates out
    with redis_server.client() as client:
        assert client.xpending("pool", "g")["pending"] == 0
    gate = run_cli("gate", "--db", str(db), "--run", "pool", "--json")
    assert json.loads(gate.stdout)["exchanges"] == 600, gate.stderr


def test_an_entry_the_run_holds_is_acknowledged_not_stored_again_own_pending_read_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url("again")
    ids = write_recording(tmp_path / "a.gor", "a", 50)
    db = tmp_path / "store.db"
    finished(start_publisher(url, str(tmp_path / "a.gor")))
    with redis_server.client() as client:  # delivered to "w" before it (re)started
        client.xgroup_create("again", "g", id="0")
        client.xreadgroup("g", "w", {"again": ">"}, count=50)
        reads_before = _xreadgroup_calls(client)
    with RawServer(answer()) as server:
        worker = start_worker(url, server.url, db, "w", "--idle-exit", "3")
        wait_until(lambda: count_stored(db) == 50, what="50 exchanges stored")
        with redis_server.client() as client:
            wait_until(lambda: client.xpending("again", "g")["pending"] == 0, what="acked")
            reads = _xreadgroup_calls(client) - reads_before
            client.xgroup_setid("again", "g", "0")  # every entry delivered again
        out, _ = finished(worker)
        assert len(server.received) == 50  # none replayed twice
    assert reads < 30  # its own pending entries were read once, not over and over
    assert stored_ids(db, "pool") == sorted(ids)
    assert out.startswith("run pool finished: 50 exchanges ")
    status, traffic = run_row(db, "pool")
    assert status == "finished" and traffic["duplicates"] == 50
    with redis_server.client() as client:
        assert client.xpending("again", "g")["pending"] == 0


def _xreadgroup_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return int(stats.get("cmdstat_xreadgroup", {}).get("calls", 0))


def test_a_run_of_another_command_or_closed_is_not_joined(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url("joins")
    write_recording(tmp_path / "a.gor", "a", 3)
    db = tmp_path / "store.db"
    with RawServer(answer()) as server:
        finished(start_worker(url, server.url, db, "w", "--idle-exit", "0.2"))
        again = start_worker(url, server.url, db, "w2", "--idle-exit", "0.2")
        one_line_error(*ended(again)[::2], 2, "--run pool: that run exists, made by this pool")
        done = run_cli(
            "replay", str(tmp_path / "a.gor"), "--target", server.url, "--db", str(db),
            "--run", "file", "--rules", str(tmp_path / "no-rules"),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        other = start_worker(url, server.url, db, "w3", "--idle-exit", "0.2", run="file")
        one_line_error(*ended(other)[::2], 2, "--run file: that run exists, made not by")
    status, _ = run_row(db, "file")
    assert status == "finished"


def test_a_busy_worker_keeps_the_run_open_when_another_leaves(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url("busy")
    ids = write_recording(tmp_path / "a.gor", "a", 30)
    db = tmp_path / "store.db"
    finished(start_publisher(url, str(tmp_path / "a.gor")))
    with RawServer(answer(), delay=0.6) as server:  # a slow target: B's queue stays full
        flags = ("--concurrency", "2", "--claim-idle", "1")
        slow = start_worker(url, server.url, db, "B", *flags, "--idle-exit", "1")
        wait_until(lambda: count_stored(db) >= 2, what="B at work")
        finished(start_worker(url, server.url, db, "A", *flags, "--exit-after", "2"))
        status, _ = run_row(db, "pool")
        assert count_stored(db) < 30  # B still has work
        assert status == "running" and worker_rows(db, "pool")["B"] == "running"
        finished(slow, timeout=60)
    assert stored_ids(db, "pool") == sorted(ids)
    status, traffic = run_row(db, "pool")
    assert status == "finished" and traffic["exchanges"] == 30 and traffic["workers"] == 2
    assert worker_rows(db, "pool") == {"A": "finished", "B": "finished"}
    assert len(server.received) == 30  # nothing queued was claimed and replayed twice


def test_sigterm_stores_what_is_in_flight_and_leaves_the_queue_to_the_others(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url("term")
    ids = write_recording(tmp_path / "a.gor", "a", 40)
    db = tmp_path / "store.db"
    finished(start_publisher(url, str(tmp_path / "a.gor")))
    with RawServer(answer(), delay=0.3) as server:
        first = start_worker(url, server.url, db, "A", "--concurrency", "4", "--claim-idle", "1")
        wait_until(lambda: count_stored(db) >= 4, what="A at work")
        first.send_signal(signal.SIGTERM)
        code, _, err = ended(first)
        assert code == 130 and "Traceback" not in err, err
        assert count_stored(db) == len(server.received)  # every request sent was stored
        assert run_row(db, "pool")[0] == "interrupted"  # closed: the group goes on in a new run
        rest = ("--claim-idle", "1", "--idle-exit", "1")
        finished(start_worker(url, server.url, db, "B", *rest, run="rest"))
    assert sorted(stored_ids(db, "pool") + stored_ids(db, "rest")) == sorted(ids)
    with redis_server.client() as client:
        assert client.xpending("term", "g")["pending"] == 0
    with sqlite3.connect(db) as conn:
        problems = conn.execute("SELECT count(*) FROM problems").fetchone()[0]
    assert problems == 0
