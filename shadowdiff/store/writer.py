"""Batched writes of one run. Whatever was flushed survives an interrupted run."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from shadowdiff.compare.model import Comparison
from shadowdiff.exchange import Exchange, Response
from shadowdiff.gorfile import GorProblem
from shadowdiff.store.schema import write_transaction

if TYPE_CHECKING:
    from shadowdiff.redact import Redaction

BATCH = 500
BATCH_BYTES = 8 << 20  # large bodies: a batch is flushed at 8 MiB of messages too


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
    text = _scalar_json(value)
    if text is None:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, default=repr)
    return text


_LITERALS = {None: "null", True: "true", False: "false"}


def _scalar_json(value: Any) -> str | None:
    """What json.dumps writes for a plain scalar (most differences hold one), without the
    encoder json.dumps builds on every call: that cost more than the rest of a difference's
    row (py-spy). None for anything else (containers, subclasses, NaN and infinities)."""
    kind = type(value)
    if value is None or kind is bool:
        return _LITERALS[value]
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)
    if kind is str:
        return encode_basestring(value)
    return None


EXCHANGE_COLUMNS = (
    "id",
    "run_id",
    "seq",
    "gor_id",
    "endpoint",
    "method",
    "target",
    "recorded_at",
    "request",
    "baseline",
    "candidate",
    "baseline_status",
    "candidate_status",
    "baseline_latency_ms",
    "candidate_latency_ms",
    "verdict",
    "error",
    "differences",
    "assertions_failed",
)
DIFFERENCE_COLUMNS = (
    "exchange_id",
    "run_id",
    "endpoint",
    "path",
    "field",
    "kind",
    "baseline",
    "candidate",
)
ASSERTION_COLUMNS = ("exchange_id", "run_id", "endpoint", "assertion", "rule", "passed", "message")
Row = tuple[Any, ...]  # values in the order of its table's *_COLUMNS; the exchange id first
_MESSAGES = tuple(EXCHANGE_COLUMNS.index(name) for name in ("request", "baseline", "candidate"))


def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


BUS_ENTRY_INSERT = (
    "INSERT INTO bus_entries (run_id, uid, entry_id, exchange_id) VALUES (?, ?, ?, ?)"
)
BusKey = tuple[str, str]  # a bus entry's uid (what a run stores once) and its entry id
INSERTS = (
    insert_sql("exchanges", EXCHANGE_COLUMNS),
    insert_sql("differences", DIFFERENCE_COLUMNS),
    insert_sql("assertion_results", ASSERTION_COLUMNS),
)


class RunWriter:
    """Creates a run, then stores exchange results in batches of BATCH.

    Pending rows carry ids local to the batch (1, 2, ...); `flush` shifts them past the
    highest stored id under the write lock, so writers sharing a database never collide.
    Rows are tuples inserted with one prepared `executemany` per table: sqlite-utils'
    `insert_all` re-derives the SQL and inspects every value of every row, which cost more
    than SQLite's own work (profiled with py-spy; see tests/benchmarks/bench_store.py).
    """

    def __init__(
        self,
        db: Database,
        name: str,
        run: dict[str, Any],
        joining: int | None = None,
        redaction: Redaction | None = None,
    ) -> None:
        """A new run described by `run`; or, with `joining`, the run of that id, already
        created (a replay in several processes: each stores its share). With `redaction`,
        secrets are replaced by keyed hashes before anything is stored."""
        self.db = db
        self.name = name
        self._redact: Callable[[ExchangeResult], ExchangeResult] | None = None
        if redaction is not None:
            from shadowdiff.redact import redact_result  # it imports ExchangeResult from here

            self._redact = functools.partial(_redacted, redact_result, redaction)
        if joining is None:
            row = {"name": name, "status": "running", "started_at": now(), **run}
            joining = int(db.table("runs").insert(row).last_pk or 0)
        self.run_id = joining
        self._seq = 0
        self._pending: tuple[list[Row], list[Row], list[Row]] = ([], [], [])
        self._pending_bytes = 0
        self._entries: dict[str, tuple[str, int]] = {}  # bus uid -> entry id, local id
        self._dropped: set[str] = set()  # bus entry ids not stored (uid held), not yet taken
        self.duplicates = 0  # bus entries found already stored at a flush, so not stored

    def add(self, result: ExchangeResult, entry: BusKey | None = None) -> None:
        """Store a result (at the next flush). `entry`: the bus stream entry it came from;
        a run stores each uid once (the first flush to commit it wins)."""
        self._append(result, entry)
        if len(self._pending[0]) >= BATCH or self._pending_bytes >= BATCH_BYTES:
            self.flush()

    def add_entries(self, results: Iterable[tuple[ExchangeResult, BusKey]]) -> None:
        """Results of bus entries, kept for the next `flush` (which the caller makes: a
        pool worker acknowledges what a flush committed, so it commits them together)."""
        for result, entry in results:
            self._append(result, entry)

    def take_dropped(self) -> set[str]:
        """The bus entry ids not stored since the last call (their uid was stored already,
        or added before under another entry id)."""
        dropped, self._dropped = self._dropped, set()
        return dropped

    def stored_uids(self, uids: list[str]) -> set[str]:
        """Which of these bus uids the run holds."""
        stored: set[str] = set()
        for start in range(0, len(uids), 500):
            chunk = uids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT uid FROM bus_entries WHERE run_id = ? AND uid IN ({marks})",
                [self.run_id, *chunk],
            )
            stored.update(row[0] for row in rows)
        return stored

    def _append(self, result: ExchangeResult, entry: BusKey | None) -> None:
        if entry is not None and entry[0] in self._entries:
            self.duplicates += 1  # the same exchange twice in one batch (sent twice)
            self._dropped.add(entry[1])
            return
        if self._redact is not None:
            result = self._redact(result)
        exchanges, differences, assertions = self._pending
        local_id = len(exchanges) + 1
        if entry is not None:
            self._entries[entry[0]] = (entry[1], local_id)
        self._seq += 1
        row = exchange_row(local_id, self.run_id, self._seq, result)
        exchanges.append(row)
        differences.extend(difference_rows(local_id, self.run_id, result))
        assertions.extend(assertion_rows(local_id, self.run_id, result))
        self._pending_bytes += sum(len(row[i] or b"") for i in _MESSAGES)

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
        if not self._pending[0]:
            return
        with write_transaction(self.db):
            pending = self._without_stored_entries() if self._entries else self._pending
            base = int(self.db.execute("SELECT coalesce(max(id), 0) FROM exchanges").fetchone()[0])
            for sql, rows in zip(INSERTS, pending, strict=True):
                self.db.conn.executemany(sql, [(row[0] + base, *row[1:]) for row in rows])
            if self._entries:
                self.db.conn.executemany(
                    BUS_ENTRY_INSERT,
                    [
                        (self.run_id, uid, entry, local + base)
                        for uid, (entry, local) in self._entries.items()
                    ],
                )
        self._pending, self._pending_bytes, self._entries = ([], [], []), 0, {}

    def _without_stored_entries(self) -> tuple[list[Row], list[Row], list[Row]]:
        """The pending rows without those of bus entries this run already holds (another
        worker stored them first), inside the flush's transaction."""
        stored = self.stored_uids(list(self._entries))
        if not stored:
            return self._pending
        popped = [self._entries.pop(uid) for uid in stored]
        self._dropped.update(entry for entry, _ in popped)
        dropped = {local for _, local in popped}
        self.duplicates += len(dropped)
        exchanges, differences, assertions = self._pending
        return (
            [row for row in exchanges if row[0] not in dropped],
            [row for row in differences if row[0] not in dropped],
            [row for row in assertions if row[0] not in dropped],
        )

    def finish(self, status: str, traffic: dict[str, Any]) -> None:
        self.flush()
        self.db.table("runs").update(
            self.run_id, {"status": status, "finished_at": now(), "traffic": _json(traffic)}
        )


