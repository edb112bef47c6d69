"""Benchmark: the store. Write rate, size per exchange, and gate/report/trend on a big store.

    python -m tests.benchmarks.bench_store [--exchanges 1000000] [--keep DIR] [--store FILE]

Writes one run of `--exchanges` results (bench_report's: 1 KB JSON bodies, 12 endpoints,
~30% differing with 1-3 differences each, 1% errors, 0.5% failed assertions) through the
product's writer (RunWriter: batched, WAL), timing only the writer (the results are made
beforehand, in chunks, untimed). The reference, in the same run: the rows the writer stored
are read back (untimed) and inserted with a plain `executemany` into bare tables with the
same columns (no indexes), in transactions of the same size, with the same pragmas: what
SQLite itself does with exactly these rows.

Then, on that store, runs `shadowdiff gate --json`, `shadowdiff report` and
`shadowdiff report --trend` the way a user does (`python -m shadowdiff ... --db FILE`, a
subprocess each) and times their wall clock; `python -m shadowdiff --help` is the reference
for what start-up alone costs. Last, the time a store made by the previous shadowdiff
(schema v1, taken back to its indexes) takes to upgrade when first opened. `--store FILE`
times the commands on an existing store only. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from shadowdiff.store import ExchangeResult, RunWriter, open_store, schema
from shadowdiff.store.writer import BATCH
from tests.benchmarks.bench_report import result

CHUNK = 10_000  # results made at a time (a multiple of BATCH: no partial batch at its end)
RUN = "bench"
TABLES = ("exchanges", "differences", "assertion_results")
PRAGMAS = ("journal_mode", "synchronous", "wal_autocheckpoint", "cache_size")
Rows = dict[str, list[tuple[Any, ...]]]


def timed(action: Callable[..., object], *args: Any) -> float:
    start = time.perf_counter()
    action(*args)
    return time.perf_counter() - start


def make_results(rng: random.Random, start: int, stop: int) -> list[ExchangeResult]:
    return [result(rng, n) for n in range(start, stop)]


def add_all(writer: RunWriter, results: list[ExchangeResult]) -> None:
    """Add the results, then flush what is pending (nothing, unless a batch ended early on
    its size), so the chunk's rows are all stored for the reference to read back."""
    for item in results:
        writer.add(item)
    writer.flush()


def open_reference(path: Path, store: sqlite3.Connection) -> sqlite3.Connection:
    """Bare tables made from the store's own CREATE TABLE statements: the same columns, no
    indexes; the store's journal mode and write pragmas."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        (value,) = store.execute(f"PRAGMA {pragma}").fetchone()
        conn.execute(f"PRAGMA {pragma} = {value}")
    marks = ",".join("?" * len(TABLES))
    sql = f"SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN ({marks})"
    for (create,) in store.execute(sql, TABLES).fetchall():
        conn.execute(create)
    return conn


def read_back(store: sqlite3.Connection, first: int, last: int) -> Rows:
    """The rows of exchanges first..last (ids), as stored, with their differences and
    failed assertions."""
    queries = {
        "exchanges": "SELECT * FROM exchanges WHERE id BETWEEN ? AND ? ORDER BY id",
        "differences": "SELECT * FROM differences WHERE exchange_id BETWEEN ? AND ? ORDER BY id",
        "assertion_results": """SELECT * FROM assertion_results
                                WHERE exchange_id BETWEEN ? AND ? ORDER BY id""",
    }
    return {table: store.execute(sql, [first, last]).fetchall() for table, sql in queries.items()}


def insert_reference(conn: sqlite3.Connection, batches: list[Rows]) -> None:
    """One transaction per batch, one executemany per table: SQLite's own cost."""
    for batch in batches:
        conn.execute("BEGIN")
        for table, rows in batch.items():
            if rows:
                marks = ",".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        conn.execute("COMMIT")


def message_bytes(store: Path) -> int:
    """Raw HTTP bytes kept (request + baseline + candidate): what the size is made of."""
    sql = """SELECT sum(length(request) + coalesce(length(baseline), 0)
                       + coalesce(length(candidate), 0)) FROM exchanges"""
    with closing(sqlite3.connect(store)) as conn:
        return int(conn.execute(sql).fetchone()[0])


def stored_batches(store: sqlite3.Connection, first: int, count: int) -> Iterator[Rows]:
    for start in range(first, first + count, BATCH):
        yield read_back(store, start, min(start + BATCH, first + count) - 1)


