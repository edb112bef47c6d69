"""Rule suggestions from noise evidence (pure): what `rules suggest` proposes to write.

A (field, kind) a build disagrees with itself on becomes a suggestion only when the
evidence supports it, and never one that could hide a regression:

- a value that changes: `tolerance` when every change was numeric and under 1 (jitter),
  else `ignore`; a header that changes: `headers.ignore` (never Content-Type);
- an array the build itself returns in different orders: `array_keys` when its objects keep
  a unique key, else `unordered` (an order a build does not keep is no contract);
- never a structural change (a missing or added field, a type, a length, a status);
- never a field that is signal by Diffy's test (compare/noise.py), never `$` itself, and
  never an ignore over a path where the run shows a signal difference of another kind
  (ignoring `$.ts` would hide its type change).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shadowdiff.compare.noise import EndpointNoise, NoiseThresholds, is_signal, nice_tolerance
from shadowdiff.compare.severity import CONTENT_TYPE
from shadowdiff.rules.model import EndpointRule

MIN_EVIDENCE = 2  # a field must differ build-vs-itself at least this often
STRUCTURAL = frozenset(
    {"missing", "added", "type_changed", "length_changed", "status_changed", "body_changed"}
)
IGNORE, TOLERANCE, UNORDERED, ARRAY_KEYS, HEADER_IGNORE = (
    "ignore",
    "tolerance",
    "unordered",
    "array_keys",
    "headers.ignore",
)


@dataclass(frozen=True, slots=True)
class Suggestion:
    endpoint: str
    action: str  # ignore, tolerance, unordered, array_keys, headers.ignore
    path: str  # a JSONPath, or a header name for headers.ignore
    value: float | str | None  # the tolerance, or the array's key
    why: str

    def describe(self) -> str:
        value = "" if self.value is None else f": {self.value}"
        return f"{self.endpoint}: {self.action} {self.path}{value}  ({self.why})"


@dataclass(frozen=True, slots=True)
class Refusal:
    endpoint: str
    path: str
    kind: str
    reason: str

    def describe(self) -> str:
        return f"{self.endpoint}: not {self.kind} at {self.path}: {self.reason}"


@dataclass(frozen=True, slots=True)
class EndpointFacts:
    """What a run shows of one endpoint: its compared exchanges and its fields
    ({path, kind, count}), with its noise evidence, margins and current rule."""

    endpoint: str
    compared: int
    fields: Sequence[Mapping[str, Any]]
    noise: EndpointNoise
    margins: NoiseThresholds
    rule: EndpointRule | None


def suggest(facts: EndpointFacts) -> tuple[list[Suggestion], list[Refusal]]:
    counts = {(f["path"], f["kind"]): int(f["count"]) for f in facts.fields}
    signal = signal_fields(facts)
    suggestions: list[Suggestion] = []
    refusals: list[Refusal] = []
    for (path, kind), noise in sorted(facts.noise.fields.items()):
        if noise.differences < MIN_EVIDENCE:
            continue
        why = (
            f"the build disagreed with itself in {noise.differences} of {noise.sampled}; "
            f"baseline and candidate in {counts.get((path, kind), 0)} of {facts.compared}"
        )
        outcome = _one(facts, path, kind, counts, signal, why)
        if isinstance(outcome, Suggestion):
            suggestions.append(outcome)
        elif isinstance(outcome, Refusal):
            refusals.append(outcome)
    return suggestions, refusals


def signal_fields(facts: EndpointFacts) -> set[tuple[str, str]]:
    """The (field, kind) of the run that are signal by Diffy's test."""
    return {
        (f["path"], f["kind"])
        for f in facts.fields
        if is_signal(
            int(f["count"]), facts.compared, _rate(facts.noise, f["path"], f["kind"]), facts.margins
        )
    }


def _one(
    facts: EndpointFacts,
    path: str,
    kind: str,
    counts: dict[tuple[str, str], int],
    signal: set[tuple[str, str]],
    why: str,
) -> Suggestion | Refusal | None:
    endpoint, noise = facts.endpoint, facts.noise.fields[path, kind]
    if kind == "order_changed":
        if not any(under(field, path) for field, _ in counts):
            return None  # nothing in this run to hide
        why = f"the build itself answered it in another order in {noise.differences} of "
        why += f"{noise.sampled}: an order it does not keep is no contract"
        if noise.array_key:
            return Suggestion(endpoint, ARRAY_KEYS, path, noise.array_key, why)
        return Suggestion(endpoint, UNORDERED, path, None, why)
    if not counts.get((path, kind)) or noise.by_index:
        return None  # nothing to hide; or an artefact of a reordered array (array_keys)
    if kind in STRUCTURAL:
        return Refusal(endpoint, path, kind, "a structural change is never suggested")
    if (path, kind) in signal:
        return Refusal(endpoint, path, kind, f"signal, not noise ({why})")
    if kind == "header_changed":
        return _header(endpoint, path, kind, why)
    if noise.numeric and 0 < noise.max_delta < 1:
        return Suggestion(endpoint, TOLERANCE, path, nice_tolerance(noise.max_delta), why)
    return _ignore(endpoint, path, kind, signal, why)


def _header(endpoint: str, path: str, kind: str, why: str) -> Suggestion | Refusal:
    if path.lower() == CONTENT_TYPE:
        return Refusal(endpoint, path, kind, "Content-Type is never ignored")
    return Suggestion(endpoint, HEADER_IGNORE, path.removeprefix("headers."), None, why)


def _ignore(
    endpoint: str, path: str, kind: str, signal: set[tuple[str, str]], why: str
) -> Suggestion | Refusal:
    if path in ("$", "$.*", "$[*]"):
        return Refusal(endpoint, path, kind, "over-broad: it would ignore the whole body")
    hidden = sorted(f"{k} at {p}" for p, k in signal if under(p, path))
    if hidden:
        return Refusal(endpoint, path, kind, f"ignoring it would hide {', '.join(hidden)}")
    return Suggestion(endpoint, IGNORE, path, None, why)


def under(field: str, path: str) -> bool:
    """`field` is `path` or lies inside it."""
    return field == path or field.startswith((path + ".", path + "["))


def _rate(noise: EndpointNoise, path: str, kind: str) -> float:
    found = noise.rate(path, kind)
    return found.rate if found is not None else 0.0
