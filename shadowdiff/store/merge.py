"""`shadowdiff merge`: the runs of other stores, added into one store as one run each.

A pool of workers spread over several machines (replay --from ... --group G) has one
SQLite store per machine, each with its share of run NAME. Merging them gives the one run
that gate and report read. An exchange both stores hold under the same bus uid (a worker
stored it, died before acknowledging it, and a worker on another machine replayed it
again) is kept once. Nothing is changed in the stores merged from.

Ids are moved, not renumbered one by one: the other store's exchange ids plus the highest
id here, so its differences and assertion results follow their exchanges in one statement.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from shadowdiff.errors import InputError
from shadowdiff.store.noise import ADD_FIELD, ADD_SAMPLED, FIELD_COLUMNS, SAMPLED_COLUMNS
from shadowdiff.store.schema import open_store, write_transaction

OTHER = "merged_from"
# every table with a run_id, and whether it is copied (tests/store/test_merge.py checks)
TABLES = {
    "exchanges": True,
    "differences": True,
    "assertion_results": True,
    "problems": True,
    "bus_entries": True,
    "noise_samples": True,
    "noise_fields": True,
    "bus_workers": False,  # the workers of each machine's share: not one run's any more
}
EXCHANGE_COLUMNS = (
    "seq, gor_id, endpoint, method, target, recorded_at, request, baseline, candidate, "
    "baseline_status, candidate_status, baseline_latency_ms, candidate_latency_ms, verdict, "
    "error, differences, assertions_failed"
)
DIFFERENCE_COLUMNS = "endpoint, path, field, kind, baseline, candidate"
ASSERTION_COLUMNS = "endpoint, assertion, rule, passed, message"


@dataclass(frozen=True, slots=True)
class Merged:
    run: str
    exchanges: int  # added to the run here
    duplicates: int  # already here under the same bus uid: not added again


def merge_run(db_path: Path, other_path: Path, run_name: str) -> Merged:
    """Add run `run_name` of the store at `other_path` into the same-named run here (made
    from the other's row when there is none)."""
    if other_path.resolve() == db_path.resolve():
        raise InputError(f"--from {other_path}: that is the store merged into (--db)")
    open_store(other_path, create=False).close()  # checked and migrated to this schema
    db = open_store(db_path)
    try:
        db.execute(f"ATTACH DATABASE ? AS {OTHER}", [str(other_path)])
        with write_transaction(db):
            return _merge(db, other_path, run_name)
    except sqlite3.DatabaseError as exc:
        raise InputError(f"--from {other_path}: cannot merge ({exc})") from None
    finally:
        db.close()


def _merge(db: Database, other_path: Path, name: str) -> Merged:
    source = db.execute(f"SELECT * FROM {OTHER}.runs WHERE name = ?", [name]).fetchone()
    if source is None:
        raise InputError(f"--run {name}: no such run in {other_path}")
    columns = [c[0] for c in db.execute(f"SELECT * FROM {OTHER}.runs LIMIT 0").description]
    theirs = dict(zip(columns, source, strict=True))
    ours = _target_run(db, theirs, other_path)
    base = int(db.execute("SELECT coalesce(max(id), 0) FROM exchanges").fetchone()[0])
    _mark_duplicates(db, theirs["id"], ours)
    added = _copy_exchanges(db, theirs["id"], ours, base)
    duplicates = int(db.execute("SELECT count(*) FROM temp.merge_skip").fetchone()[0])
    _copy_rows(db, theirs["id"], ours, base)
    _merge_run_row(db, ours, theirs, other_path)
    return Merged(name, added, duplicates)


def _target_run(db: Database, theirs: dict[str, Any], other_path: Path) -> int:
    row = db.execute("SELECT id FROM runs WHERE name = ?", [theirs["name"]]).fetchone()
    if row is not None:
        return int(row[0])
    fresh = {k: v for k, v in theirs.items() if k != "id"}
    fresh["traffic"] = json.dumps({})  # counted as each store is merged in
    return int(db.table("runs").insert(fresh).last_pk or 0)


def _mark_duplicates(db: Database, theirs: int, ours: int) -> None:
    """Their exchanges whose bus uid this run already holds."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS merge_skip (id INTEGER PRIMARY KEY)")
    db.execute("DELETE FROM temp.merge_skip")
    db.execute(
        f"""INSERT INTO temp.merge_skip SELECT b.exchange_id FROM {OTHER}.bus_entries b
            WHERE b.run_id = ? AND b.uid IN (SELECT uid FROM bus_entries WHERE run_id = ?)""",
        [theirs, ours],
    )


def _copy_exchanges(db: Database, theirs: int, ours: int, base: int) -> int:
    cursor = db.execute(
        f"""INSERT INTO exchanges (id, run_id, {EXCHANGE_COLUMNS})
            SELECT id + ?, ?, {EXCHANGE_COLUMNS} FROM {OTHER}.exchanges
            WHERE run_id = ? AND id NOT IN (SELECT id FROM temp.merge_skip) ORDER BY id""",
        [base, ours, theirs],
    )
    return int(cursor.rowcount)


def _copy_rows(db: Database, theirs: int, ours: int, base: int) -> None:
    """Differences, assertion results and bus entries with their exchanges; problems and
    noise evidence with the run."""
    kept = "run_id = ? AND exchange_id NOT IN (SELECT id FROM temp.merge_skip)"
    for table, columns in (
        ("differences", DIFFERENCE_COLUMNS),
        ("assertion_results", ASSERTION_COLUMNS),
    ):
        db.execute(
            f"""INSERT INTO {table} (run_id, exchange_id, {columns})
                SELECT ?, exchange_id + ?, {columns} FROM {OTHER}.{table} WHERE {kept}""",
            [ours, base, theirs],
        )
    db.execute(
        f"""INSERT INTO bus_entries (run_id, uid, entry_id, exchange_id)
            SELECT ?, uid, entry_id, exchange_id + ? FROM {OTHER}.bus_entries WHERE {kept}""",
        [ours, base, theirs],
    )
    db.execute(
        f"""INSERT INTO problems (run_id, source, offset, message)
            SELECT ?, source, offset, message FROM {OTHER}.problems WHERE run_id = ?""",
        [ours, theirs],
    )
    _add_noise(db, theirs, ours)


def _add_noise(db: Database, theirs: int, ours: int) -> None:
    """Noise evidence adds up as it does across the processes of one run (store/noise.py)."""
    for table, columns, conflict in (
        ("noise_samples", SAMPLED_COLUMNS, ADD_SAMPLED),
        ("noise_fields", FIELD_COLUMNS, ADD_FIELD),
    ):
        copied = columns.removeprefix("run_id, ")
        db.execute(
            f"""INSERT INTO {table} ({columns}) SELECT ?, {copied} FROM {OTHER}.{table}
                WHERE run_id = ? {conflict}""",
            [ours, theirs],
        )


def _merge_run_row(db: Database, ours: int, theirs: dict[str, Any], other: Path) -> None:
    """Counts add up; the run is finished only when every part is; `merged_from` lists the
    stores it was made of."""
    status, traffic = db.execute("SELECT status, traffic FROM runs WHERE id = ?", [ours]).fetchone()
    counts = json.loads(traffic or "{}")
    for key, value in json.loads(theirs["traffic"] or "{}").items():
        if isinstance(value, int) and isinstance(counts.get(key, 0), int):
            counts[key] = counts.get(key, 0) + value
    counts[OTHER] = [*counts.get(OTHER, []), str(other)]
    parts = {status, theirs["status"]} - {None}
    merged = "finished" if parts == {"finished"} else sorted(parts - {"finished"})[0]
    finished = max(filter(None, (theirs["finished_at"], _finished_at(db, ours))), default=None)
    db.execute(
        "UPDATE runs SET status = ?, traffic = ?, finished_at = ? WHERE id = ?",
        [merged, json.dumps(counts), finished, ours],
    )


def _finished_at(db: Database, run: int) -> str | None:
    row = db.execute("SELECT finished_at FROM runs WHERE id = ?", [run]).fetchone()
    return None if row is None else row[0]