def build(directory: Path, exchanges: int) -> tuple[Path, dict[str, Any]]:
    """The store, through RunWriter; the reference beside it, fed the same rows."""
    path, rng = directory / "store.db", random.Random(7)
    db = open_store(path)
    writer = RunWriter(db, RUN, {"target": "http://staging", "source": "[]"})
    reference = open_reference(directory / "reference.db", db.conn)
    write_s = reference_s = 0.0
    for start in range(0, exchanges, CHUNK):
        results = make_results(rng, start, min(start + CHUNK, exchanges))
        first = int(db.execute("SELECT coalesce(max(id), 0) FROM exchanges").fetchone()[0]) + 1
        write_s += timed(add_all, writer, results)
        if start + CHUNK >= exchanges:
            write_s += timed(writer.finish, "finished", {})
        batches = list(stored_batches(db.conn, first, len(results)))
        reference_s += timed(insert_reference, reference, batches)
    write_s += timed(db.close)  # the last checkpoint
    reference_s += timed(reference.close)
    return path, write_figures(path, directory / "reference.db", exchanges, write_s, reference_s)


def write_figures(
    store: Path, reference: Path, exchanges: int, write_s: float, reference_s: float
) -> dict[str, Any]:
    write_rate, reference_rate = exchanges / write_s, exchanges / reference_s
    return {
        "store_exchanges": exchanges,
        "store_write_exchanges_per_s": round(write_rate),
        "store_reference_executemany_exchanges_per_s": round(reference_rate),
        "store_write_vs_reference": round(write_rate / reference_rate, 2),
        "store_bytes": store.stat().st_size,
        "store_bytes_per_exchange": round(store.stat().st_size / exchanges),
        "store_reference_bytes_per_exchange": round(reference.stat().st_size / exchanges),
        "store_message_bytes_per_exchange": round(message_bytes(store) / exchanges),
    }


def time_command(args: list[str], cwd: Path, ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    """Wall clock of `python -m shadowdiff ARGS` in a subprocess, and its stdout."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "shadowdiff", *args], cwd=cwd, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise RuntimeError(f"shadowdiff {' '.join(args)}: exit {done.returncode}: {done.stderr}")
    return elapsed, done.stdout


def time_queries(store: Path, directory: Path) -> dict[str, Any]:
    """The commands a user runs on the store (start-up first: it also warms the imports)."""
    db = ["--db", str(store)]
    startup_s, _ = time_command(["--help"], directory)
    gate_s, out = time_command(["gate", "--json", *db], directory, ok=(0, 1))
    report_s, _ = time_command(["report", *db, "-o", str(directory / "report.html")], directory)
    trend_s, _ = time_command(
        ["report", "--trend", *db, "-o", str(directory / "trend.html")], directory
    )
    return {
        "store_gated_exchanges": json.loads(out)["exchanges"],
        "cli_startup_s": round(startup_s, 2),
        "gate_json_s": round(gate_s, 2),
        "report_s": round(report_s, 2),
        "report_trend_s": round(trend_s, 2),
    }


def index_statements(db: Database) -> list[str]:
    sql = "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    return [statement for (statement,) in db.execute(sql).fetchall()]


def time_upgrade(store: Path) -> float:
    """How long the first open of a store made by the previous shadowdiff (schema v1) takes:
    the store is taken back to v1's indexes (untimed), then opened (the v2 migration)."""
    v1 = Database(memory=True)
    schema.MIGRATIONS[0](v1)
    with closing(sqlite3.connect(store, isolation_level=None)) as conn:
        names = "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        for (name,) in conn.execute(names).fetchall():
            conn.execute(f"DROP INDEX {name}")
        for statement in index_statements(v1):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
    start = time.perf_counter()
    open_store(store, create=False).close()
    return time.perf_counter() - start


def run(exchanges: int, directory: Path) -> dict[str, Any]:
    store, figures = build(directory, exchanges)
    figures.update(time_queries(store, directory))
    return {**figures, "store_upgrade_from_v1_s": round(time_upgrade(store), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores and reports here")
    parser.add_argument("--store", type=Path, default=None, help="only time the commands on it")
    args = parser.parse_args()
    if args.store:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(time_queries(args.store.resolve(), Path(tmp))))
        return
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        print(json.dumps(run(args.exchanges, args.keep.resolve())))
        return
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(args.exchanges, Path(tmp))))


if __name__ == "__main__":
    main()
