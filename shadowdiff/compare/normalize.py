"""Apply a rule to a pair of parsed JSON bodies before diffing (mutates them in place).

Order: ignore (delete matched paths at any depth), array_keys (arrays -> mappings keyed by a
field, so elements align by identity), unordered (sort arrays canonically), tolerance (a
candidate number within tolerance of the baseline's takes the baseline's value). A `[*]` in a
path also walks the mappings array_keys made, so `$.items[*].price` still applies after it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.jsonpath import Child, DatumInContext, Descendants, Fields, Slice
from jsonpath_ng.parser import parse as parse_jsonpath

from shadowdiff.rules.model import EndpointRule

KEYED = "\x00"  # prefix of mapping keys made from array_keys; diff paths show [key=value]


@lru_cache(maxsize=4096)
def compiled(path: str) -> JSONPath:
    return _through_keyed(parse_jsonpath(path))


class _EachElement(Slice):
    """`[*]`: every element of an array, or of an array that `key_arrays` made a mapping."""

    def find(self, datum: Any) -> Any:
        datum = DatumInContext.wrap(datum)
        if not _is_keyed(datum.value):
            return super().find(datum)
        return [DatumInContext(v, path=Fields(k), context=datum) for k, v in datum.value.items()]


def _through_keyed(path: JSONPath) -> JSONPath:
    if isinstance(path, Child | Descendants):
        return type(path)(_through_keyed(path.left), _through_keyed(path.right))
    if isinstance(path, Slice) and path.start is None and path.end is None and path.step is None:
        return _EachElement()
    return path


def _is_keyed(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(str(k)[:1] == KEYED for k in value)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def normalize_pair(baseline: Any, candidate: Any, rule: EndpointRule) -> tuple[Any, Any]:
    for path in rule.ignore:
        baseline, candidate = drop(baseline, path), drop(candidate, path)
    for path, key in rule.array_keys:
        baseline, candidate = key_arrays(baseline, path, key), key_arrays(candidate, path, key)
    for path in rule.unordered:
        sort_arrays(baseline, path)
        sort_arrays(candidate, path)
    for path, amount in rule.tolerance:
        candidate = apply_tolerance(baseline, candidate, path, amount)
    return baseline, candidate


def drop(data: Any, path: str) -> Any:
    if not isinstance(data, dict | list):
        return data
    return compiled(path).filter(lambda _: True, data)


def key_arrays(data: Any, path: str, key: str) -> Any:
    for match in compiled(path).find(data):
        if isinstance(match.value, list) and all(isinstance(e, dict) for e in match.value):
            keyed = {f"{KEYED}{key}={_key_text(e.get(key))}": e for e in match.value}
            if len(keyed) == len(match.value):
                data = match.full_path.update(data, keyed)
    return data


def _key_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def sort_arrays(data: Any, path: str) -> None:
    for match in compiled(path).find(data):
        if isinstance(match.value, list):
            match.value.sort(key=canonical)


def apply_tolerance(baseline: Any, candidate: Any, path: str, amount: float) -> Any:
    expected = {str(m.full_path): m.value for m in compiled(path).find(baseline)}
    for match in compiled(path).find(candidate):
        want = expected.get(str(match.full_path))
        if _is_number(want) and _is_number(match.value) and abs(want - match.value) <= amount:
            candidate = match.full_path.update(candidate, want)
    return candidate


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
