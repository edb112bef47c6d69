"""The structural JSON diff: each difference kind with its concrete path and both values."""

from __future__ import annotations

import copy
import json
from typing import Any

import deepdiff
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.compare import diff as diff_module
from shadowdiff.compare.diff import diff_json, format_path, same_json, without_shared
from shadowdiff.compare.model import Difference, fold_path
from shadowdiff.compare.normalize import KEYED, normalize_pair
from shadowdiff.rules.model import EndpointRule

FAST = settings(max_examples=80, deadline=None)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f + 0.0)  # no -0.0
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


# few distinct scalars, so that two draws often hold == values of different JSON types
twin_values = st.recursive(
    st.sampled_from([0, 1, 0.0, 1.0, True, False, None, "1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("ab"), inner),
    max_leaves=8,
)


def strict(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def by_path(differences: list[Difference]) -> list[Difference]:
    """Differences in a stable order (diff_json promises none)."""
    return sorted(differences, key=lambda d: (d.path, d.kind))


# --- properties --------------------------------------------------------------------------------


@FAST
@given(json_values)
def test_a_value_has_no_differences_with_its_copy(value: Any) -> None:
    assert diff_json(value, copy.deepcopy(value)) == []


@FAST
@given(json_values, json_values)
def test_different_values_have_at_least_one_difference(baseline: Any, candidate: Any) -> None:
    differences = diff_json(baseline, candidate)
    assert (differences == []) == (strict(baseline) == strict(candidate))
    assert all(d.path.startswith("$") for d in differences)
    assert len({(d.path, d.kind) for d in differences}) == len(differences)


@FAST
@given(twin_values, twin_values)
def test_equal_values_of_different_types_are_differences(baseline: Any, candidate: Any) -> None:
    """1 == 1.0 == true in Python, not in JSON: none of them may hide another."""
    differences = diff_json(baseline, candidate)
    assert (differences == []) == (strict(baseline) == strict(candidate))


@FAST
@given(json_values)
def test_a_changed_leaf_is_found_at_its_path(value: Any) -> None:
    wrapped = {"outer": [value, {"leaf": 1}]}
    changed = copy.deepcopy(wrapped)
    changed["outer"][1]["leaf"] = 2
    assert diff_json(wrapped, changed) == [Difference("$.outer[1].leaf", "value_changed", 1, 2)]


# --- each kind ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "candidate", "expected"),
    [
        (
            {"orders": [{"total": 1}, {"total": 2}, {"total": 3}]},
            {"orders": [{"total": 1}, {"total": 2}, {"total": 4}]},
            [Difference("$.orders[2].total", "value_changed", 3, 4)],
        ),
        ({"a": "x"}, {"a": "y"}, [Difference("$.a", "value_changed", "x", "y")]),
        ({"a": 0.1}, {"a": 0.10000001}, [Difference("$.a", "value_changed", 0.1, 0.10000001)]),
        ({"a": True}, {"a": False}, [Difference("$.a", "value_changed", True, False)]),
        ("x", "y", [Difference("$", "value_changed", "x", "y")]),
        ({"a": 1}, {"a": 1.0}, [Difference("$.a", "type_changed", 1, 1.0)]),
        ({"a": 1}, {"a": True}, [Difference("$.a", "type_changed", 1, True)]),
        ({"a": 1.0}, {"a": True}, [Difference("$.a", "type_changed", 1.0, True)]),
        ({"a": 0}, {"a": False}, [Difference("$.a", "type_changed", 0, False)]),
        ({"a": "1"}, {"a": 1}, [Difference("$.a", "type_changed", "1", 1)]),
        ({"a": None}, {"a": 0}, [Difference("$.a", "type_changed", None, 0)]),
        ({"a": [1]}, {"a": {"0": 1}}, [Difference("$.a", "type_changed", [1], {"0": 1})]),
        ([1], [1.0], [Difference("$[0]", "type_changed", 1, 1.0)]),
        (1, 1.0, [Difference("$", "type_changed", 1, 1.0)]),
        ({"a": 1, "b": {"c": 2}}, {"a": 1}, [Difference("$.b", "missing", {"c": 2}, None)]),
        ({"a": {"b": None}}, {"a": {}}, [Difference("$.a.b", "missing", None, None)]),
        ({"a": 1}, {"a": 1, "b": [2]}, [Difference("$.b", "added", None, [2])]),
        ([{"a": 1}], [{"a": 1, "new": 0}], [Difference("$[0].new", "added", None, 0)]),
        ({"items": [1, 2, 3]}, {"items": [1, 2]}, [Difference("$.items", "length_changed", 3, 2)]),
        (
            {"items": [1, 2]},
            {"items": [1, 2, 3, 4]},
            [Difference("$.items", "length_changed", 2, 4)],
        ),
        (
            [1, 2, 3],
            [1, 3],
            [Difference("$[1]", "value_changed", 2, 3), Difference("$", "length_changed", 3, 2)],
        ),
        ([1, 2, 3], [1, 2], [Difference("$", "length_changed", 3, 2)]),
        (
            [1, 0],
            [True, False],
            [
                Difference("$[0]", "type_changed", 1, True),
                Difference("$[1]", "type_changed", 0, False),
            ],
        ),
        ([[1]], [[1.0]], [Difference("$[0][0]", "type_changed", 1, 1.0)]),
        (
            [1, 2, 3],
            [True, 2, 4],
            [
                Difference("$[0]", "type_changed", 1, True),
                Difference("$[2]", "value_changed", 3, 4),
            ],
        ),
        ([], [{"a": 1}], [Difference("$", "length_changed", 0, 1)]),
        (
            {"items": [1, 2, 3]},
            {"items": [1, 5, 3, 4]},
            [
                Difference("$.items[1]", "value_changed", 2, 5),
                Difference("$.items", "length_changed", 3, 4),
            ],
        ),
        (
            {"r": [1, 2, 3]},
            {"r": [3, 1, 2]},
            [Difference("$.r", "order_changed", [1, 2, 3], [3, 1, 2])],
        ),
        (
            {"r": [{"id": 1}, {"id": 2}]},
            {"r": [{"id": 2}, {"id": 1}]},
            [Difference("$.r", "order_changed", [{"id": 1}, {"id": 2}], [{"id": 2}, {"id": 1}])],
        ),
        (
            {"a": [[1, 2], [3]]},
            {"a": [[2, 1], [3]]},
            [Difference("$.a[0]", "order_changed", [1, 2], [2, 1])],
        ),
        ([[1], [2]], [[2], [1]], [Difference("$", "order_changed", [[1], [2]], [[2], [1]])]),
        ([True, 1], [1, True], [Difference("$", "order_changed", [True, 1], [1, True])]),
        (
            {"x": [1, 2, 3]},
            {"x": [4, 5, 6]},
            [
                Difference("$.x[0]", "value_changed", 1, 4),
                Difference("$.x[1]", "value_changed", 2, 5),
                Difference("$.x[2]", "value_changed", 3, 6),
            ],
        ),
        ({"odd key": 1}, {"odd key": 2}, [Difference("$['odd key']", "value_changed", 1, 2)]),
        ({"1a": {"b": 1}}, {"1a": {"b": 2}}, [Difference("$['1a'].b", "value_changed", 1, 2)]),
    ],
)
def test_each_kind_with_its_path_and_values(
    baseline: Any, candidate: Any, expected: list[Difference]
) -> None:
    assert by_path(diff_json(baseline, candidate)) == by_path(expected)


def test_a_reordered_array_is_one_difference_however_long() -> None:
    baseline = {"items": [{"id": n, "v": n * 2} for n in range(50)]}
    candidate = {"items": list(reversed(baseline["items"]))}
    assert diff_json(baseline, candidate) == [
        Difference("$.items", "order_changed", baseline["items"], candidate["items"])
    ]


def test_several_differences_at_once() -> None:
    baseline = {"id": 1, "name": "a", "gone": True, "tags": ["x", "y"], "n": 1}
    candidate = {"id": 1, "name": "b", "new": None, "tags": ["y", "x"], "n": "1"}
    assert by_path(diff_json(baseline, candidate)) == [
        Difference("$.gone", "missing", True, None),
        Difference("$.n", "type_changed", 1, "1"),
        Difference("$.name", "value_changed", "a", "b"),
        Difference("$.new", "added", None, None),
        Difference("$.tags", "order_changed", ["x", "y"], ["y", "x"]),
    ]


# --- with a rule (normalise, then diff) --------------------------------------------------------


def diff_by_rule(baseline: Any, candidate: Any, **options: Any) -> list[Difference]:
    rule = EndpointRule("GET /x", **options)
    return diff_json(*normalize_pair(copy.deepcopy(baseline), copy.deepcopy(candidate), rule))


def test_unordered_arrays_have_no_order_change() -> None:
    baseline, candidate = {"roles": ["a", "b", "c"]}, {"roles": ["c", "a", "b"]}
    assert diff_by_rule(baseline, candidate, unordered=("$.roles",)) == []
    changed = {"roles": ["d", "a", "b"]}
    assert diff_by_rule(baseline, changed, unordered=("$.roles",)) == [
        Difference("$.roles[2]", "value_changed", "c", "d")  # the index in sorted order
    ]


ITEMS = [{"id": n, "name": f"item {n}", "qty": n} for n in range(1, 8)]


def test_array_keys_align_elements_so_a_removal_does_not_cascade() -> None:
    baseline = {"items": copy.deepcopy(ITEMS)}
    candidate = {"items": [item for item in ITEMS if item["id"] != 3]}
    unkeyed = diff_json(baseline, candidate)
    assert Difference("$.items", "length_changed", 7, 6) in unkeyed
    assert diff_by_rule(baseline, candidate, array_keys=(("$.items", "id"),)) == [
        Difference("$.items[id=3]", "missing", ITEMS[2], None)
    ]


def test_array_keys_report_changes_inside_elements_by_key() -> None:
    baseline = {"items": copy.deepcopy(ITEMS)}
    candidate = {"items": [*copy.deepcopy(ITEMS[::-1]), {"id": 99, "name": "new", "qty": 0}]}
    candidate["items"][0]["qty"] = 70  # the element with id 7, now first
    assert by_path(diff_by_rule(baseline, candidate, array_keys=(("$.items", "id"),))) == [
        Difference("$.items[id=7].qty", "value_changed", 7, 70),
        Difference("$.items[id=99]", "added", None, {"id": 99, "name": "new", "qty": 0}),
    ]


def test_array_keys_with_string_keys() -> None:
    baseline = {"skus": [{"sku": "A-1", "n": 1}, {"sku": "B-2", "n": 2}]}
    candidate = {"skus": [{"sku": "B-2", "n": 3}, {"sku": "A-1", "n": 1}]}
    assert diff_by_rule(baseline, candidate, array_keys=(("$.skus", "sku"),)) == [
        Difference("$.skus[sku=B-2].n", "value_changed", 2, 3)
    ]


def stamped_orders(stamp: int) -> dict[str, Any]:
    """Orders whose line items carry `updated_at` at two array depths, plus one at the top."""

    def lines(order: int) -> list[dict[str, Any]]:
        return [{"sku": f"{order}-{n}", "updated_at": stamp + n} for n in range(3)]

    return {
        "updated_at": stamp,
        "items": lines(0),
        "orders": [{"id": n, "items": lines(n), "updated_at": stamp} for n in range(1, 4)],
    }


@pytest.mark.parametrize(
    ("ignore", "left"),
    [
        (
            (
                "$.updated_at",
                "$.items[*].updated_at",
                "$.orders[*].updated_at",
                "$.orders[*].items[*].updated_at",
            ),
            set(),
        ),
        (("$..updated_at",), set()),
        (
            ("$.items[*].updated_at",),
            {"$.updated_at"}
            | {f"$.orders[{o}].updated_at" for o in range(3)}
            | {f"$.orders[{o}].items[{n}].updated_at" for o in range(3) for n in range(3)},
        ),
        (
            ("$.updated_at", "$.orders[*].updated_at", "$.orders[*].items[*].updated_at"),
            {f"$.items[{n}].updated_at" for n in range(3)},
        ),
    ],
)
def test_an_ignored_path_never_shows_up_at_any_array_depth(
    ignore: tuple[str, ...], left: set[str]
) -> None:
    """Ignoring happens before diffing: what is ignored never shows up, and only that."""
    differences = diff_by_rule(stamped_orders(100), stamped_orders(200), ignore=ignore)
    assert {d.path for d in differences} == left
    assert {d.kind for d in differences} <= {"value_changed"}


def test_an_ignored_path_with_array_keys_and_reordering() -> None:
    baseline = stamped_orders(100)
    candidate = stamped_orders(200)
    candidate["orders"].reverse()
    del candidate["orders"][0]["items"][1]  # order 3 loses a line
    rule = {"ignore": ("$..updated_at",), "array_keys": (("$.orders", "id"),)}
    assert by_path(diff_by_rule(baseline, candidate, **rule)) == [
        Difference("$.orders[id=3].items", "length_changed", 3, 2),
        Difference("$.orders[id=3].items[1].sku", "value_changed", "3-1", "3-2"),
    ]


def test_tolerance_within_and_beyond() -> None:
    tolerance = (("$.balance", 0.001), ("$.items[*].price", 0.01))
    baseline = {"balance": 10.0, "items": [{"price": 1.0}, {"price": 2.0}]}
    within = {"balance": 10.0009, "items": [{"price": 1.005}, {"price": 1.995}]}
    beyond = {"balance": 10.002, "items": [{"price": 1.005}, {"price": 2.5}]}
    assert diff_by_rule(baseline, within, tolerance=tolerance) == []
    assert diff_by_rule(baseline, beyond, tolerance=tolerance) == [
        Difference("$.balance", "value_changed", 10.0, 10.002),
        Difference("$.items[1].price", "value_changed", 2.0, 2.5),
    ]


# --- shortcuts ---------------------------------------------------------------------------------


def test_equal_values_never_reach_deepdiff(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("DeepDiff called for equal values")

    monkeypatch.setattr(deepdiff, "DeepDiff", refuse)  # diff.py imports it when it needs it
    value = {"b": [1, {"c": None}], "a": 1.5}
    assert diff_json(value, {"a": 1.5, "b": [1, {"c": None}]}) == []


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (1, 1, True),
        (1, 1.0, False),
        (1, True, False),
        (0, False, False),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True),
        ([1, 2], [2, 1], False),
        ({"a": [1]}, {"a": [1.0]}, False),
        (None, None, True),
        ({}, [], False),
    ],
)
def test_same_json_tells_numbers_from_booleans(a: Any, b: Any, same: bool) -> None:
    assert same_json(a, b) is same


