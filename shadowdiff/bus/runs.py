"""One run fed by many workers: the first creates it, the others join it, the last one
to stop closes it.

Workers of a run share its SQLite file (`--db`, WAL and a busy timeout: the store takes
writers from several processes). Each worker has a row in `bus_workers` whose `seen_at` its
commit loop refreshes every SEEN_EVERY seconds, whatever its replays are doing. A worker
that stops marks its row, then decides whether it is the last one: another worker is
alive once its row has been refreshed since (it is still committing), and gone once its
row is ALIVE_WINDOW seconds old and Redis has not heard from it for as long either (a
worker killed with SIGKILL never marks its row). It waits for every other row to say one
or the other (at most ALIVE_WINDOW and a bit), marks the dead ones `gone`, and closes the
run if nobody is alive: status, finished_at, and the traffic counts of all its workers.
A worker taken for gone that is in fact alive (its machine stalled) marks itself running
again at its next refresh, and reopens the run if it was closed; the last worker to stop
closes it again, with every count.

A run joins only its own pool: a run of the same name that another command made, or a
pool of another stream or group, or one that is closed already, is refused (one line,
exit 2): a closed pool run is not reopened the next day; its group goes on under a new
`--run`.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlite_utils import Database

from shadowdiff.errors import InputError
from shadowdiff.store.schema import write_transaction
from shadowdiff.store.writer import now

SEEN_EVERY = 1.0  # seconds between two refreshes of a worker's row
ALIVE_WINDOW = 3 * SEEN_EVERY  # a row older than this may belong to a dead worker
RUN_KEYS = ("command", "source", "target", "baseline", "settings", "thresholds")
IdleFn = Callable[[], dict[str, float] | None]  # consumer -> seconds Redis has not heard it
log = logging.getLogger(__name__)


def join_run(db: Database, name: str, row: dict[str, Any], consumer: str) -> int:
    """The id of the run `name` (created from `row` if it does not exist yet), with this
    consumer registered as one of its running workers."""
    with write_transaction(db):
        found = db.execute(
            "SELECT id, status, command, settings FROM runs WHERE name = ?", [name]
        ).fetchone()
        if found is None:
            cursor = db.execute(
                "INSERT INTO runs (name, status, started_at, command, source, target, "
                "baseline, settings, thresholds) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                [name, now(), *(row.get(key) for key in RUN_KEYS)],
            )
            run_id = int(cursor.lastrowid or 0)
        else:
            run_id, status, command, settings = found
            check_joinable(name, row, status, command, settings)
        db.execute(
            "INSERT OR REPLACE INTO bus_workers (run_id, consumer, status, started_at, seen_at)"
            " VALUES (?, ?, 'running', ?, ?)",
            [run_id, consumer, now(), time.time()],
        )
    return int(run_id)


def check_joinable(
    name: str, row: dict[str, Any], status: str, command: str | None, settings: str | None
) -> None:
    """A worker joins a run made by the workers of its own pool (same stream, same group)
    while it runs; anything else is one line and exit 2."""
    ours, theirs = json.loads(row.get("settings") or "{}"), json.loads(settings or "{}")
    pool = f"stream {ours.get('bus')}, group {ours.get('group')}"
    if command != row.get("command") or "group" not in theirs:
        made = "not by a worker pool"
    elif (theirs.get("bus"), theirs.get("group")) != (ours.get("bus"), ours.get("group")):
        made = f"by the pool of stream {theirs.get('bus')}, group {theirs.get('group')}"
    elif status != "running":
        made = f"by this pool, and {status}"
    else:
        return
    raise InputError(
        f"--run {name}: that run exists, made {made}; give this pool ({pool}) a new --run "
        "(the group goes on from where it stopped)"
    )


def mark_seen(db: Database, run_id: int, consumer: str) -> bool:
    """Refresh this worker's row; True if it had been taken for gone (it is running again,
    and so is the run if that was closed)."""
    with write_transaction(db):
        found = db.execute(
            "SELECT status FROM bus_workers WHERE run_id = ? AND consumer = ?", [run_id, consumer]
        ).fetchone()
        db.execute(
            "UPDATE bus_workers SET seen_at = ?, status = 'running' "
            "WHERE run_id = ? AND consumer = ?",
            [time.time(), run_id, consumer],
        )
        revived = found is not None and found[0] == "gone"
        if revived:
            db.execute(
                "UPDATE runs SET status = 'running', finished_at = NULL WHERE id = ?", [run_id]
            )
    if revived:
        log.warning("worker %s was taken for gone; running again (run reopened)", consumer)
    return revived


def leave_run(
    db: Database,
    run_id: int,
    consumer: str,
    status: str,
    counts: dict[str, int],
    idle_of: IdleFn = lambda: None,
) -> bool:
    """Mark this worker stopped; close the run if it was the last one alive. True if so.

    `idle_of`: how long Redis has not heard from each consumer (None: Redis cannot tell)."""
    started = time.time()
    with write_transaction(db):
        db.execute(
            "UPDATE bus_workers SET status = ?, finished_at = ?, seen_at = ?, counts = ? "
            "WHERE run_id = ? AND consumer = ?",
            [status, now(), started, json.dumps(counts), run_id, consumer],
        )
    deadline = started + ALIVE_WINDOW + SEEN_EVERY
    while True:
        idle = idle_of()
        with write_transaction(db):
            running = db.execute(
                "SELECT consumer, seen_at FROM bus_workers WHERE run_id = ? AND status = 'running'",
                [run_id],
            ).fetchall()
            states = [(name, worker_state(seen, idle, name, started)) for name, seen in running]
            if any(state == "alive" for _, state in states):
                return False
            if time.time() < deadline and any(state == "unsure" for _, state in states):
                pass  # wait (outside the transaction) for their next refresh, or staleness
            else:
                close_run(db, run_id, status, [name for name, _ in states])
                return True
        time.sleep(SEEN_EVERY / 5)


def worker_state(seen_at: float, idle: dict[str, float] | None, name: str, since: float) -> str:
    """`alive` (its row was refreshed after `since`, or Redis heard from it lately though
    its row is stale), `gone` (stale row, Redis silent too), or `unsure` (not yet known)."""
    if seen_at > since:
        return "alive"
    if time.time() - seen_at < ALIVE_WINDOW:
        return "unsure"
    if idle is not None and idle.get(name, float("inf")) < ALIVE_WINDOW:
        return "alive"
    return "gone"


def close_run(db: Database, run_id: int, status: str, gone: list[str]) -> None:
    """(Inside a write transaction.) Mark the dead workers `gone`, close the run."""
    for name in gone:
        db.execute(
            "UPDATE bus_workers SET status = 'gone' WHERE run_id = ? AND consumer = ?",
            [run_id, name],
        )
    db.execute(
        "UPDATE runs SET status = ?, finished_at = ?, traffic = ? WHERE id = ?",
        [status, now(), json.dumps(run_traffic(db, run_id)), run_id],
    )


def run_traffic(db: Database, run_id: int) -> dict[str, int]:
    """The counts of every worker that fed the run, summed; `exchanges` as stored (a
    worker that died never wrote its counts)."""
    total: Counter[str] = Counter()
    rows = db.execute("SELECT counts FROM bus_workers WHERE run_id = ?", [run_id])
    for (counts,) in rows:
        total.update(json.loads(counts or "{}"))
    workers = db.execute("SELECT count(*) FROM bus_workers WHERE run_id = ?", [run_id])
    stored = db.execute("SELECT count(*) FROM exchanges WHERE run_id = ?", [run_id])
    return {
        **total,
        "exchanges": int(stored.fetchone()[0]),
        "workers": int(workers.fetchone()[0]),
    }
