"""A stored run, summarised for the gate: SQL aggregates in, GateResult out; and its text."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlite_utils import Database

from shadowdiff.compare.model import DIFFERS, compared_count
from shadowdiff.compare.noise import EndpointNoise, is_signal
from shadowdiff.compare.severity import LOW, rank, severity_of
from shadowdiff.gate import EndpointGate, GatePolicy, GateResult, evaluate_endpoint, evaluate_gate
from shadowdiff.store.noise import run_noise
from shadowdiff.store.query import (
    assertion_failures,
    error_reasons,
    exchanges_with,
    field_counts,
    find_run,
    severe_counts,
    uncompared_count,
    verdict_counts,
)

TOP_FIELDS = 5


def summarize_run(db: Database, run_name: str | None, policy: GatePolicy) -> GateResult:
    run = find_run(db, run_name)
    if not policy.thresholds:
        policy = replace(policy, thresholds=run.thresholds)
    fields, errors = field_counts(db, run.id), error_reasons(db, run.id)
    asserts = assertion_failures(db, run.id)
    if not policy.noise_margins:
        policy = replace(policy, noise_margins=run.settings.get("noise_thresholds") or {})
    severe = None if policy.fail_on == LOW else severe_counts(db, run.id, policy.fail_on)
    noise = {} if policy.count_noise else run_noise(db, run.id)
    endpoints = []
    for endpoint, verdicts in verdict_counts(db, run.id).items():
        counted = None if severe is None else severe.get(endpoint, 0)
        noise_only = 0
        if endpoint in noise:
            counted, noise_only = _without_noise(
                db, run.id, endpoint, fields.get(endpoint, []), verdicts, noise[endpoint], policy
            )
        endpoints.append(
            evaluate_endpoint(
                endpoint,
                verdicts,
                policy,
                fields.get(endpoint, []),
                errors.get(endpoint, []),
                asserts.get(endpoint, []),
                counted,
                noise_only,
            )
        )
    uncompared = uncompared_count(db, run.id)
    lost = int(run.traffic.get("lost", 0))
    result = evaluate_gate(
        run.name,
        run.status,
        run.problems,
        endpoints,
        uncompared,
        lost,
        policy.max_lost,
        capture_losses(run.traffic),
    )
    return replace(result, filtered=filtered_counts(run.traffic))


def _without_noise(
    db: Database,
    run_id: int,
    endpoint: str,
    fields: list[dict[str, Any]],
    verdicts: dict[str, int],
    evidence: EndpointNoise,
    policy: GatePolicy,
) -> tuple[int, int]:
    """Mark each field noise or signal (Diffy's test, compare/noise.py), in place; return
    the differing exchanges that count (a signal difference of at least `--fail-on`) and
    those whose every difference is noise."""
    compared = compared_count(verdicts)
    margins = policy.margins(endpoint)
    signal: list[tuple[str, str]] = []
    for f in fields:
        noise = evidence.rate(f["path"], f["kind"])
        rate = noise.rate if noise is not None else 0.0
        f["noise"] = {
            "rate": round(rate, 6),
            "signal": is_signal(f["count"], compared, rate, margins),
            "sampled": evidence.sampled,
            "runs": list(evidence.runs),
        }
        if f["noise"]["signal"]:
            signal.append((f["path"], f["kind"]))
    counted = [p for p in signal if rank(severity_of(p[1], p[0])) >= rank(policy.fail_on)]
    with_signal = exchanges_with(db, run_id, endpoint, signal)
    # every signal field reaches --fail-on (always so at `low`): the same exchanges
    severe = with_signal if counted == signal else exchanges_with(db, run_id, endpoint, counted)
    return severe, verdicts.get(DIFFERS, 0) - with_signal


def filtered_counts(traffic: dict[str, Any]) -> dict[str, int]:
    """What filters, rates and the middleware kept from the targets, by reason."""
    filtered = traffic.get("filtered")
    return {str(k): int(v) for k, v in filtered.items()} if isinstance(filtered, dict) else {}


CAPTURE_LOSSES = {  # what a live run's traffic counts -> the gate's names, in this order
    "kernel_dropped": "packets_dropped",
    "undelivered": "packets_not_delivered",
    "requests_without_response": "requests_without_response",
    "responses_without_request": "responses_without_request",
    "incomplete_requests": "incomplete_requests",
    "incomplete_responses": "incomplete_responses",
    "holes": "holes_skipped",
}


def capture_losses(traffic: dict[str, Any]) -> dict[str, int | None]:
    """A live run's losses by reason (empty for a replay of files): the capture's own
    counts, then what tee shed or could not read."""
    capture = traffic.get("capture")
    if not isinstance(capture, dict):
        return {}
    losses: dict[str, int | None] = {
        name: capture.get(key) for key, name in CAPTURE_LOSSES.items() if key in capture
    }
    for key in ("shed", "unreadable", "unanswered"):
        losses[key] = int(traffic.get(key, 0))
    return losses


def _noise_lines(result: GateResult) -> list[str]:
    """Where the noise evidence came from, and what it kept out of the diff rates."""
    runs = sorted({run for e in result.endpoints for f in e.fields for run in _runs_of(f)})
    if not runs:
        return []
    noise = sum(e.noise for e in result.endpoints)
    return [
        f"  note: noise evidence from run(s) {', '.join(runs)}; {noise} differing exchange(s) "
        "differ only in noise fields and are not counted (--count-noise counts them)"
    ]


def _runs_of(f: dict[str, Any]) -> list[str]:
    noise = f.get("noise")
    return list(noise["runs"]) if noise is not None else []


def _noise_note(f: dict[str, Any]) -> str:
    noise = f.get("noise")
    if noise is None or noise["signal"]:
        return ""
    return f"  (noise: {noise['rate']:.0%} of {noise['sampled']} sent twice)"


def format_gate(result: GateResult) -> str:
    """The gate as text for people: one line per endpoint, worst first, top fields below."""
    lines = [
        f"run {result.run}: {'PASSED' if result.passed else 'FAILED'} — {result.exchanges} "
        f"exchanges: same {result.same}, differs {result.differs}, failed {result.failed}, "
        f"errors {result.errors}, skipped {result.skipped}"
        + (f", unreadable records {result.unreadable}" if result.unreadable else ""),
    ]
    if result.filtered:
        counts = ", ".join(f"{reason} {count}" for reason, count in result.filtered.items())
        lines.append(f"  note: not replayed by choice: {sum(result.filtered.values())} ({counts})")
    if result.lost or any(result.capture.values()):
        counts = ", ".join(
            f"{name.replace('_', ' ')} {value}" for name, value in result.capture.items() if value
        )
        lines.append(
            f"  note: the capture lost {result.lost} exchange(s): {counts or 'see the run'}"
        )
    if result.uncompared:
        lines.append(
            f"  note: {result.uncompared} exchange(s) had no baseline response (none "
            "recorded, no --baseline): checked by their assertions only"
        )
    lines += _noise_lines(result)
    width = max((len(e.endpoint) for e in result.endpoints), default=10)
    for e in result.endpoints:
        lines += _endpoint_lines(e, width)
    lines += [
        f"  reason: {reason}"
        for reason in result.reasons
        if ": " not in reason or not any(reason.startswith(e.endpoint) for e in result.endpoints)
    ]
    return "\n".join(lines)


def _endpoint_lines(e: EndpointGate, width: int) -> list[str]:
    mark = "PASS" if e.passed else "FAIL"
    lines = [
        f"  {mark}  {e.endpoint:<{width}}  {e.exchanges:>6} exchanges  diff rate "
        f"{e.diff_rate:7.2%} (max {e.max_diff_rate:.2%})  failed {e.failed}  errors {e.errors}"
    ]
    if e.noise:
        lines[0] += f"  noise {e.noise}"
    signal_first = sorted(e.fields, key=lambda f: not f.get("noise", {}).get("signal", True))
    lines += [
        f"          {f['kind']:<15} {f['path']}  x{f['count']}{_noise_note(f)}"
        for f in signal_first[:TOP_FIELDS]
    ]
    lines += [
        f"          error           {r['reason']}  x{r['count']}" for r in e.error_reasons[:3]
    ]
    lines += [
        f"          assertion       {a['assertion']} ({a['rule']})  x{a['count']}"
        for a in e.assertion_failures[:3]
    ]
    return lines
