"""`shadowdiff merge`: a worker pool spread over two "machines" (two stores) becomes one run
that gate reads, each exchange once."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from shadowdiff.store import open_store
from shadowdiff.store.merge import TABLES
from tests.bus.conftest import RedisServer
from tests.bus.helpers import finished, start_publisher, start_worker, stored_ids, write_recording
from tests.conftest import run_cli
from tests.servers import RawServer, answer


def test_two_machines_stores_merge_into_one_run(tmp_path: Path, redis_server: RedisServer) -> None:
    ids = write_recording(tmp_path / "r.gor", "m", 80)
    url = redis_server.url("merge")
    finished(start_publisher(url, str(tmp_path / "r.gor")))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = tmp_path / "a" / "s.db", tmp_path / "b" / "s.db"
    with RawServer(answer(), delay=0.05) as server:  # slow: each worker gets a share
        flags = ("--concurrency", "2", "--idle-exit", "2")
        workers = [
            start_worker(url, server.url, db, f"w{n}", *flags) for n, db in enumerate((a, b))
        ]
        for worker in workers:
            finished(worker)
    shares = stored_ids(a, "pool"), stored_ids(b, "pool")
    assert all(shares) and sorted(shares[0] + shares[1]) == sorted(ids)  # split, once

    done = run_cli("merge", "--db", str(a), "--from", str(b), "--run", "pool")
    assert done.returncode == 0, done.stderr
    assert f"{len(shares[1])} exchange(s) added, 0 already in" in done.stdout
    assert sorted(stored_ids(a, "pool")) == sorted(ids)
    gate = json.loads(run_cli("gate", "--db", str(a), "--run", "pool", "--json").stdout)
    assert gate["exchanges"] == 80 and gate["same"] == 80 and gate["status"] == "finished"

    again = run_cli("merge", "--db", str(a), "--from", str(b), "--run", "pool")
    assert f"0 exchange(s) added, {len(shares[1])} already in" in again.stdout  # by bus uid
    assert sorted(stored_ids(a, "pool")) == sorted(ids)


def test_merge_mistakes_are_one_line(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    open_store(db).close()
    same = run_cli("merge", "--db", str(db), "--from", str(db), "--run", "x")
    assert same.returncode == 2 and "that is the store merged into" in same.stderr
    other = tmp_path / "o.db"
    open_store(other).close()
    unknown = run_cli("merge", "--db", str(db), "--from", str(other), "--run", "x")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == f"shadowdiff: error: --run x: no such run in {other}"
    missing = run_cli("merge", "--db", str(db), "--from", str(tmp_path / "none.db"), "--run", "x")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_every_table_of_a_run_is_decided(tmp_path: Path) -> None:
    """A new table with a run_id must say whether merge copies it."""
    db = open_store(tmp_path / "s.db")
    with_run = {
        table
        for table in db.table_names()
        if table != "runs" and "run_id" in db.table(table).columns_dict
    }
    assert with_run == set(TABLES)
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
