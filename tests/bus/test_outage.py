"""Redis going away mid-run and coming back: publishers count what they could not send,
workers wait and resume, and everything acknowledged is in the store, once."""

from __future__ import annotations

import json
import time
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
from tests.servers import RawServer, answer


def test_redis_down_and_back_losses_counted_workers_resume_nothing_acked_lost(
    tmp_path: Path,
) -> None:
    ids = write_recording(tmp_path / "a.gor", "a", 600, gap_ms=5)  # 3 s at the recorded pace
    db, stats = tmp_path / "store.db", tmp_path / "stats.json"
    with RedisServer(tmp_path / "redis", persistent=True) as redis_server:
        url = redis_server.url("live")
        with RawServer(answer()) as server:
            flags = ("--claim-idle", "1", "--idle-exit", "3")
            workers = [start_worker(url, server.url, db, f"w{n}", *flags) for n in range(2)]
            publisher = start_publisher(url, f"{tmp_path / 'a.gor'}|100%", stats=stats, buffer=20)
            wait_until(lambda: count_stored(db) >= 50, what="50 exchanges stored")
            redis_server.stop()
            before = count_stored(db)
            time.sleep(1.5)
            redis_server.start()
            _, published = finished(publisher)
            outcomes = [finished(worker) for worker in workers]
            after = count_stored(db)
        with redis_server.client() as client:
            in_stream = sorted(entry_id.decode() for entry_id, _ in client.xrange("live"))
            assert client.xpending("live", "g")["pending"] == 0
    counts = json.loads(stats.read_text())
    assert counts["outages"] >= 1 and counts["dropped_unreachable"] > 0
    assert counts["sent"] + counts["dropped_full"] + counts["dropped_unreachable"] == 600
    assert "Redis unreachable" in published
    assert len(in_stream) >= counts["sent"]  # (a batch whose reply was lost is resent)
    assert after > before  # the workers resumed
    assert any("Redis reachable again" in err for _, err in outcomes)
    stored = stored_ids(db, "pool")
    assert set(stored) <= set(ids)
    assert sorted(stored_entries(db)) == in_stream  # every entry Redis holds, once
    status, traffic = run_row(db, "pool")
    assert status == "finished" and traffic["workers"] == 2


def stored_entries(db: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT entry_id FROM bus_entries")]
