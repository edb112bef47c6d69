"""Noise: how often a build disagrees with itself, and Diffy's test of what is signal (pure).

`replay --noise` sends a share of the requests a second time to the same build and compares
the two answers under the endpoint's rule. What differs there (random ids, timestamps,
shuffled arrays, float jitter) is noise: counted per endpoint, folded field path and kind,
out of how many exchanges were sent twice.

A field is *signal* in a run when it differs baseline-vs-candidate more often than the build
differs from itself (twitter/diffy, research/difftools.md §3.2), by both margins:

    R = exchanges of the endpoint differing at (field, kind), baseline vs candidate
    N = the noise rate of (field, kind) x T, T = the endpoint's compared exchanges
    signal  <=>  R > N  and  |R - N| / (R + N) > relative  and  |R - N| / T > absolute

The test is per kind: a timestamp noisy in value that changes type in the candidate is
still caught. Reordered arrays of objects are told apart from changed ones: when every
element of an array keeps a field with unique values (its key) and the two answers hold the
same keys in another order, the array is noted with that key (for `array_keys`) and the
pair is compared again aligned by it, so the noise of the elements' own fields is measured
on the same elements.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shadowdiff.compare.model import Difference, fold_path
from shadowdiff.compare.verdict import compare_responses
from shadowdiff.exchange import Response
from shadowdiff.rules.model import NOISE_ABSOLUTE, NOISE_RELATIVE, EndpointRule

MAX_FIELDS = 100_000  # (endpoint, source, field, kind) kept per run: a few MB at most
KEY_NAMES = ("id", "uuid", "key", "code", "name", "sku", "slug")


@dataclass(frozen=True, slots=True)
class NoiseThresholds:
    """Diffy's margins, as fractions (rules: `noise: {relative: 0.2, absolute: 0.0003}`)."""

    relative: float = NOISE_RELATIVE
    absolute: float = NOISE_ABSOLUTE


@dataclass(slots=True)
class FieldNoise:
    """What one (endpoint, source, field, kind) showed over the exchanges sent twice."""

    differences: int = 0
    max_delta: float = 0.0  # the largest |a - b| of a numeric value change
    numeric: bool = True  # every value change seen was between two numbers
    array_key: str | None = None  # a reordered array of objects: its elements' key
    by_index: bool = False  # seen only pairing a reordered array's elements by index

    def add(self, other: FieldNoise) -> None:
        self.differences += other.differences
        self.max_delta = max(self.max_delta, other.max_delta)
        self.numeric = self.numeric and other.numeric
        self.array_key = self.array_key or other.array_key
        self.by_index = self.by_index and other.by_index


FieldKey = tuple[str, str, str, str]  # endpoint, source, field, kind


@dataclass(slots=True)
class NoiseEvidence:
    """Counts gathered during a run (mutable, one per run), stored when it ends."""

    sampled: Counter[tuple[str, str]] = field(default_factory=Counter)
    fields: dict[FieldKey, FieldNoise] = field(default_factory=dict)

    def observe(
        self, endpoint: str, source: str, first: Response, second: Response, rule: EndpointRule
    ) -> None:
        """One exchange answered twice by the same build (`source`: candidate or baseline)."""
        self.sampled[endpoint, source] += 1
        for (path, kind), seen in self_differences(first, second, rule).items():
            if (known := self.fields.get((endpoint, source, path, kind))) is not None:
                known.add(seen)
            elif len(self.fields) < MAX_FIELDS:  # bounded, however long a tee runs
                self.fields[endpoint, source, path, kind] = seen


def self_differences(
    first: Response, second: Response, rule: EndpointRule
) -> dict[tuple[str, str], FieldNoise]:
    """(field, kind) -> what one pair of answers of one build showed (each counted once)."""
    raw = list(compare_responses(first, second, rule).differences)
    keys = _reordered_keys(first, second, raw) if raw else {}
    differences = raw
    if keys:
        keyed = replace(rule, array_keys=rule.array_keys + tuple(keys.items()))
        differences = list(compare_responses(first, second, keyed).differences)
    seen: dict[tuple[str, str], FieldNoise] = {}
    for path, key in keys.items():
        seen[path, "order_changed"] = FieldNoise(1, array_key=key)
    for difference in differences:
        noise = seen.setdefault((difference.field, difference.kind), FieldNoise(1))
        if difference.kind == "value_changed":
            _measure(noise, difference)
    # what pairing the reordered elements by index showed (as the run's comparison does
    # until a rule aligns them): noise for the gate, never a field to ignore
    for difference in raw if keys else ():
        seen.setdefault((difference.field, difference.kind), FieldNoise(1, by_index=True))
    return seen


