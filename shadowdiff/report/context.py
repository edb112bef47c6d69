"""The values the report template receives (documented in the README, "Report context").

`build_report(db, run, policy)` reads a run through SQL aggregates and a bounded sample of
example exchanges; the template only formats these values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from shadowdiff import __version__
from shadowdiff.compare.severity import severity_of
from shadowdiff.gate import EndpointGate, GatePolicy, GateResult
from shadowdiff.report.bodies import ShownMessage, show_request, show_response
from shadowdiff.report.ci import signal_first
from shadowdiff.report.queries import (
    Percentiles,
    error_examples,
    latency_percentiles,
    load_differences,
    load_exchanges,
    sample_examples,
)
from shadowdiff.store.query import RunInfo, find_run
from shadowdiff.summary import summarize_run

FIELDS_WITH_EXAMPLES = 10
SHOWN_VALUE = 300
MAX_DIFFERENCES = 50  # rows in an example's table of differences


@dataclass(frozen=True, slots=True)
class DifferenceRow:
    """One difference of an example: concrete path, kind, both values as short JSON text."""

    path: str
    kind: str
    baseline: str
    candidate: str


@dataclass(frozen=True, slots=True)
class Example:
    """A sampled exchange: the request, and baseline vs candidate with differing lines marked."""

    id: int
    anchor: str
    request_line: str
    verdict: str
    error: str | None
    request_head: list[str]
    request_body: str
    baseline: ShownMessage
    candidate: ShownMessage
    differences: list[DifferenceRow]  # the first MAX_DIFFERENCES
    difference_count: int  # all of them


@dataclass(frozen=True, slots=True)
class FieldReport:
    """A differing field of an endpoint (indexes folded to `[*]`), Diffy-style."""

    path: str
    kind: str
    count: int
    share: float  # of the endpoint's exchanges
    examples: list[str]  # anchors of Example sections
    severity: str = "medium"  # high, medium or low (compare/severity.py)
    noise: float | None = None  # the rate of a field the noise evidence calls noise


@dataclass(frozen=True, slots=True)
class EndpointReport:
    gate: EndpointGate
    anchor: str
    baseline_latency: Percentiles
    candidate_latency: Percentiles
    fields: list[FieldReport]
    examples: list[Example]


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    reason: str
    count: int
    endpoints: list[str]
    example: str  # a request line that got this error


@dataclass(frozen=True, slots=True)
class ReportContext:
    run: RunInfo
    gate: GateResult
    endpoints: list[EndpointReport]
    errors: list[ErrorGroup]
    assertion_failures: list[dict[str, Any]]  # {endpoint, assertion, rule, count}
    generated_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    version: str = __version__


def build_report(db: Database, run_name: str | None, policy: GatePolicy) -> ReportContext:
    run = find_run(db, run_name)
    gate = summarize_run(db, run.name, policy)
    samples = sample_examples(db, run.id)
    base_ms = latency_percentiles(db, run.id, "baseline_latency_ms")
    cand_ms = latency_percentiles(db, run.id, "candidate_latency_ms")
    wanted = {e.endpoint: _fields_with_examples(e, samples) for e in gate.endpoints}
    ids = {i for fields in wanted.values() for f in fields for i in f[1]}
    examples = _examples(db, ids)
    endpoints = [
        _endpoint_report(e, i, wanted[e.endpoint], examples, base_ms, cand_ms)
        for i, e in enumerate(gate.endpoints)
    ]
    failures = [{"endpoint": e.endpoint, **a} for e in gate.endpoints for a in e.assertion_failures]
    return ReportContext(run, gate, endpoints, _error_groups(db, run.id, gate), failures)


def _fields_with_examples(
    endpoint: EndpointGate, samples: dict[tuple[str, str, str], list[int]]
) -> list[tuple[dict[str, Any], list[int]]]:
    return [
        (
            f,
            samples.get((endpoint.endpoint, f["path"], f["kind"]), [])
            if i < FIELDS_WITH_EXAMPLES
            else [],
        )
        for i, f in enumerate(signal_first(endpoint.fields))
    ]


def _endpoint_report(
    gate: EndpointGate,
    index: int,
    fields: list[tuple[dict[str, Any], list[int]]],
    examples: dict[int, Example],
    base_ms: dict[str, Percentiles],
    cand_ms: dict[str, Percentiles],
) -> EndpointReport:
    shown: dict[int, Example] = {}
    rows = []
    for f, ids in fields:
        for i in ids:
            shown.setdefault(i, examples[i])
        share = f["count"] / gate.exchanges if gate.exchanges else 0.0
        rows.append(
            FieldReport(
                f["path"],
                f["kind"],
                f["count"],
                share,
                [examples[i].anchor for i in ids],
                severity_of(f["kind"], f["path"]),
                _noise_rate(f),
            )
        )
    return EndpointReport(
        gate,
        f"endpoint-{index}",
        base_ms.get(gate.endpoint, Percentiles()),
        cand_ms.get(gate.endpoint, Percentiles()),
        rows,
        sorted(shown.values(), key=lambda x: x.id),
    )


def _noise_rate(f: dict[str, Any]) -> float | None:
    noise = f.get("noise")
    return None if noise is None or noise["signal"] else float(noise["rate"])


def _examples(db: Database, ids: set[int]) -> dict[int, Example]:
    rows, differences = load_exchanges(db, ids), load_differences(db, ids)
    return {i: _example(rows[i], differences.get(i, [])) for i in ids if i in rows}


def _example(row: dict[str, Any], differences: list[dict[str, Any]]) -> Example:
    differing = frozenset(d["path"] for d in differences)
    head, body = show_request(row["request"])
    return Example(
        row["id"],
        f"exchange-{row['id']}",
        f"{row['method']} {row['target']}",
        row["verdict"],
        row["error"],
        head,
        body,
        show_response(row["baseline"], differing),
        show_response(row["candidate"], differing),
        [
            DifferenceRow(d["path"], d["kind"], _short(d["baseline"]), _short(d["candidate"]))
            for d in differences[:MAX_DIFFERENCES]
        ],
        len(differences),
    )


def _short(stored: str | None) -> str:
    text = "null" if stored is None else stored  # stored as JSON text already
    return text if len(text) <= SHOWN_VALUE else text[:SHOWN_VALUE] + "…"


def _error_groups(db: Database, run_id: int, gate: GateResult) -> list[ErrorGroup]:
    examples = error_examples(db, run_id)
    groups: dict[str, ErrorGroup] = {}
    for e in gate.endpoints:
        for r in e.error_reasons:
            reason = r["reason"] or "unknown"
            old = groups.get(reason)
            example = old.example if old else examples.get((e.endpoint, r["reason"]), "")
            groups[reason] = ErrorGroup(
                reason,
                (old.count if old else 0) + r["count"],
                [*(old.endpoints if old else []), e.endpoint],
                example,
            )
    return sorted(groups.values(), key=lambda g: -g.count)


def example_lines(db: Database, run_name: str | None, gate: GateResult) -> dict[str, str]:
    """endpoint -> one line showing why it fails: a request and a difference in its top field
    (when the diff rate is over the threshold), a failed assertion, or an error (for JUnit and
    Markdown)."""
    run = find_run(db, run_name)
    samples = sample_examples(db, run.id, per_field=1)
    lines: dict[str, str] = {}
    for e in gate.endpoints:
        if e.passed:
            continue
        top = e.fields[0] if e.fields else None
        ids = samples.get((e.endpoint, top["path"], top["kind"]), []) if top else []
        if ids and top and e.diff_rate > e.max_diff_rate:
            lines[e.endpoint] = _difference_line(db, ids[0], top["path"], top["kind"])
        elif e.assertion_failures:
            a = e.assertion_failures[0]
            lines[e.endpoint] = f"assertion {a['assertion']} failed ({a['rule']})"
        elif e.error_reasons:
            lines[e.endpoint] = f"error: {e.error_reasons[0]['reason'] or 'unknown'}"
        elif ids and top:
            lines[e.endpoint] = _difference_line(db, ids[0], top["path"], top["kind"])
    return lines


def _difference_line(db: Database, exchange_id: int, folded: str, kind: str) -> str:
    """The request line and the exchange's first difference in field `folded`."""
    row = load_exchanges(db, [exchange_id])[exchange_id]
    found = load_differences(db, [exchange_id])[exchange_id]
    first = next((d for d in found if (d["field"], d["kind"]) == (folded, kind)), found[0])
    return (
        f"{row['method']} {row['target']}: {first['path']} {first['kind']}, baseline "
        f"{_short(first['baseline'])}, candidate {_short(first['candidate'])}"
    )
