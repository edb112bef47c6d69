"""The gate: a run's summary and thresholds -> pass/fail, per endpoint and overall (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from shadowdiff.compare.model import DIFFERS, ERROR, FAILED, SAME, SKIPPED
from shadowdiff.compare.noise import NoiseThresholds, margins_for
from shadowdiff.compare.severity import LOW, rank


@dataclass(frozen=True, slots=True)
class GatePolicy:
    """Thresholds: per endpoint from the rules (`*` = the rules' default), then the flag."""

    thresholds: dict[str, float] = field(default_factory=dict)
    max_diff_rate: float | None = None
    allow_errors: bool = False
    max_lost: int | None = None  # capture losses (tee) above this fail the run
    fail_on: str = LOW  # the least severity a difference needs to count in the diff rate
    count_noise: bool = False  # count differences the noise evidence calls noise
    noise_margins: dict[str, list[float]] = field(default_factory=dict)  # match -> (rel, abs)

    def margins(self, endpoint: str) -> NoiseThresholds:
        return margins_for(self.noise_margins, endpoint)

    def threshold(self, endpoint: str) -> float:
        if endpoint in self.thresholds:
            return self.thresholds[endpoint]
        if self.max_diff_rate is not None:
            return self.max_diff_rate
        return self.thresholds.get("*", 0.0)


@dataclass(frozen=True, slots=True)
class EndpointGate:
    endpoint: str
    exchanges: int
    same: int
    differs: int
    failed: int
    errors: int
    skipped: int
    diff_rate: float
    max_diff_rate: float
    passed: bool
    reasons: list[str]
    fields: list[dict[str, Any]]
    error_reasons: list[dict[str, Any]]
    assertion_failures: list[dict[str, Any]]
    severity: str | None = None  # the highest severity of its differences (None: none)
    noise: int = 0  # differing exchanges not counted: every difference of theirs is noise


@dataclass(frozen=True, slots=True)
class GateResult:
    run: str
    passed: bool
    status: str
    exchanges: int
    same: int
    differs: int
    failed: int
    errors: int
    skipped: int
    unreadable: int
    reasons: list[str]
    endpoints: list[EndpointGate]
    uncompared: int = 0  # no baseline (none recorded, no --baseline): assertions only
    lost: int = 0  # exchanges the capture lost or shed (tee), by the run's own count
    capture: dict[str, int | None] = field(default_factory=dict)  # tee: losses by reason
    filtered: dict[str, int] = field(default_factory=dict)  # not replayed by choice, by reason

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_endpoint(
    endpoint: str,
    verdicts: dict[str, int],
    policy: GatePolicy,
    fields: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    asserts: list[dict[str, Any]],
    severe: int | None = None,
    noise: int = 0,
) -> EndpointGate:
    """`severe`: the exchanges with a counted difference: of at least `policy.fail_on`, and
    signal when there is noise evidence (None: every differing exchange counts). `noise`:
    the differing exchanges whose every difference is noise."""
    count = {v: verdicts.get(v, 0) for v in (SAME, DIFFERS, FAILED, ERROR, SKIPPED)}
    total = sum(verdicts.values())
    compared = total - count[SKIPPED]
    counted = count[DIFFERS] if severe is None else min(severe, count[DIFFERS])
    rate = counted / compared if compared else 0.0
    limit = policy.threshold(endpoint)
    reasons = []
    if rate > limit:
        at_least = "" if policy.fail_on == LOW else f" ({policy.fail_on} differences)"
        reasons.append(f"diff rate {rate:.2%} > {limit:.2%}{at_least}")
    if count[FAILED]:
        reasons.append(f"{count[FAILED]} assertion failure(s)")
    if count[ERROR] and not policy.allow_errors:
        reasons.append(f"{count[ERROR]} error(s)")
    return EndpointGate(
        endpoint,
        total,
        count[SAME],
        count[DIFFERS],
        count[FAILED],
        count[ERROR],
        count[SKIPPED],
        round(rate, 6),
        limit,
        not reasons,
        reasons,
        fields,
        errors,
        asserts,
        max((f["severity"] for f in fields if "severity" in f), key=rank, default=None),
        noise,
    )


def evaluate_gate(
    run: str,
    status: str,
    unreadable: int,
    endpoints: list[EndpointGate],
    uncompared: int = 0,
    lost: int = 0,
    max_lost: int | None = None,
    capture: dict[str, int | None] | None = None,
) -> GateResult:
    ordered = sorted(endpoints, key=lambda e: (e.passed, -e.diff_rate * e.exchanges, e.endpoint))
    total = {
        k: sum(getattr(e, k) for e in endpoints)
        for k in ("exchanges", "same", "differs", "failed", "errors", "skipped")
    }
    reasons = [f"{e.endpoint}: {'; '.join(e.reasons)}" for e in ordered if not e.passed]
    if status != "finished":
        reasons.append(f"the run is {status}, not finished")
    if not total["exchanges"]:
        reasons.append("the run has no exchanges")
    if max_lost is not None and lost > max_lost:
        reasons.append(f"the capture lost {lost} exchange(s), more than --max-lost {max_lost}")
    return GateResult(
        run,
        not reasons,
        status,
        total["exchanges"],
        total["same"],
        total["differs"],
        total["failed"],
        total["errors"],
        total["skipped"],
        unreadable,
        reasons,
        ordered,
        uncompared,
        lost,
        capture or {},
    )
