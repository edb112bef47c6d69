"""A worker pool on a real redis-server: two publishers, three worker processes, one of
them killed with SIGKILL mid-run; every published exchange ends in the run exactly once,
and the gate reads the run like any other."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.bus.conftest import RedisServer
from tests.bus.helpers import (
    count_stored,
    finished,
    run_row,
    start_publisher,
    start_worker,
    stored_ids,
    wait_until,
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
        with redis_server.client() as client:
            held = {c["name"]: c["pending"] for c in client.xinfo_consumers("pool", "g")}
        workers[0].send_signal(signal.SIGKILL)
        workers[0].communicate(timeout=10)
        for worker in workers[1:]:
            finished(worker)
    assert held[b"w0"] > 0  # the killed worker held entries: the others had to claim them
    assert stored_ids(db, "pool") == sorted(ids)  # all 600, none twice
    status, traffic = run_row(db, "pool")
    assert status == "finished"
    assert traffic["reclaimed"] >= held[b"w0"] and traffic["workers"] == 3
    with redis_server.client() as client:
        assert client.xpending("pool", "g")["pending"] == 0
    gate = run_cli("gate", "--db", str(db), "--run", "pool", "--json")
    assert json.loads(gate.stdout)["exchanges"] == 600, gate.stderr


def test_a_restarted_worker_finds_its_stored_entries_and_stores_nothing_twice(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url("again")
    ids = write_recording(tmp_path / "a.gor", "a", 50)
    db = tmp_path / "store.db"
    with RawServer(answer()) as server:
        finished(start_publisher(url, str(tmp_path / "a.gor")))
        flags = ("--idle-exit", "0.5")
        finished(start_worker(url, server.url, db, "w", *flags))
        with redis_server.client() as client:  # as if the worker died before its XACKs
            client.xgroup_setid("again", "g", "0")
        out, _ = finished(start_worker(url, server.url, db, "w", *flags))
    assert stored_ids(db, "pool") == sorted(ids)
    assert "0 exchanges" in out
    status, traffic = run_row(db, "pool")
    assert status == "finished" and traffic["duplicates"] == 50
