"""SQL for the report: everything aggregated or sampled in SQLite, never every exchange."""

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
    """endpoint -> nearest-rank p50 and p95 of a latency column (rank = ceil(p * n), in
    integer arithmetic: SQLite's math functions are not always compiled in)."""
    if column not in LATENCY_COLUMNS:
        raise ValueError(f"not a latency column: {column}")
    sql = f"""
        WITH ranked AS (
            SELECT endpoint, {column} AS v,
                   ROW_NUMBER() OVER (PARTITION BY endpoint ORDER BY {column}) AS rn,
                   COUNT(*) OVER (PARTITION BY endpoint) AS n
            FROM exchanges WHERE run_id = ? AND {column} IS NOT NULL)
        SELECT endpoint,
               MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN v END),
               MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN v END)
        FROM ranked GROUP BY endpoint"""
    return {e: Percentiles(p50, p95) for e, p50, p95 in db.execute(sql, [run_id]).fetchall()}


def sample_examples(
    db: Database, run_id: int, per_field: int = EXAMPLES_PER_FIELD
) -> dict[tuple[str, str, str], list[int]]:
    """(endpoint, field, kind) -> up to `per_field` exchange ids, a stable pseudo-random sample
    (ranked by a multiplicative hash of the id, so it spreads over the whole run)."""
    sql = """
        SELECT endpoint, field, kind, exchange_id FROM (
            SELECT endpoint, field, kind, exchange_id,
                   ROW_NUMBER() OVER (PARTITION BY endpoint, field, kind
                                      ORDER BY (exchange_id * 2654435761) % 4294967296) AS rn
            FROM (SELECT DISTINCT endpoint, field, kind, exchange_id
                  FROM differences WHERE run_id = ?))
        WHERE rn <= ? ORDER BY exchange_id"""
    samples: dict[tuple[str, str, str], list[int]] = {}
    for endpoint, field, kind, exchange_id in db.execute(sql, [run_id, per_field]).fetchall():
        samples.setdefault((endpoint, field, kind), []).append(exchange_id)
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
