"""SQL for the report: aggregated or sampled in SQLite, never every exchange's row. Reads go
through the covering indexes of schema v2: latency percentiles read one column of one
endpoint at a time; examples are loaded by id."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

EXAMPLES_PER_FIELD = 5
LATENCY_COLUMNS = ("baseline_latency_ms", "candidate_latency_ms")


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float | None = None
    p95: float | None = None


def latency_percentiles(db: Database, run_id: int, column: str) -> dict[str, Percentiles]:
    """endpoint -> nearest-rank p50 and p95 of a latency column (rank = ceil(p * n)).

    Each endpoint's values are read from a range of the covering index (schema v2) and
    sorted here: SQLite's ROW_NUMBER/COUNT OVER windows sorted the whole run three times,
    5.5 s per column on a 1,000,000-exchange run against 1.2 s this way
    (tests/benchmarks/bench_store.py). Memory holds one endpoint's values at a time."""
    if column not in LATENCY_COLUMNS:
        raise ValueError(f"not a latency column: {column}")
    endpoints = "SELECT DISTINCT endpoint FROM exchanges WHERE run_id = ?"
    values = f"""SELECT {column} FROM exchanges
                 WHERE run_id = ? AND endpoint IS ? AND {column} IS NOT NULL"""
    found: dict[str, Percentiles] = {}
    for (endpoint,) in db.execute(endpoints, [run_id]).fetchall():
        ordered = sorted(v for (v,) in db.execute(values, [run_id, endpoint]))
        if ordered:
            found[endpoint] = Percentiles(_nearest_rank(ordered, 50), _nearest_rank(ordered, 95))
    return found


def _nearest_rank(ordered: list[float], percent: int) -> float:
    """The value of rank ceil(percent% * n), in integer arithmetic (no float rounding)."""
    return ordered[(percent * len(ordered) + 99) // 100 - 1]


def sample_examples(
    db: Database, run_id: int, per_field: int = EXAMPLES_PER_FIELD
) -> dict[tuple[str, str, str], list[int]]:
    """(endpoint, field, kind) -> up to `per_field` exchange ids in id order: a stable
    pseudo-random sample, the ids ranked first by a multiplicative hash (a bijection on
    32-bit ids: no ties), so it spreads over the whole run.

    One query per (endpoint, field, kind): a range of the covering index (schema v2) through
    a sorter that keeps `per_field` rows. A ROW_NUMBER window over every difference of the
    run took 3.5 s on a 1,000,000-exchange run (tests/benchmarks/bench_store.py)."""
    groups = "SELECT DISTINCT endpoint, field, kind FROM differences WHERE run_id = ?"
    sample = """SELECT DISTINCT exchange_id FROM differences
                WHERE run_id = ? AND endpoint IS ? AND field IS ? AND kind IS ?
                ORDER BY (exchange_id * 2654435761) % 4294967296 LIMIT ?"""
    picked: list[tuple[int, tuple[str, str, str]]] = []
    for endpoint, field, kind in db.execute(groups, [run_id]).fetchall():
        rows = db.execute(sample, [run_id, endpoint, field, kind, per_field]).fetchall()
        picked += [(exchange_id, (endpoint, field, kind)) for (exchange_id,) in rows]
    samples: dict[tuple[str, str, str], list[int]] = {}
    for exchange_id, key in sorted(picked, key=lambda item: item[0]):
        samples.setdefault(key, []).append(exchange_id)
    return samples


def load_exchanges(db: Database, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Full rows (raw messages included) of the given exchanges."""
    wanted = sorted(set(ids))
    rows: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.query(f"SELECT * FROM exchanges WHERE id IN ({marks})", chunk):
            rows[row["id"]] = row
    return rows


def load_differences(db: Database, ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """exchange id -> its difference rows."""
    wanted = sorted(set(ids))
    found: dict[int, list[dict[str, Any]]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT * FROM differences WHERE exchange_id IN ({marks}) ORDER BY id"
        for row in db.query(sql, chunk):
            found.setdefault(row["exchange_id"], []).append(row)
    return found


def error_examples(db: Database, run_id: int) -> dict[tuple[str, str], str]:
    """(endpoint, error reason) -> one request line showing it."""
    sql = """SELECT endpoint, error, method || ' ' || min(target) FROM exchanges
             WHERE run_id = ? AND verdict = 'error' GROUP BY endpoint, error"""
    return {(e, r): line for e, r, line in db.execute(sql, [run_id]).fetchall()}
