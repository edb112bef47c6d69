"""Read-side queries over the store: aggregate in SQL, return plain values."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from shadowdiff.compare.severity import CONTENT_TYPE, kinds_at_least, severity_of
from shadowdiff.errors import InputError


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: int
    name: str
    status: str
    source: list[str]
    target: str
    baseline: str | None
    thresholds: dict[str, float]
    traffic: dict[str, int]
    started_at: str
    finished_at: str | None
    problems: int
    settings: dict[str, Any] = field(default_factory=dict)


def find_run(db: Database, name: str | None) -> RunInfo:
    """The named run, or the latest one."""
    if name:
        rows = list(db.table("runs").rows_where("name = ?", [name]))
        if not rows:
            raise InputError(f"--run {name}: no such run in this database")
    else:
        rows = list(db.table("runs").rows_where(order_by="id desc", limit=1))
        if not rows:
            raise InputError("no runs in the database yet (run `shadowdiff replay` first)")
    row = rows[0]
    problems = db.table("problems").count_where("run_id = ?", [row["id"]])
    return RunInfo(
        row["id"],
        row["name"],
        row["status"],
        json.loads(row["source"] or "[]"),
        row["target"],
        row["baseline"],
        json.loads(row["thresholds"] or "{}"),
        json.loads(row["traffic"] or "{}"),
        row["started_at"],
        row["finished_at"],
        problems,
        json.loads(row["settings"] or "{}"),
    )


def verdict_counts(db: Database, run_id: int) -> dict[str, dict[str, int]]:
    """endpoint -> verdict -> count."""
    counts: dict[str, dict[str, int]] = {}
    sql = "SELECT endpoint, verdict, count(*) FROM exchanges WHERE run_id = ? GROUP BY 1, 2"
    for endpoint, verdict, count in db.execute(sql, [run_id]).fetchall():
        counts.setdefault(endpoint, {})[verdict] = count
    return counts


def field_counts(db: Database, run_id: int) -> dict[str, list[dict[str, Any]]]:
    """endpoint -> [{path, kind, count}] where count is the exchanges showing that field."""
    sql = """SELECT endpoint, field, kind, count(DISTINCT exchange_id) AS n FROM differences
             WHERE run_id = ? GROUP BY 1, 2, 3 ORDER BY n DESC, field, kind"""
    fields: dict[str, list[dict[str, Any]]] = {}
    for endpoint, path, kind, count in db.execute(sql, [run_id]).fetchall():
        fields.setdefault(endpoint, []).append(
            {"path": path, "kind": kind, "count": count, "severity": severity_of(kind, path)}
        )
    return fields


def severe_counts(db: Database, run_id: int, severity: str) -> dict[str, int]:
    """endpoint -> exchanges with a difference of at least `severity`."""
    kinds, content_type = kinds_at_least(severity)
    marks = ", ".join("?" for _ in kinds) or "NULL"
    sql = f"""SELECT endpoint, count(DISTINCT exchange_id) FROM differences
              WHERE run_id = ? AND (kind IN ({marks})
                 OR (? AND kind = 'header_changed' AND lower(field) = ?))
              GROUP BY 1"""
    rows = db.execute(sql, [run_id, *kinds, content_type, CONTENT_TYPE]).fetchall()
    return {endpoint: count for endpoint, count in rows}


def exchanges_with(db: Database, run_id: int, endpoint: str, pairs: list[tuple[str, str]]) -> int:
    """The exchanges of an endpoint with a difference at one of these (field, kind) pairs
    (held in a temporary table: an endpoint may have more fields than SQL parameters)."""
    if not pairs:
        return 0
    db.execute("CREATE TEMP TABLE IF NOT EXISTS chosen_fields (field TEXT, kind TEXT)")
    db.execute("DELETE FROM temp.chosen_fields")
    db.conn.executemany("INSERT INTO temp.chosen_fields VALUES (?, ?)", pairs)
    sql = """SELECT count(DISTINCT d.exchange_id) FROM differences d
             JOIN temp.chosen_fields c ON c.field = d.field AND c.kind = d.kind
             WHERE d.run_id = ? AND d.endpoint = ?"""
    return int(db.execute(sql, [run_id, endpoint]).fetchone()[0])


def error_reasons(db: Database, run_id: int) -> dict[str, list[dict[str, Any]]]:
    """endpoint -> [{reason, count}] for exchanges with the error verdict."""
    sql = """SELECT endpoint, error, count(*) AS n FROM exchanges
             WHERE run_id = ? AND verdict = 'error' GROUP BY 1, 2 ORDER BY n DESC, error"""
    reasons: dict[str, list[dict[str, Any]]] = {}
    for endpoint, error, count in db.execute(sql, [run_id]).fetchall():
        reasons.setdefault(endpoint, []).append({"reason": error, "count": count})
    return reasons


def assertion_failures(db: Database, run_id: int) -> dict[str, list[dict[str, Any]]]:
    """endpoint -> [{assertion, rule, count}]."""
    sql = """SELECT endpoint, assertion, rule, count(*) AS n FROM assertion_results
             WHERE run_id = ? AND passed = 0 GROUP BY 1, 2, 3 ORDER BY n DESC, assertion, rule"""
    failures: dict[str, list[dict[str, Any]]] = {}
    for endpoint, assertion, rule, count in db.execute(sql, [run_id]).fetchall():
        failures.setdefault(endpoint, []).append(
            {"assertion": assertion, "rule": rule, "count": count}
        )
    return failures


def uncompared_count(db: Database, run_id: int) -> int:
    """Exchanges that had no baseline to compare with (checked by assertions only)."""
    sql = """SELECT count(*) FROM exchanges WHERE run_id = ? AND baseline IS NULL
             AND verdict IN ('same', 'differs', 'failed')"""
    return int(db.execute(sql, [run_id]).fetchone()[0])