def _measure(noise: FieldNoise, difference: Difference) -> None:
    a, b = difference.baseline, difference.candidate
    if _is_number(a) and _is_number(b):
        noise.max_delta = max(noise.max_delta, abs(float(a) - float(b)))
    else:
        noise.numeric = False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _reordered_keys(
    first: Response, second: Response, differences: list[Difference]
) -> dict[str, str]:
    """Array paths (folded, `$.items`) whose objects came back in another order -> the
    field that names each of them."""
    arrays = {_array_of(d.path) for d in differences} - {None}
    if not arrays:
        return {}
    a, b = _json(first), _json(second)
    found: dict[str, str] = {}
    for path in sorted(p for p in arrays if p is not None):
        key = element_key(_walk(a, path), _walk(b, path))
        if key is not None:
            found[fold_path(path)] = key
    return found


def _array_of(path: str) -> str | None:
    """`$.items[3].price` -> `$.items` (the outermost array of a concrete path)."""
    cut = path.find("[")
    while cut != -1 and not path[cut + 1 : cut + 2].isdigit():
        cut = path.find("[", cut + 1)
    return path[:cut] if cut > 0 else None


def _json(response: Response) -> Any:
    try:
        return json.loads(response.content) if response.is_json else None
    except ValueError:
        return None


def _walk(data: Any, path: str) -> Any:
    """The value at a plain `$.a.b` path (None where it breaks or is not that plain)."""
    for name in path[2:].split(".") if path != "$" else []:
        if not isinstance(data, dict) or name not in data:
            return None
        data = data[name]
    return data


def element_key(a: Any, b: Any) -> str | None:
    """The field naming every element of two arrays of objects holding the same elements
    (by that field) in another order; None when they are not that."""
    if not _objects(a) or not _objects(b) or len(a) != len(b) or len(a) < 2:
        return None
    names = [n for n in KEY_NAMES if n in a[0]] + sorted(set(a[0]) - set(KEY_NAMES))
    for name in names:
        left, right = _keys(a, name), _keys(b, name)
        reordered = left is not None and right is not None and left != right
        if reordered and sorted(left or ()) == sorted(right or ()):
            return str(name)
    return None


def _objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(e, dict) for e in value)


def _keys(elements: list[dict[str, Any]], name: str) -> list[str] | None:
    values = [e.get(name) for e in elements]
    if any(v is None or isinstance(v, dict | list | bool) for v in values):
        return None
    texts = [json.dumps(v) for v in values]
    return texts if len(set(texts)) == len(texts) else None


@dataclass(frozen=True, slots=True)
class FieldRate:
    """The noise of one (field, kind) on an endpoint: its rate over the exchanges sent twice."""

    rate: float
    differences: int
    sampled: int
    max_delta: float = 0.0
    numeric: bool = True
    array_key: str | None = None
    by_index: bool = False


@dataclass(frozen=True, slots=True)
class EndpointNoise:
    """An endpoint's noise evidence: sampled exchanges and (field, kind) -> rate."""

    sampled: int
    fields: Mapping[tuple[str, str], FieldRate]
    runs: tuple[str, ...] = ()  # the runs the evidence comes from

    def rate(self, path: str, kind: str) -> FieldRate | None:
        return self.fields.get((path, kind))


def field_rates(
    sampled: Mapping[str, int], fields: Iterable[tuple[str, str, str, FieldNoise]]
) -> dict[tuple[str, str], FieldRate]:
    """Per source counts (source, field, kind, noise) -> one rate per (field, kind): the
    noisier build's (a field noisy in either build is noise)."""
    rates: dict[tuple[str, str], FieldRate] = {}
    for source, path, kind, noise in fields:
        total = sampled.get(source, 0)
        if not total:
            continue
        rate = FieldRate(
            min(1.0, noise.differences / total),
            noise.differences,
            total,
            noise.max_delta,
            noise.numeric,
            noise.array_key,
            noise.by_index,
        )
        key = (path, kind)
        if key not in rates or rate.rate > rates[key].rate:
            rates[key] = rate
    return rates


def margins_for(margins: Mapping[str, Sequence[float]], endpoint: str) -> NoiseThresholds:
    """An endpoint's margins from the rules' `noise_thresholds()` (or the run's copy of
    them): its own, else the defaults' (`*`), else Diffy's."""
    chosen = margins.get(endpoint) or margins.get("*")
    return NoiseThresholds(*chosen) if chosen else NoiseThresholds()


def is_signal(raw: int, total: int, noise_rate: float, limits: NoiseThresholds) -> bool:
    """Diffy's test: R differences of T exchanges against a noise rate (N = rate x T)."""
    if not total or not raw:
        return False
    noise = noise_rate * total
    if raw <= noise:
        return False
    relative = (raw - noise) / (raw + noise)
    absolute = (raw - noise) / total
    return relative > limits.relative and absolute > limits.absolute


def nice_tolerance(max_delta: float) -> float:
    """A tolerance covering the jitter seen, with room: 1.5 x the largest delta, rounded up
    to one significant digit (0.0037 -> 0.006)."""
    if max_delta <= 0:
        return 0.0
    wanted = max_delta * 1.5
    scale = 10 ** math.floor(math.log10(wanted))
    return float(f"{math.ceil(wanted / scale) * scale:.12g}")
