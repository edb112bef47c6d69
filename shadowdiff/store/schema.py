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


BUSY_TIMEOUT_MS = 30_000  # several writers (a tee, a CI replay) may share one file
MIGRATIONS: list[Callable[[Database], None]] = [_v1]


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
