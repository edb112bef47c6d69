"""Redis going away mid-run and coming back: publishers count what they could not send,
workers wait and resume, and every exchange the stream holds is in the store once (a
batch sent again after its reply was lost is there twice, under one uid)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bus.conftest import RedisServer
from tests.bus.helpers import (
    count_stored,
    finished,
    logged,
    run_row,
    start_publisher,
    start_worker,
    stored_ids,
    stored_uids,
    wait_until,
    worker_rows,
    write_recording,
)
from tests.servers import RawServer, answer


def test_redis_down_and_back_losses_counted_workers_resume_nothing_acked_lost(
    tmp_path: Path,
) -> None:
    ids = write_recording(tmp_path / "a.gor", "a", 600, gap_ms=5)  # 3 s at the recorded pace
    db, stats = tmp_path / "store.db", tmp_path / "stats.json"
    logs = [tmp_path / f"w{n}.log" for n in range(2)]
    published_log = tmp_path / "publisher.log"
    with RedisServer(tmp_path / "redis", persistent=True) as redis_server:
        url = redis_server.url("live")
        with RawServer(answer()) as server:
            flags = ("--claim-idle", "1", "--idle-exit", "3")
            workers = [
                start_worker(url, server.url, db, f"w{n}", *flags, log=logs[n]) for n in range(2)
            ]
            wait_until(lambda: len(worker_rows(db, "pool")) == 2, what="both workers joined")
            publisher = start_publisher(
                url, f"{tmp_path / 'a.gor'}|100%", stats=stats, buffer=5, log=published_log
            )
            wait_until(lambda: count_stored(db) >= 50, what="50 exchanges stored")
            redis_server.stop()
            before = count_stored(db)
            wait_until(
                lambda: all(logged(log, "Redis unreachable") for log in [*logs, published_log]),
                what="the workers and the publisher noticed",
            )
            redis_server.start()
            _, published = finished(publisher, log=published_log)
            outcomes = [
                finished(worker, log=log) for worker, log in zip(workers, logs, strict=True)
            ]
            after = count_stored(db)
        with redis_server.client() as client:
            in_stream = [fields[b"uid"].decode() for _, fields in client.xrange("live")]
            assert client.xpending("live", "g")["pending"] == 0
    counts = json.loads(stats.read_text())
    assert counts["outages"] >= 1 and counts["dropped_unreachable"] > 0
    assert counts["sent"] + counts["dropped_full"] + counts["dropped_unreachable"] == 600
    assert "Redis unreachable" in published
    assert len(set(in_stream)) == counts["sent"]  # a batch resent is there twice, one uid
    assert after > before  # the workers resumed
    assert any("Redis reachable again" in err for _, err in outcomes)
    stored = stored_ids(db, "pool")
    assert len(stored) == len(set(stored)) and set(stored) <= set(ids)
    uids = stored_uids(db, "pool")
    assert len(uids) == len(set(uids))
    assert set(uids) == set(in_stream)  # every exchange Redis holds, once
    status, traffic = run_row(db, "pool")
    assert status == "finished" and traffic["workers"] == 2
    assert traffic["exchanges"] == len(set(in_stream))
