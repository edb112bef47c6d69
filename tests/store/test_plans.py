"""The gate, the report and the trend read a run from indexes, never row by row.

An exchange row holds the raw messages (~2 KB), so a statement that visits every row of a run
reads the whole run from disk: on 1,000,000 exchanges that turned a second into tens of
seconds (tests/benchmarks/bench_store.py). These tests record every statement the readers
run (sqlite3's trace callback) and check SQLite's own EXPLAIN QUERY PLAN of each; no timing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlite_utils import Database

from shadowdiff.compare.model import Difference
from shadowdiff.gate import GatePolicy
from shadowdiff.report.context import build_report, example_lines
from shadowdiff.report.trend import build_trend
from shadowdiff.summary import summarize_run
from tests.report import failed_assertion, result, store_run

ROWS = re.compile(r"\b(SCAN|SEARCH) (exchanges|differences|assertion_results)\b(?!.*COVERING)")
ALLOWED = (
    "USING INTEGER PRIMARY KEY",  # the sampled examples, loaded by id
    "idx_differences_exchange_id",  # their differences
    "idx_assertion_results_run_id_endpoint",  # failed assertions: every row is one to count
)


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []
    db.conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        db.conn.set_trace_callback(None)


def row_reads(db: Database, sql: str) -> list[str]:
    """The plan lines of `sql` that visit table rows, unless allowed above."""
    plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()]
    return [line for line in plan if ROWS.search(line) and not any(a in line for a in ALLOWED)]


@pytest.fixture
def run(db: Database) -> str:
    results = [
        result(differences=[Difference(f"$.items[{i % 3}].price", "value_changed", 1, 2)])
        for i in range(20)
    ]
    results += [result(error="timeout"), result(assertions=[failed_assertion()])]
    results += [result("GET /api/orders/{id}", "/api/orders/1", latency=2.0) for _ in range(5)]
    store_run(db, "older", results)
    store_run(db, "latest", results)
    return "latest"


READERS: dict[str, Callable[[Database, str], object]] = {
    "gate": lambda db, run: summarize_run(db, run, GatePolicy()),
    "gate --junit/--markdown": lambda db, run: example_lines(
        db, run, summarize_run(db, run, GatePolicy())
    ),
    "report": lambda db, run: build_report(db, run, GatePolicy()),
    "report --trend": lambda db, run: build_trend(db),
}


@pytest.mark.parametrize("reader", READERS)
def test_readers_use_covering_indexes(db: Database, run: str, reader: str) -> None:
    with statements(db) as seen:
        READERS[reader](db, run)
    assert seen
    reads = {sql: lines for sql in seen if (lines := row_reads(db, sql))}
    assert reads == {}


def test_the_check_sees_a_statement_that_reads_every_row(db: Database, run: str) -> None:
    sql = "SELECT count(*) FROM exchanges WHERE run_id = 2 AND candidate IS NOT NULL"
    assert row_reads(db, sql)
