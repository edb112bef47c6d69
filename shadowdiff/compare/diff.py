"""Structural JSON diff: deepdiff finds the changes, this module names them.

Byte-equal or strictly-equal bodies never reach deepdiff (see `same_json`), and deepdiff sees
only what differs (see `without_shared`). Arrays whose length differs are one
`length_changed`; arrays holding the same elements in another order are one `order_changed`,
not one change per index.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from shadowdiff.compare.model import Difference
from shadowdiff.compare.normalize import KEYED, canonical

Path = tuple[Any, ...]
_KINDS = {
    "values_changed": "value_changed",
    "type_changes": "type_changed",
    "dictionary_item_removed": "missing",
    "dictionary_item_added": "added",
    "iterable_item_removed": "length_changed",
    "iterable_item_added": "length_changed",
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def same_json(a: Any, b: Any) -> bool:
    """Equality that, unlike ==, tells 1 from 1.0 and from true.

    Every equal pair walks all of it: lengths first, not key sets (a third faster).
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(k in b and same_json(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def without_shared(a: Any, b: Any) -> tuple[Any, Any]:
    """Both sides with what they hold in common taken out, for deepdiff (new containers;
    the originals are untouched).

    deepdiff's cost is per node it visits, equal or not: one changed field of a 2 KB body
    cost ~200 nodes. Here keys whose values are equal leave both objects, and equal array
    elements become None on both sides (the indexes of the others must not move). deepdiff
    pairs array elements by index (`zip_ordered_iterables`), walks keys independently and
    finds nothing between equal values, so it reports the same changes at the same paths,
    with the same values, in the same order (tests/compare/test_diff.py checks).
    """
    if type(a) is not type(b):
        return a, b
    if isinstance(a, dict):
        differing = {
            k: without_shared(v, b[k]) for k, v in a.items() if k in b and not same_json(v, b[k])
        }
        return _kept(a, b, differing, 0), _kept(b, a, differing, 1)
    if isinstance(a, list):
        pairs = [
            (None, None) if same_json(x, y) else without_shared(x, y)
            for x, y in zip(a, b, strict=False)
        ]
        shared = len(pairs)
        return [x for x, _ in pairs] + a[shared:], [y for _, y in pairs] + b[shared:]
    return a, b


def _kept(
    side: dict[str, Any], other: dict[str, Any], differing: dict[str, tuple[Any, Any]], at: int
) -> dict[str, Any]:
    """`side` in its own key order, keeping its keys `other` lacks and those that differ."""
    return {
        k: differing[k][at] if k in differing else v
        for k, v in side.items()
        if k in differing or k not in other
    }


def diff_json(baseline: Any, candidate: Any) -> list[Difference]:
    if same_json(baseline, candidate):
        return []
    raw = list(_deepdiff_changes(*without_shared(baseline, candidate)))
    reordered = _reordered_arrays(baseline, candidate, raw)
    found: dict[tuple[Path, str], Difference] = {}
    for path, kind, old, new in raw:
        if (parent := _under(path, reordered)) is not None:
            path, kind = parent, "order_changed"
            old, new = _at(baseline, path), _at(candidate, path)
        if kind == "length_changed":
            path = path[:-1]
            old, new = len(_at(baseline, path)), len(_at(candidate, path))
        found.setdefault((path, kind), Difference(format_path(path), kind, old, new))
    return list(found.values())


def _deepdiff_changes(baseline: Any, candidate: Any) -> Iterator[tuple[Path, str, Any, Any]]:
    # zip: deepdiff's difflib pass for arrays of scalars matches elements by ==, which takes
    # 1, 1.0 and true for one another; pairing by index is what it does for arrays of objects
    from deepdiff import DeepDiff  # here: its import (numpy and all) takes 0.25 s, and most
    # commands and most replays never reach a structural diff

    tree = DeepDiff(
        baseline, candidate, view="tree", threshold_to_diff_deeper=0, zip_ordered_iterables=True
    )
    for report, levels in tree.items():
        kind = _KINDS.get(report)
        if kind is None:
            continue
        for level in levels:
            yield tuple(level.path(output_format="list")), kind, _plain(level.t1), _plain(level.t2)


def _plain(value: Any) -> Any:
    return None if type(value).__name__ == "NotPresent" else value


def _reordered_arrays(
    baseline: Any, candidate: Any, raw: list[tuple[Path, str, Any, Any]]
) -> set[Path]:
    """Array paths whose two sides hold the same elements in a different order."""
    found: set[Path] = set()
    for path, *_ in raw:
        for cut in range(len(path)):
            prefix = path[:cut]
            if isinstance(path[cut], int) and _is_reordered(
                _at(baseline, prefix), _at(candidate, prefix)
            ):
                found.add(prefix)
                break
    return found


def _is_reordered(old: Any, new: Any) -> bool:
    if not isinstance(old, list) or not isinstance(new, list) or len(old) != len(new):
        return False
    return sorted(map(canonical, old)) == sorted(map(canonical, new))


def _under(path: Path, prefixes: set[Path]) -> Path | None:
    return next((path[:n] for n in range(len(path)) if path[:n] in prefixes), None)


def _at(data: Any, path: Path) -> Any:
    for key in path:
        data = data[key]
    return data


def format_path(path: Path) -> str:
    """('orders', 2, 'total') -> `$.orders[2].total`; keyed elements -> `[id=7]`."""
    text = "$"
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        elif str(key).startswith(KEYED):
            text += f"[{str(key)[len(KEYED) :]}]"
        elif _IDENTIFIER.fullmatch(str(key)):
            text += f".{key}"
        else:
            text += "[" + repr(str(key)) + "]"
    return text
