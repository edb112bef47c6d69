"""Schema and migrations. `PRAGMA user_version` holds the number of migrations applied."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from shadowdiff.errors import InputError


def _v1(db: Database) -> None:
    db.table("runs").create(
        {
            "id": int,
            "name": str,
            "command": str,
            "source": str,
            "target": str,
            "baseline": str,
            "settings": str,
            "thresholds": str,
            "traffic": str,
            "status": str,
            "started_at": str,
            "finished_at": str,
        },
        pk="id",
        not_null={"name"},
    )
    db.table("runs").create_index(["name"], unique=True)
    db.table("exchanges").create(
        {
            "id": int,
            "run_id": int,
            "seq": int,
            "gor_id": str,
            "endpoint": str,
            "method": str,
            "target": str,
            "recorded_at": int,
            "request": bytes,
            "baseline": bytes,
            "candidate": bytes,
            "baseline_status": int,
            "candidate_status": int,
            "baseline_latency_ms": float,
            "candidate_latency_ms": float,
            "verdict": str,
            "error": str,
            "differences": int,
            "assertions_failed": int,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("exchanges").create_index(["run_id", "endpoint", "verdict"])
    db.table("differences").create(
        {
            "id": int,
            "run_id": int,
            "exchange_id": int,
            "endpoint": str,
            "path": str,
            "field": str,
            "kind": str,
            "baseline": str,
            "candidate": str,
        },
        pk="id",
        foreign_keys=[("exchange_id", "exchanges", "id")],
    )
    db.table("differences").create_index(["run_id", "endpoint", "field", "kind"])
    db.table("differences").create_index(["exchange_id"])
    db.table("assertion_results").create(
        {
            "id": int,
            "run_id": int,
            "exchange_id": int,
            "endpoint": str,
            "assertion": str,
            "rule": str,
            "passed": int,
            "message": str,
        },
        pk="id",
        foreign_keys=[("exchange_id", "exchanges", "id")],
    )
    db.table("assertion_results").create_index(["run_id", "endpoint"])
    db.table("problems").create(
        {
            "id": int,
            "run_id": int,
            "source": str,
            "offset": int,
            "message": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )


def _v2(db: Database) -> None:
    """Indexes from which the gate, the report and the trend read a run without touching its
    rows: a row holds the raw messages (~2 KB), so reading one column of a 1,000,000-exchange
    run through the v1 indexes read ~2 GB (tests/benchmarks/bench_store.py, EXPLAIN QUERY
    PLAN). Within a group, each new index is ordered by exchange id (the exchanges index has
    `id` before the latencies), so a batch appends at the end of its groups instead of
    touching pages all over the index: ordered by latency, the index halved the write rate."""
    for statement in V2_INDEXES:
        db.execute(statement)


V2_INDEXES = (
    # verdict counts, trend rates and latency percentiles, from the index alone
    "DROP INDEX idx_exchanges_run_id_endpoint_verdict",
    """CREATE INDEX idx_exchanges_run_id_endpoint_verdict_id_latency ON exchanges
       (run_id, endpoint, verdict, id, baseline_latency_ms, candidate_latency_ms)""",
    # Partial indexes: only the exchanges without a baseline (uncompared, usually none), only
    # the errors (their reasons, and a request of each). The column of the WHERE is listed
    # too (always NULL, always 'error': a few bytes) because SQLite 3.40 otherwise reads
    # every row the index names, to check that column again (EXPLAIN QUERY PLAN).
    """CREATE INDEX idx_exchanges_run_id_verdict_without_baseline ON exchanges
       (run_id, verdict, baseline) WHERE baseline IS NULL""",
    """CREATE INDEX idx_exchanges_run_id_endpoint_error_id_request_errors ON exchanges
       (run_id, endpoint, error, id, method, target, verdict) WHERE verdict = 'error'""",
    # field counts, example samples and trend signatures count distinct exchange ids
    "DROP INDEX idx_differences_run_id_endpoint_field_kind",
    """CREATE INDEX idx_differences_run_id_endpoint_field_kind_exchange_id ON differences
       (run_id, endpoint, field, kind, exchange_id)""",
)


def _v3(db: Database) -> None:
    """Noise evidence (`replay --noise`): how often a build disagreed with itself, per
    endpoint, field and kind, out of how many exchanges sent twice. Kept per run, so later
    runs read the history of the earlier ones (compare/noise.py)."""
    db.table("noise_samples").create(
        {"run_id": int, "endpoint": str, "source": str, "sampled": int},
        pk=("run_id", "endpoint", "source"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("noise_fields").create(
        {
            "run_id": int,
            "endpoint": str,
            "source": str,
            "field": str,
            "kind": str,
            "differences": int,
            "max_delta": float,  # numeric value changes: the largest |a - b| seen
            "numeric": int,  # 1 when every value change seen was between two numbers
            "array_key": str,  # reordered arrays of objects: a field naming each element
            "by_index": int,  # 1: seen only pairing reordered elements by index
        },
        pk=("run_id", "endpoint", "source", "field", "kind"),
        foreign_keys=[("run_id", "runs", "id")],
    )


def _v4(db: Database) -> None:
    """The traffic bus (shadowdiff/bus/): which stream entry each exchange came from, under
    the uid its publisher gave it, so a run fed by several workers stores each exchange once
    (an entry reclaimed from a worker that died after storing it, before acknowledging it,
    or one its publisher sent twice under two entry ids, is recognised and not stored
    again); and the workers that fed a run, so that the last one to stop closes it."""
    db.table("bus_entries").create(
        {"run_id": int, "uid": str, "entry_id": str, "exchange_id": int},
        pk=("run_id", "uid"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("bus_workers").create(
        {
            "run_id": int,
            "consumer": str,
            "status": str,
            "started_at": str,
            "seen_at": float,  # unix time its commit loop last ran (every second: bus/runs.py)
            "finished_at": str,
            "counts": str,
        },
        pk=("run_id", "consumer"),
        foreign_keys=[("run_id", "runs", "id")],
    )


BUSY_TIMEOUT_MS = 30_000  # several writers (a tee, a CI replay) may share one file
# Checkpoint the WAL into the database every ~40 MB (SQLite's default: 4 MB). Each checkpoint
# syncs twice and rewrites the index pages the batches since the last one touched; at the
# default, a run of 1 KB bodies checkpointed every 3 batches and spent a third of its write
# time there (py-spy; tests/benchmarks/bench_store.py).
WAL_CHECKPOINT_PAGES = 10_000
MIGRATIONS: list[Callable[[Database], None]] = [_v1, _v2, _v3, _v4]


@contextmanager
def write_transaction(db: Database) -> Iterator[None]:
    """One transaction holding the write lock from the start (BEGIN IMMEDIATE), so what it
    reads (the schema version, the highest id) stays true until it commits."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.rollback()
        raise
    db.commit()


def _user_version(db: Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: Database) -> None:
    """Apply the missing migrations in one transaction: all of them or none."""
    if _user_version(db) >= len(MIGRATIONS):
        return
    with write_transaction(db):
        version = _user_version(db)  # another process may have migrated meanwhile
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            step(db)
            db.execute(f"PRAGMA user_version = {number}")


def open_store(path: Path, create: bool = True) -> Database:
    """Open (and migrate) the store; reading commands pass create=False."""
    if not create and not path.exists():
        raise InputError(f"--db {path}: no such database (run `shadowdiff replay` first)")
    if not path.parent.is_dir():
        raise InputError(f"--db {path}: directory {path.parent} does not exist")
    db: Database | None = None
    try:
        db = Database(path)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        version = _user_version(db)
    except sqlite3.DatabaseError as exc:
        if db is not None:
            db.close()
        raise InputError(f"--db {path}: not a shadowdiff database ({exc})") from None
    if version > len(MIGRATIONS):
        db.close()
        raise InputError(f"--db {path}: made by a newer shadowdiff (schema {version})")
    try:
        migrate(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise InputError(f"--db {path}: cannot set up the shadowdiff schema ({exc})") from None
    return db
