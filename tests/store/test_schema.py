"""open_store: a fresh file gets the schema, a reopened one keeps it, bad files are refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlite_utils import Database

from shadowdiff.compare.model import (
    DIFFERS,
    ERROR,
    FAILED,
    SAME,
    AssertionResult,
    Comparison,
    Difference,
)
from shadowdiff.errors import InputError
from shadowdiff.gate import GatePolicy
from shadowdiff.gorfile import GorProblem
from shadowdiff.report.context import build_report
from shadowdiff.report.trend import build_trend, trend_rows_as_json
from shadowdiff.rules.model import Assertion
from shadowdiff.store import ExchangeResult, RunWriter, schema
from shadowdiff.store.schema import MIGRATIONS, open_store
from shadowdiff.summary import summarize_run
from shadowdiff.testing import make_exchange, make_request, make_response

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


def test_writes_are_set_up_for_batches(path: Path, opened: Callable[..., Database]) -> None:
    """WAL, synced at checkpoints only (NORMAL), checkpointed every WAL_CHECKPOINT_PAGES."""
    db = opened(path)
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == schema.WAL_CHECKPOINT_PAGES


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


INDEXES = {
    "runs": {"idx_runs_name"},
    "exchanges": {
        "idx_exchanges_run_id_endpoint_verdict_id_latency",
        "idx_exchanges_run_id_verdict_without_baseline",
        "idx_exchanges_run_id_endpoint_error_id_request_errors",
    },
    "differences": {
        "idx_differences_run_id_endpoint_field_kind_exchange_id",
        "idx_differences_exchange_id",
    },
    "assertion_results": {"idx_assertion_results_run_id_endpoint"},
    "problems": set(),
}


def index_names(db: Database) -> dict[str, set[str]]:
    return {table: {i.name for i in db.table(table).indexes} for table in INDEXES}


def test_the_indexes_are_those_documented(path: Path, opened: Callable[..., Database]) -> None:
    assert index_names(opened(path)) == INDEXES


def write_sample_run(db: Database) -> None:
    """A run with every kind of row: differences, a failed assertion, an error, an exchange
    without a baseline, a problem."""
    writer = RunWriter(db, "before-upgrade", {"target": "http://staging"})
    for index in range(30):
        diff = Difference(f"$.items[{index % 4}].price", "value_changed", index, index + 1)
        writer.add(sample_result(Comparison(DIFFERS, (diff,)), latency=float(index)))
    email = Assertion("exists", True, "$.email", "rules/users.yaml:3")
    writer.add(sample_result(Comparison(FAILED, assertions=(AssertionResult(email, False),))))
    writer.add(sample_result(Comparison(ERROR, error="timeout")))
    writer.add(ExchangeResult(make_exchange(), "GET /api/items", Comparison(SAME)))
    writer.add_problem(GorProblem("a.gor", 12, "bad header line"))
    writer.finish("finished", {"requests": 33})


def sample_result(comparison: Comparison, latency: float | None = None) -> ExchangeResult:
    baseline = make_response(json={"items": [{"price": 1}]})
    exchange = make_exchange(make_request(target="/api/items"), baseline)
    return ExchangeResult(exchange, "GET /api/items", comparison, baseline, baseline, latency)


def everything(db: Database) -> dict[str, object]:
    """Every row of every table, and what the gate, the report and the trend make of them."""
    tables = {t: db.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in INDEXES}
    report = build_report(db, None, GatePolicy())
    return {
        **tables,
        "gate": summarize_run(db, None, GatePolicy()).to_json(),
        "endpoints": [(e.fields, e.candidate_latency, e.examples) for e in report.endpoints],
        "trend": trend_rows_as_json(build_trend(db)),
    }


def test_a_v1_store_upgrades_and_keeps_its_data(
    path: Path, opened: Callable[..., Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", MIGRATIONS[:1])
        old = opened(path)
        write_sample_run(old)
        assert user_version(path) == 1
        before = everything(old)
        old.close()
    upgraded = opened(path, create=False)
    assert user_version(path) == len(MIGRATIONS) == 4
    assert index_names(upgraded) == INDEXES
    assert everything(upgraded) == before