def _redacted(
    redact: Callable[[ExchangeResult, Redaction], ExchangeResult],
    redaction: Redaction,
    result: ExchangeResult,
) -> ExchangeResult:
    return redact(result, redaction)


def exchange_row(row_id: int, run_id: int, seq: int, result: ExchangeResult) -> Row:
    """The `exchanges` row of a result, in EXCHANGE_COLUMNS order."""
    exchange, comparison, candidate = result.exchange, result.comparison, result.candidate
    baseline = result.baseline or exchange.baseline
    return (
        row_id,
        run_id,
        seq,
        exchange.id,
        result.endpoint,
        exchange.request.method,
        exchange.request.target,
        exchange.timestamp,
        exchange.request.to_bytes(),
        baseline.to_bytes() if baseline else None,
        candidate.to_bytes() if candidate else None,
        baseline.status if baseline else None,
        candidate.status if candidate else None,
        _baseline_ms(result),
        result.candidate_latency,
        comparison.verdict,
        comparison.error,
        len(comparison.differences),
        sum(not a.passed for a in comparison.assertions),
    )


def difference_rows(exchange_id: int, run_id: int, result: ExchangeResult) -> list[Row]:
    """The `differences` rows of a result, in DIFFERENCE_COLUMNS order."""
    return [
        (
            exchange_id,
            run_id,
            result.endpoint,
            diff.path,
            diff.field,
            diff.kind,
            _json(diff.baseline),
            _json(diff.candidate),
        )
        for diff in result.comparison.differences
    ]


def assertion_rows(exchange_id: int, run_id: int, result: ExchangeResult) -> list[Row]:
    """The `assertion_results` rows of a result's failed assertions (ASSERTION_COLUMNS)."""
    return [
        (
            exchange_id,
            run_id,
            result.endpoint,
            check.assertion.describe(),
            check.assertion.where,
            0,
            check.message,
        )
        for check in result.comparison.assertions
        if not check.passed
    ]


def _baseline_ms(result: ExchangeResult) -> float | None:
    if result.baseline_latency is not None:
        return result.baseline_latency
    latency = result.exchange.baseline_latency
    return None if latency is None else latency / 1e6