def strictly_equal(a: Any, b: Any) -> bool:
    """same_json as it was first written: the definition the fast loops must keep."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strictly_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@FAST
@given(st.one_of(st.tuples(json_values, json_values), st.tuples(twin_values, twin_values)))
def test_same_json_keeps_its_definition(pair: tuple[Any, Any]) -> None:
    a, b = pair
    assert same_json(a, b) is strictly_equal(a, b)
    assert same_json(a, copy.deepcopy(a)) is strictly_equal(a, a)


# --- deepdiff sees only what differs -----------------------------------------------------------


def test_without_shared_keeps_only_what_differs() -> None:
    baseline = {"a": 1, "b": [1, {"c": 2, "d": 0}, 5], "e": {"f": 1}, "gone": 1}
    candidate = {"new": 1, "a": 1, "b": [1, {"c": 3, "d": 0}], "e": {"f": 1}}
    before = strict((baseline, candidate))
    assert without_shared(baseline, candidate) == (
        {"b": [None, {"c": 2}, 5], "gone": 1},
        {"new": 1, "b": [None, {"c": 3}]},
    )
    assert strict((baseline, candidate)) == before  # the originals are untouched


def mostly_shared(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, Any]]:
    """Two values sharing most of their content, like two answers of one endpoint."""
    return st.tuples(inner, inner, inner, st.sampled_from(["x", "__x", "y"])).map(
        lambda t: (
            {"shared": t[0], t[3]: [t[0], t[1], t[0]], "z": 1},
            {"shared": copy.deepcopy(t[0]), t[3]: [copy.deepcopy(t[0]), t[2]], "z": 1.0},
        )
    )


pairs_to_diff = st.one_of(
    st.tuples(json_values, json_values),
    st.tuples(twin_values, twin_values),
    mostly_shared(json_values),
    mostly_shared(twin_values),
)


@FAST
@given(pairs_to_diff)
def test_deepdiff_reports_the_same_without_what_is_shared(pair: tuple[Any, Any]) -> None:
    """Same changes, paths, values (1 is not 1.0 here: repr) and order as on the whole."""
    baseline, candidate = pair
    whole = list(diff_module._deepdiff_changes(baseline, candidate))
    pruned = list(diff_module._deepdiff_changes(*without_shared(baseline, candidate)))
    assert repr(pruned) == repr(whole)


@FAST
@given(pairs_to_diff)
def test_diff_json_is_the_same_as_deepdiff_on_the_whole(pair: tuple[Any, Any]) -> None:
    baseline, candidate = pair
    fast = diff_json(baseline, candidate)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(diff_module, "without_shared", lambda a, b: (a, b))
        slow = diff_json(baseline, candidate)
    assert repr(fast) == repr(slow)


# --- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "$"),
        (("orders", 2, "total"), "$.orders[2].total"),
        ((0, 1), "$[0][1]"),
        (("items", f"{KEYED}id=7", "price"), "$.items[id=7].price"),
        (("odd key",), "$['odd key']"),
        (("_x9",), "$._x9"),
        (("9x",), "$['9x']"),
        (("a.b",), "$['a.b']"),
    ],
)
def test_format_path(path: tuple[Any, ...], text: str) -> None:
    assert format_path(path) == text


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("$.orders[2].total", "$.orders[*].total"),
        ("$.orders[2].items[id=7].total", "$.orders[*].items[*].total"),
        ("$[0][10]", "$[*][*]"),
        ("$.items[sku=A-1]", "$.items[*]"),
        ("$.total", "$.total"),
        ("headers.content-type", "headers.content-type"),
        ("status", "status"),
    ],
)
def test_fold_path_turns_indexes_and_keys_into_wildcards(path: str, field: str) -> None:
    assert fold_path(path) == field
    assert Difference(path, "value_changed").field == field
