"""One run fed by many workers: the first creates it, the others join it, the last one
to stop closes it.

Workers of a run share its SQLite file (`--db`, WAL and a busy timeout: the store takes
writers from several processes). Each worker has a row in `bus_workers`, seen at every
flush; when a worker stops, it marks its row, and if no other worker of the run is still
running (a row `running` seen within STALE seconds: a worker killed with SIGKILL never
marks its row), it closes the run: status, finished_at, and the traffic counts of all
its workers summed.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from sqlite_utils import Database

from shadowdiff.store.schema import write_transaction
from shadowdiff.store.writer import now

STALE = 120.0  # seconds without a flush after which a running worker is taken for dead


def join_run(db: Database, name: str, row: dict[str, Any], consumer: str) -> int:
    """The id of the run `name` (created from `row` if it does not exist yet), with this
    consumer registered as one of its running workers."""
    with write_transaction(db):
        found = db.execute("SELECT id FROM runs WHERE name = ?", [name]).fetchone()
        if found is None:
            cursor = db.execute(
                "INSERT INTO runs (name, status, started_at, command, source, target, "
                "baseline, settings, thresholds) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                [name, now(), *(row.get(key) for key in RUN_KEYS)],
            )
            run_id = int(cursor.lastrowid or 0)
        else:
            run_id = int(found[0])
            db.execute(
                "UPDATE runs SET status = 'running', finished_at = NULL WHERE id = ?", [run_id]
            )
        db.execute(
            "INSERT OR REPLACE INTO bus_workers (run_id, consumer, status, started_at, seen_at)"
            " VALUES (?, ?, 'running', ?, ?)",
            [run_id, consumer, now(), time.time()],
        )
    return run_id


RUN_KEYS = ("command", "source", "target", "baseline", "settings", "thresholds")


def mark_seen(db: Database, run_id: int, consumer: str) -> None:
    with write_transaction(db):
        db.execute(
            "UPDATE bus_workers SET seen_at = ? WHERE run_id = ? AND consumer = ?",
            [time.time(), run_id, consumer],
        )


def leave_run(
    db: Database,
    run_id: int,
    consumer: str,
    status: str,
    counts: dict[str, int],
    alive: set[str] | None = None,
) -> bool:
    """Mark this worker stopped; close the run if it was the last one. True if it was.

    `alive`: the consumers Redis has seen lately (None when Redis cannot tell: then a
    worker is alive if it flushed within STALE seconds). The others still marked running
    died without a word (SIGKILL, a lost machine): they are marked `gone`."""
    with write_transaction(db):
        db.execute(
            "UPDATE bus_workers SET status = ?, finished_at = ?, seen_at = ?, counts = ? "
            "WHERE run_id = ? AND consumer = ?",
            [status, now(), time.time(), json.dumps(counts), run_id, consumer],
        )
        running = db.execute(
            "SELECT consumer, seen_at FROM bus_workers WHERE run_id = ? AND status = 'running'",
            [run_id],
        ).fetchall()
        fresh = time.time() - STALE
        gone = [name for name, seen in running if not _alive(name, seen, alive, fresh)]
        for name in gone:
            db.execute(
                "UPDATE bus_workers SET status = 'gone' WHERE run_id = ? AND consumer = ?",
                [run_id, name],
            )
        if len(gone) < len(running):
            return False
        db.execute(
            "UPDATE runs SET status = ?, finished_at = ?, traffic = ? WHERE id = ?",
            [status, now(), json.dumps(run_traffic(db, run_id)), run_id],
        )
    return True


def _alive(name: str, seen_at: float, alive: set[str] | None, fresh: float) -> bool:
    return name in alive if alive is not None else seen_at > fresh


def run_traffic(db: Database, run_id: int) -> dict[str, int]:
    """The counts of every worker that fed the run, summed."""
    total: Counter[str] = Counter()
    rows = db.execute("SELECT counts FROM bus_workers WHERE run_id = ?", [run_id])
    for (counts,) in rows:
        total.update(json.loads(counts or "{}"))
    workers = db.execute("SELECT count(*) FROM bus_workers WHERE run_id = ?", [run_id])
    return {**total, "workers": int(workers.fetchone()[0])}
