"""Structural JSON diff: deepdiff finds the changes, this module names them.

Byte-equal or strictly-equal bodies never reach deepdiff (see `same_json`). Arrays whose
length differs are one `length_changed`; arrays holding the same elements in another order
are one `order_changed`, not one change per index.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from deepdiff import DeepDiff

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
    """Equality that, unlike ==, tells 1 from 1.0 and from true."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def diff_json(baseline: Any, candidate: Any) -> list[Difference]:
    if same_json(baseline, candidate):
        return []
    raw = list(_deepdiff_changes(baseline, candidate))
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
