"""open_store: a fresh file gets the schema, a reopened one keeps it, bad files are refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlite_utils import Database

from shadowdiff.errors import InputError
from shadowdiff.store import schema
from shadowdiff.store.schema import MIGRATIONS, open_store

TABLES = {"runs", "exchanges", "differences", "assertion_results", "problems"}


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def table_names(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "shadowdiff.db"


@pytest.fixture
def opened(path: Path) -> Iterator[Callable[..., Database]]:
    """open_store, closing every database it opened at the end of the test."""
    dbs: list[Database] = []

    def open_(path: Path, create: bool = True) -> Database:
        db = open_store(path, create=create)
        dbs.append(db)
        return db

    yield open_
    for db in dbs:
        db.close()


def test_fresh_db_gets_every_migration(path: Path, opened: Callable[..., Database]) -> None:
    db = opened(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert set(db.table_names()) >= TABLES
    assert db.journal_mode == "wal"


def test_documented_columns_exist(path: Path, opened: Callable[..., Database]) -> None:
    db = opened(path)
    exchanges = set(db.table("exchanges").columns_dict)
    assert {"run_id", "endpoint", "verdict", "error", "request", "baseline", "candidate"} <= (
        exchanges
    )
    assert {"run_id", "exchange_id", "endpoint", "path", "field", "kind"} <= set(
        db.table("differences").columns_dict
    )


def test_reopening_keeps_data_and_version(path: Path, opened: Callable[..., Database]) -> None:
    db = opened(path)
    db.table("runs").insert({"name": "kept", "status": "finished"})
    db.close()
    again = opened(path)
    assert again.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert [r["name"] for r in again.table("runs").rows] == ["kept"]


def test_reopening_does_not_rerun_migrations(
    path: Path, opened: Callable[..., Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def v2(db: Database) -> None:
        calls.append(1)
        db.table("extra").create({"id": int}, pk="id")

    monkeypatch.setattr(schema, "MIGRATIONS", [*MIGRATIONS, v2])
    opened(path).close()
    opened(path).close()
    opened(path, create=False).close()
    assert calls == [1]
    assert user_version(path) == len(MIGRATIONS) + 1


def test_an_old_db_gets_only_the_new_migrations(
    path: Path, opened: Callable[..., Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened(path).close()
    assert user_version(path) == len(MIGRATIONS)
    applied: list[str] = []
    monkeypatch.setattr(schema, "MIGRATIONS", [*MIGRATIONS, lambda db: applied.append("v2")])
    opened(path).close()
    assert applied == ["v2"]
    assert user_version(path) == len(MIGRATIONS) + 1


def test_a_failing_migration_changes_nothing(
    path: Path, opened: Callable[..., Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened(path).close()

    def broken(db: Database) -> None:
        db.table("half_done").create({"id": int}, pk="id")
        db.execute("ALTER TABLE no_such_table ADD COLUMN x")

    monkeypatch.setattr(schema, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(InputError, match="schema"):
        opened(path)
    assert user_version(path) == len(MIGRATIONS)
    assert "half_done" not in table_names(path)


def test_a_db_from_a_newer_shadowdiff_is_refused(
    path: Path, opened: Callable[..., Database]
) -> None:
    opened(path).close()
    future = len(MIGRATIONS) + 1
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {future}")
    with pytest.raises(InputError, match=rf"newer shadowdiff \(schema {future}\)") as info:
        opened(path)
    assert str(path) in str(info.value)
    assert user_version(path) == future


def test_a_text_file_is_refused(tmp_path: Path, opened: Callable[..., Database]) -> None:
    text = tmp_path / "notes.db"
    text.write_text("these are my notes, not a database\n" * 20)
    for create in (True, False):
        with pytest.raises(InputError, match="not a shadowdiff database") as info:
            opened(text, create=create)
        assert str(text) in str(info.value)
    assert text.read_text() == "these are my notes, not a database\n" * 20


def test_a_directory_is_refused(tmp_path: Path, opened: Callable[..., Database]) -> None:
    with pytest.raises(InputError, match="--db"):
        opened(tmp_path, create=False)


def test_a_foreign_sqlite_db_with_clashing_tables_is_refused(
    path: Path, opened: Callable[..., Database]
) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE runs (lap INTEGER, seconds REAL)")
        conn.commit()
    with pytest.raises(InputError, match="--db"):
        opened(path)
    assert table_names(path) == {"runs"}


def test_a_missing_db_is_refused_when_not_creating(
    path: Path, opened: Callable[..., Database]
) -> None:
    with pytest.raises(InputError, match="no such database") as info:
        opened(path, create=False)
    assert str(path) in str(info.value)
    assert not path.exists()


def test_an_existing_db_opens_when_not_creating(
    path: Path, opened: Callable[..., Database]
) -> None:
    opened(path).close()
    db = opened(path, create=False)
    assert set(db.table_names()) >= TABLES


def test_run_names_are_unique(path: Path, opened: Callable[..., Database]) -> None:
    db = opened(path)
    db.table("runs").insert({"name": "nightly"})
    with pytest.raises(sqlite3.IntegrityError):
        db.table("runs").insert({"name": "nightly"})
