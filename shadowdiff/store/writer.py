"""Batched writes of one run. Whatever was flushed survives an interrupted run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from shadowdiff.compare.model import Comparison
from shadowdiff.exchange import Exchange, Response
from shadowdiff.gorfile import GorProblem
from shadowdiff.store.schema import write_transaction

BATCH = 500


@dataclass(frozen=True, slots=True)
class ExchangeResult:
    """A replayed exchange and what its comparison found."""

    exchange: Exchange
    endpoint: str
    comparison: Comparison
    baseline: Response | None = None
    candidate: Response | None = None
    candidate_latency: float | None = None
    baseline_latency: float | None = None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(value: Any) -> str:
    """JSON text, readable unicode; escaped where the value holds what UTF-8 cannot encode
    (a lone surrogate from a JSON body's `\\ud800`)."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, default=repr)
    return text


class RunWriter:
    """Creates a run, then stores exchange results in batches of BATCH.

    Pending rows carry ids local to the batch (1, 2, ...); `flush` shifts them past the
    highest stored id under the write lock, so writers sharing a database never collide.
    """

    def __init__(self, db: Database, name: str, run: dict[str, Any]) -> None:
        self.db = db
        self.name = name
        row = {"name": name, "status": "running", "started_at": now(), **run}
        self.run_id = int(db.table("runs").insert(row).last_pk or 0)
        self._seq = 0
        self._exchanges: list[dict[str, Any]] = []
        self._differences: list[dict[str, Any]] = []
        self._assertions: list[dict[str, Any]] = []

    def add(self, result: ExchangeResult) -> None:
        local_id = len(self._exchanges) + 1
        self._seq += 1
        self._exchanges.append(self._exchange_row(local_id, result))
        for diff in result.comparison.differences:
            self._differences.append(
                {
                    "run_id": self.run_id,
                    "exchange_id": local_id,
                    "endpoint": result.endpoint,
                    "path": diff.path,
                    "field": diff.field,
                    "kind": diff.kind,
                    "baseline": _json(diff.baseline),
                    "candidate": _json(diff.candidate),
                }
            )
        for check in result.comparison.assertions:
            if not check.passed:
                self._assertions.append(
                    {
                        "run_id": self.run_id,
                        "exchange_id": local_id,
                        "endpoint": result.endpoint,
                        "assertion": check.assertion.describe(),
                        "rule": check.assertion.where,
                        "passed": 0,
                        "message": check.message,
                    }
                )
        if len(self._exchanges) >= BATCH:
            self.flush()

    def _exchange_row(self, row_id: int, result: ExchangeResult) -> dict[str, Any]:
        exchange, comparison = result.exchange, result.comparison
        baseline = result.baseline or exchange.baseline
        return {
            "id": row_id,
            "run_id": self.run_id,
            "seq": self._seq,
            "gor_id": exchange.id,
            "endpoint": result.endpoint,
            "method": exchange.request.method,
            "target": exchange.request.target,
            "recorded_at": exchange.timestamp,
            "request": exchange.request.to_bytes(),
            "baseline": baseline.to_bytes() if baseline else None,
            "candidate": result.candidate.to_bytes() if result.candidate else None,
            "baseline_status": baseline.status if baseline else None,
            "candidate_status": result.candidate.status if result.candidate else None,
            "baseline_latency_ms": _baseline_ms(result),
            "candidate_latency_ms": result.candidate_latency,
            "verdict": comparison.verdict,
            "error": comparison.error,
            "differences": len(comparison.differences),
            "assertions_failed": sum(not a.passed for a in comparison.assertions),
        }

    def add_problem(self, problem: GorProblem) -> None:
        self.db.table("problems").insert(
            {
                "run_id": self.run_id,
                "source": problem.path,
                "offset": problem.offset,
                "message": problem.message,
            }
        )

    def flush(self) -> None:
        """Store the pending rows in one transaction: all of them or none."""
        if not self._exchanges:
            return
        with write_transaction(self.db):
            base = int(self.db.execute("SELECT coalesce(max(id), 0) FROM exchanges").fetchone()[0])
            rows = [{**row, "id": row["id"] + base} for row in self._exchanges]
            self.db.table("exchanges").insert_all(rows, batch_size=BATCH)
            for table, pending in (
                ("differences", self._differences),
                ("assertion_results", self._assertions),
            ):
                shifted = [{**row, "exchange_id": row["exchange_id"] + base} for row in pending]
                self.db.table(table).insert_all(shifted, batch_size=BATCH)
        self._exchanges, self._differences, self._assertions = [], [], []

    def finish(self, status: str, traffic: dict[str, Any]) -> None:
        self.flush()
        self.db.table("runs").update(
            self.run_id, {"status": status, "finished_at": now(), "traffic": _json(traffic)}
        )


def _baseline_ms(result: ExchangeResult) -> float | None:
    if result.baseline_latency is not None:
        return result.baseline_latency
    latency = result.exchange.baseline_latency
    return None if latency is None else latency / 1e6
