"""Trends across runs (nightly reports): each endpoint's diff rate over the last N runs, and
the difference signatures (endpoint + field + kind) of the latest run marked `new` (not in
the run before it) or `known`, plus those that are `gone` since."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from shadowdiff import __version__
from shadowdiff.errors import InputError

_WINDOW = re.compile(r"(\d+)\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, slots=True)
class TrendRun:
    id: int
    name: str
    started_at: str
    exchanges: int


@dataclass(frozen=True, slots=True)
class TrendRow:
    """An endpoint's diff rate in each run (None where the run had no such traffic)."""

    endpoint: str
    rates: list[float | None]
    exchanges: list[int]


@dataclass(frozen=True, slots=True)
class Signature:
    endpoint: str
    path: str
    kind: str
    status: str  # new | known | gone
    first_seen: str  # run name, within the window
    count: int  # exchanges showing it in the latest run (in the previous one for `gone`)


@dataclass(frozen=True, slots=True)
class TrendContext:
    runs: list[TrendRun]
    endpoints: list[TrendRow]
    signatures: list[Signature]
    generated_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    version: str = __version__


def parse_window(text: str) -> timedelta:
    """`90m`, `24h`, `7d`, `2w` -> a timedelta."""
    match = _WINDOW.fullmatch(text.strip().lower())
    if not match:
        raise InputError(f"--since {text}: expected a duration like 24h, 7d or 90m")
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise InputError(f"--since {text}: too long a duration") from None


def select_runs(
    db: Database, last: int, since: timedelta | None, name: str | None = None
) -> list[TrendRun]:
    """The last `last` runs (oldest first), or those started within `since`; only those
    whose name matches the glob `name` (`nightly-*`) when given."""
    sql = """SELECT r.id, r.name, r.started_at, (SELECT count(*) FROM exchanges WHERE run_id = r.id)
             FROM runs r ORDER BY r.id DESC"""
    rows = db.execute(sql).fetchall()
    if name is not None:
        rows = [r for r in rows if fnmatch.fnmatchcase(r[1], name)]
    if since is not None:
        try:
            cutoff = (datetime.now(UTC) - since).isoformat(timespec="seconds")
        except OverflowError:  # reaches back before year 1: every run
            cutoff = ""
        rows = [r for r in rows if (r[2] or "") >= cutoff]
    else:
        rows = rows[:last]
    if not rows:
        which = f" named {name!r}" if name else ""
        raise InputError(f"no runs{which} to show a trend of (run `shadowdiff replay` first)")
    return [TrendRun(*row) for row in reversed(rows)]


def build_trend(
    db: Database, last: int = 10, since: timedelta | None = None, name: str | None = None
) -> TrendContext:
    runs = select_runs(db, last, since, name)
    return TrendContext(runs, _rates(db, runs), _signatures(db, runs))


def _rates(db: Database, runs: list[TrendRun]) -> list[TrendRow]:
    ids = [r.id for r in runs]
    marks = ",".join("?" * len(ids))
    sql = f"""SELECT run_id, endpoint, sum(verdict = 'differs'), sum(verdict != 'skipped'), count(*)
              FROM exchanges WHERE run_id IN ({marks}) GROUP BY 1, 2"""
    cells: dict[str, dict[int, tuple[float | None, int]]] = {}
    for run_id, endpoint, differs, compared, total in db.execute(sql, ids).fetchall():
        cells.setdefault(endpoint, {})[run_id] = (differs / compared if compared else None, total)
    rows = [
        TrendRow(
            endpoint,
            [cells[endpoint].get(i, (None, 0))[0] for i in ids],
            [cells[endpoint].get(i, (None, 0))[1] for i in ids],
        )
        for endpoint in cells
    ]
    return sorted(rows, key=lambda r: (-(r.rates[-1] or 0.0), r.endpoint))


def _signatures(db: Database, runs: list[TrendRun]) -> list[Signature]:
    ids = [r.id for r in runs]
    marks = ",".join("?" * len(ids))
    sql = f"""SELECT run_id, endpoint, field, kind, count(DISTINCT exchange_id)
              FROM differences WHERE run_id IN ({marks}) GROUP BY 1, 2, 3, 4"""
    seen: dict[tuple[str, str, str], dict[int, int]] = {}
    for run_id, endpoint, path, kind, count in db.execute(sql, ids).fetchall():
        seen.setdefault((endpoint, path, kind), {})[run_id] = count
    names = {r.id: r.name for r in runs}
    latest, previous = ids[-1], ids[-2] if len(ids) > 1 else None
    found = [_signature(key, counts, latest, previous, names) for key, counts in seen.items()]
    order = {"new": 0, "known": 1, "gone": 2}
    return sorted(
        (s for s in found if s), key=lambda s: (order[s.status], -s.count, s.endpoint, s.path)
    )


def _signature(
    key: tuple[str, str, str],
    counts: dict[int, int],
    latest: int,
    previous: int | None,
    names: dict[int, str],
) -> Signature | None:
    first = names[min(counts)]
    if latest in counts:
        status = "known" if previous in counts else "new"
        return Signature(*key, status, first, counts[latest])
    if previous is not None and previous in counts:
        return Signature(*key, "gone", first, counts[previous])
    return None


def trend_rows_as_json(context: TrendContext) -> dict[str, Any]:
    """The trend as plain values (for --json)."""
    return {
        "runs": [r.name for r in context.runs],
        "endpoints": [
            {"endpoint": row.endpoint, "diff_rates": row.rates, "exchanges": row.exchanges}
            for row in context.endpoints
        ],
        "signatures": [
            {
                "endpoint": s.endpoint,
                "path": s.path,
                "kind": s.kind,
                "status": s.status,
                "first_seen": s.first_seen,
                "count": s.count,
            }
            for s in context.signatures
        ],
    }
