"""`shadowdiff recompare`: a stored run judged again under the current rules, without
replaying anything. Each exchange's stored request, baseline and candidate are compared
again (status, headers, body, assertions) and stored as a new run that names the one it
came from (`runs.source` and `settings.recompare_of`), so a rule change is checked in
seconds against the traffic that motivated it. Exchanges without a candidate (errors, held
back) keep their verdict and reason.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from shadowdiff.compare import Comparison, compare_responses
from shadowdiff.errors import InputError
from shadowdiff.exchange import Exchange, Request, Response
from shadowdiff.http1 import HttpParseError
from shadowdiff.rules import RuleSet
from shadowdiff.store import ExchangeResult, RunWriter, open_store
from shadowdiff.store.query import find_run
from shadowdiff.store.secrets import redaction_for

COLUMNS = (
    "gor_id, recorded_at, request, baseline, candidate, baseline_latency_ms, "
    "candidate_latency_ms, verdict, error, endpoint, differences"
)
REQUEST_LINE = 4096  # bytes of a stored request read by the first pass
FETCH = 500


@dataclass(frozen=True, slots=True)
class Recompared:
    run: str
    source: str
    counts: dict[str, int]


def recompare_run(
    db_path: Path, source_name: str | None, rules: RuleSet, new_name: str | None = None
) -> Recompared:
    db = open_store(db_path, create=False)
    source = find_run(db, source_name)
    name = new_name or f"{source.name}-recompared-{datetime.now():%Y%m%d-%H%M%S}"
    if db.table("runs").count_where("name = ?", [name]):
        raise InputError(f"--as {name}: a run of that name already exists in {db_path}")
    row = _run_row(db, source.id, source.name, rules)
    writer = RunWriter(db, name, row, redaction=redaction_for(db_path, rules))
    counts: Counter[str] = Counter()
    learn_requests(db, source.id, rules)
    try:
        for _, _, result in recompared(db, source.id, rules):
            writer.add(result)
            counts[result.comparison.verdict] += 1
    except BaseException:
        writer.finish("failed", {"recompare_of": source.name})
        raise
    writer.finish("finished", {"recompare_of": source.name})
    return Recompared(name, source.name, dict(counts))


def _run_row(db: Database, run_id: int, source: str, rules: RuleSet) -> dict[str, object]:
    old = db.execute("SELECT target, baseline, settings FROM runs WHERE id = ?", [run_id])
    target, baseline, settings = old.fetchone()
    options = {**json.loads(settings or "{}"), "recompare_of": source}
    options.pop("noise_thresholds", None)
    if margins := rules.noise_thresholds():
        options["noise_thresholds"] = margins
    return {
        "command": "recompare",
        "source": json.dumps([source]),
        "target": target,
        "baseline": baseline,
        "settings": json.dumps(options),
        "thresholds": json.dumps(rules.thresholds()),
    }


def request_lines(db: Database, run_id: int) -> Iterator[tuple[str, str]]:
    """(method, path) of each stored request of a run, from its first line only."""
    sql = "SELECT substr(request, 1, ?) FROM exchanges WHERE run_id = ? ORDER BY id"
    cursor = db.execute(sql, [REQUEST_LINE, run_id])
    while rows := cursor.fetchmany(FETCH):
        for (head,) in rows:
            method, _, rest = bytes(head).partition(b" ")
            target = rest.partition(b" ")[0].decode("latin-1")
            yield method.decode("latin-1"), target.partition("?")[0] or "/"


def learn_requests(db: Database, run_id: int, rules: RuleSet) -> None:
    """Two-pass naming, as replay does: every request line is seen before any is named, so
    a position folded by cardinality has one name from the first exchange on."""
    for method, path in request_lines(db, run_id):
        rules.learn(method, path)


def recompared(
    db: Database, run_id: int, rules: RuleSet
) -> Iterator[tuple[str, int, ExchangeResult]]:
    """Each stored exchange of a run judged again: (its stored endpoint, its stored number
    of differences, the new result)."""
    cursor = db.execute(f"SELECT {COLUMNS} FROM exchanges WHERE run_id = ? ORDER BY id", [run_id])
    while rows := cursor.fetchmany(FETCH):
        for row in rows:
            yield str(row[9]), int(row[10] or 0), _recompared(row[:9], rules)


def _recompared(row: tuple[Any, ...], rules: RuleSet) -> ExchangeResult:
    gor_id, recorded_at, raw_request, raw_baseline, raw_candidate = row[:5]
    baseline_ms, candidate_ms, verdict, error = row[5:]
    request = Request.parse(bytes(raw_request))
    baseline = _response(raw_baseline)
    candidate = _response(raw_candidate)
    exchange = Exchange(str(gor_id), request, baseline, int(recorded_at or 0))
    rule = rules.resolve(request.method, request.path)
    if candidate is None:  # an error or a held-back exchange: nothing to compare again
        comparison = Comparison(str(verdict), error=None if error is None else str(error))
    else:
        comparison = compare_responses(baseline, candidate, rule)
    return ExchangeResult(
        exchange,
        rule.match,
        comparison,
        baseline,
        candidate,
        None if candidate_ms is None else float(candidate_ms),
        None if baseline_ms is None else float(baseline_ms),
    )


def _response(raw: bytes | None) -> Response | None:
    if raw is None:
        return None
    try:
        return Response.parse(bytes(raw))
    except HttpParseError:
        return None
