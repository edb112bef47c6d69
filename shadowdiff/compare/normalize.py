"""Apply a rule to a pair of parsed JSON bodies before diffing (mutates them in place).

Order: ignore (delete matched paths at any depth), array_keys (arrays -> mappings keyed by a
field, so elements align by identity), unordered (sort arrays canonically), tolerance (a
candidate number within tolerance of the baseline's takes the baseline's value). A `[*]` in a
path also walks the mappings array_keys made, so `$.items[*].price` still applies after it.

Most rule paths are plain chains of fields (`$.meta.request_id`): those are walked directly
through the dicts (`field_chain`, `_slots`), which gives what jsonpath-ng's find, filter and
update give at a fraction of the cost; every other path goes through jsonpath-ng.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.jsonpath import Child, DatumInContext, Descendants, Fields, Root, Slice
from jsonpath_ng.parser import parse as parse_jsonpath

from shadowdiff.rules.model import EndpointRule

KEYED = "\x00"  # prefix of mapping keys made from array_keys; diff paths show [key=value]


@lru_cache(maxsize=4096)
def compiled(path: str) -> JSONPath:
    return _through_keyed(parse_jsonpath(path))


@lru_cache(maxsize=4096)
def field_chain(path: str) -> tuple[str, ...] | None:
    """The keys of a path made of single fields only (`$.meta.request_id` -> meta,
    request_id), else None (`$`, wildcards, indexes, descendants, unions...)."""
    keys: list[str] = []
    node = compiled(path)
    while type(node) is Child and (key := _one_field(node.right)) is not None:
        keys.append(key)
        node = node.left
    return tuple(reversed(keys)) if keys and type(node) is Root else None


def _one_field(node: JSONPath) -> str | None:
    if type(node) is not Fields or len(node.fields) != 1 or node.fields[0] == "*":
        return None  # `*` stays with jsonpath-ng, which may read it as a wildcard
    return str(node.fields[0])


def _slots(data: Any, keys: tuple[str, ...]) -> list[tuple[dict[str, Any], str]]:
    """Where a field chain points in `data`: [(the mapping holding it, its key)], or [] when
    the chain breaks (a missing key, or a step into something that is not an object)."""
    for key in keys[:-1]:
        if not isinstance(data, dict) or key not in data:
            return []
        data = data[key]
    return [(data, keys[-1])] if isinstance(data, dict) and keys[-1] in data else []


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
    if (keys := field_chain(path)) is not None:
        for holder, name in _slots(data, keys):
            del holder[name]
        return data
    return compiled(path).filter(lambda _: True, data)


def key_arrays(data: Any, path: str, key: str) -> Any:
    if (keys := field_chain(path)) is not None:
        for holder, name in _slots(data, keys):
            if (keyed := _keyed(holder[name], key)) is not None:
                holder[name] = keyed
        return data
    for match in compiled(path).find(data):
        if (keyed := _keyed(match.value, key)) is not None:
            data = match.full_path.update(data, keyed)
    return data


def _keyed(value: Any, key: str) -> dict[str, Any] | None:
    """An array of objects as a mapping by their key; None unless every key is unique."""
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        return None
    keyed = {f"{KEYED}{key}={_key_text(e.get(key))}": e for e in value}
    return keyed if len(keyed) == len(value) else None


def _key_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def sort_arrays(data: Any, path: str) -> None:
    if (keys := field_chain(path)) is not None:
        values = [holder[name] for holder, name in _slots(data, keys)]
    else:
        values = [match.value for match in compiled(path).find(data)]
    for value in values:
        if isinstance(value, list):
            value.sort(key=canonical)


def apply_tolerance(baseline: Any, candidate: Any, path: str, amount: float) -> Any:
    if (keys := field_chain(path)) is not None:
        for (old, name), (new, _) in zip(
            _slots(baseline, keys), _slots(candidate, keys), strict=False
        ):
            if _within(old[name], new[name], amount):
                new[name] = old[name]
        return candidate
    expected = {str(m.full_path): m.value for m in compiled(path).find(baseline)}
    for match in compiled(path).find(candidate):
        want = expected.get(str(match.full_path))
        if _within(want, match.value, amount):
            candidate = match.full_path.update(candidate, want)
    return candidate


def _within(want: Any, value: Any, amount: float) -> bool:
    return _is_number(want) and _is_number(value) and abs(want - value) <= amount


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
