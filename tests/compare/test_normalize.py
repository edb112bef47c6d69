"""Normalising a pair of bodies by a rule: ignore, array_keys, unordered, tolerance."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.compare import normalize as normalize_module
from shadowdiff.compare.normalize import (
    KEYED,
    apply_tolerance,
    canonical,
    drop,
    field_chain,
    key_arrays,
    normalize_pair,
    sort_arrays,
)
from shadowdiff.rules.model import EndpointRule


def normalized(baseline: Any, candidate: Any, **options: Any) -> tuple[Any, Any]:
    rule = EndpointRule("GET /x", **options)
    return normalize_pair(copy.deepcopy(baseline), copy.deepcopy(candidate), rule)


# --- ignore ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data", "expected"),
    [
        ("$.request_id", {"request_id": "a", "id": 1}, {"id": 1}),
        ("$.meta.generated_at", {"meta": {"generated_at": 1, "v": 2}}, {"meta": {"v": 2}}),
        ("$.missing", {"id": 1}, {"id": 1}),
        ("$.meta.missing", {"meta": 5}, {"meta": 5}),
        (
            "$.items[*].updated_at",
            {"items": [{"id": 1, "updated_at": 1}, {"id": 2, "updated_at": 2}, {"id": 3}]},
            {"items": [{"id": 1}, {"id": 2}, {"id": 3}]},
        ),
        (
            "$.orders[*].items[*].updated_at",
            {"orders": [{"items": [{"updated_at": 1, "n": 1}]}, {"items": [{"updated_at": 2}]}]},
            {"orders": [{"items": [{"n": 1}]}, {"items": [{}]}]},
        ),
        (
            "$.grid[*][*].t",
            {"grid": [[{"t": 1, "v": 1}], [{"t": 2}, {"t": 3}]]},
            {"grid": [[{"v": 1}], [{}, {}]]},
        ),
        ("$[*].t", [{"t": 1, "v": 1}, {"t": 2}], [{"v": 1}, {}]),
        ("$.items[0].t", {"items": [{"t": 1}, {"t": 2}]}, {"items": [{}, {"t": 2}]}),
        (
            "$..updated_at",
            {
                "updated_at": 0,
                "a": {"updated_at": 1, "b": [{"updated_at": 2, "c": [{"updated_at": 3, "k": 1}]}]},
            },
            {"a": {"b": [{"c": [{"k": 1}]}]}},
        ),
        ("$.items", {"items": [1, 2], "id": 1}, {"id": 1}),
    ],
)
def test_drop_removes_every_match_at_any_depth(path: str, data: Any, expected: Any) -> None:
    assert drop(data, path) == expected


@pytest.mark.parametrize("scalar", [None, 1, "text", True, 1.5])
def test_drop_leaves_scalars_alone(scalar: Any) -> None:
    assert drop(scalar, "$.a") == scalar


def test_ignores_apply_to_both_sides() -> None:
    baseline = {"request_id": "a", "items": [{"updated_at": 1, "n": 1}]}
    candidate = {"request_id": "b", "items": [{"updated_at": 9, "n": 1}]}
    assert normalized(baseline, candidate, ignore=("$.request_id", "$.items[*].updated_at")) == (
        {"items": [{"n": 1}]},
        {"items": [{"n": 1}]},
    )


# --- array_keys --------------------------------------------------------------------------------


def test_array_keys_turn_an_array_into_a_mapping_by_key() -> None:
    data = {"items": [{"id": 1, "n": "a"}, {"id": "x", "n": "b"}]}
    assert key_arrays(data, "$.items", "id") == {
        "items": {f"{KEYED}id=1": {"id": 1, "n": "a"}, f"{KEYED}id=x": {"id": "x", "n": "b"}}
    }


def test_array_keys_at_the_root_and_nested() -> None:
    assert key_arrays([{"id": 1}], "$", "id") == {f"{KEYED}id=1": {"id": 1}}
    data = {"orders": [{"lines": [{"sku": "a"}]}, {"lines": [{"sku": "b"}, {"sku": "c"}]}]}
    assert key_arrays(data, "$.orders[*].lines", "sku") == {
        "orders": [
            {"lines": {f"{KEYED}sku=a": {"sku": "a"}}},
            {"lines": {f"{KEYED}sku=b": {"sku": "b"}, f"{KEYED}sku=c": {"sku": "c"}}},
        ]
    }


def test_keyed_arrays_can_be_keyed_again_further_down() -> None:
    data = {"orders": [{"id": 1, "lines": [{"sku": "a"}]}]}
    data = key_arrays(data, "$.orders", "id")
    data = key_arrays(data, "$.orders[*].lines", "sku")
    assert data == {"orders": {f"{KEYED}id=1": {"id": 1, "lines": {f"{KEYED}sku=a": {"sku": "a"}}}}}


@pytest.mark.parametrize(
    "items",
    [
        [{"id": 1}, {"id": 1}],  # duplicate keys: no identity to align by
        [{"n": 1}, {"n": 2}],  # no key at all (both would be id=null)
        [{"id": 1}, 2],  # not all objects
        "not an array",
    ],
)
def test_array_keys_leave_arrays_without_unique_keys_alone(items: Any) -> None:
    assert key_arrays({"items": copy.deepcopy(items)}, "$.items", "id") == {"items": items}


# --- unordered ---------------------------------------------------------------------------------


def test_unordered_sorts_arrays_canonically() -> None:
    data: Any = {"roles": ["b", "a", "c"], "other": [3, 1]}
    sort_arrays(data, "$.roles")
    assert data == {"roles": ["a", "b", "c"], "other": [3, 1]}
    mixed: Any = [{"b": 1}, 2, "x", None, [1], True, 1.0]
    sort_arrays(mixed, "$")
    assert mixed == sorted(mixed, key=canonical)


def test_unordered_through_wildcards() -> None:
    data: Any = {"users": [{"roles": ["b", "a"]}, {"roles": [2, 1]}, {"roles": None}]}
    sort_arrays(data, "$.users[*].roles")
    assert data == {"users": [{"roles": ["a", "b"]}, {"roles": [1, 2]}, {"roles": None}]}


def test_unordered_arrays_of_objects_compare_equal() -> None:
    baseline = {"roles": [{"name": "admin", "scope": 1}, {"name": "user"}]}
    candidate = {"roles": [{"name": "user"}, {"scope": 1, "name": "admin"}]}
    left, right = normalized(baseline, candidate, unordered=("$.roles",))
    assert left == right


def test_unordered_applies_inside_keyed_arrays() -> None:
    baseline = {"items": [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": []}]}
    candidate = {"items": [{"id": 2, "tags": []}, {"id": 1, "tags": ["b", "a"]}]}
    left, right = normalized(
        baseline, candidate, array_keys=(("$.items", "id"),), unordered=("$.items[*].tags",)
    )
    assert left == right


# --- tolerance ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "amount", "result"),
    [
        (10.0, 10.0004, 0.001, 10.0),  # within: takes the baseline's value
        (10.0, 9.9996, 0.001, 10.0),
        (10, 10.5, 0.5, 10),  # the boundary is within
        (10.0, 10.002, 0.001, 10.002),  # beyond: left as it is
        (10.0, 10.0004, 0.0, 10.0004),
        (1, True, 5, True),  # a boolean is no number
        ("10", 10.0001, 1, 10.0001),
        (None, 1, 5, 1),
    ],
)
def test_tolerance(old: Any, new: Any, amount: float, result: Any) -> None:
    after = apply_tolerance({"v": old}, {"v": new}, "$.v", amount)
    assert after == {"v": result}
    assert type(after["v"]) is type(result)


def test_tolerance_on_a_missing_baseline_value_does_nothing() -> None:
    assert apply_tolerance({}, {"v": 1.0}, "$.v", 10) == {"v": 1.0}
    assert apply_tolerance({"v": 1.0}, {}, "$.v", 10) == {}


def test_tolerance_through_wildcards_pairs_elements_by_index() -> None:
    baseline = {"items": [{"price": 1.0}, {"price": 2.0}, {"price": 3.0}]}
    candidate = {"items": [{"price": 1.0004}, {"price": 2.5}, {"price": 2.9999}]}
    assert apply_tolerance(baseline, candidate, "$.items[*].price", 0.001) == {
        "items": [{"price": 1.0}, {"price": 2.5}, {"price": 3.0}]
    }


def test_tolerance_inside_keyed_arrays_pairs_elements_by_key() -> None:
    """After array_keys, `[*]` still reaches the elements, and a removed element does not
    shift which baseline price a candidate price is compared with."""
    baseline = {
        "items": [{"id": 1, "price": 1.0}, {"id": 2, "price": 2.0}, {"id": 3, "price": 3.0}]
    }
    candidate = {"items": [{"id": 1, "price": 1.0004}, {"id": 3, "price": 3.0004}]}
    left, right = normalized(
        baseline,
        candidate,
        array_keys=(("$.items", "id"),),
        tolerance=(("$.items[*].price", 0.001),),
    )
    assert right == {
        "items": {f"{KEYED}id=1": {"id": 1, "price": 1.0}, f"{KEYED}id=3": {"id": 3, "price": 3.0}}
    }
    assert set(left["items"]) == {f"{KEYED}id=1", f"{KEYED}id=2", f"{KEYED}id=3"}


def test_tolerance_at_the_root() -> None:
    assert normalized(5.0, 5.1, tolerance=(("$", 0.5),)) == (5.0, 5.0)


# --- the whole pass ----------------------------------------------------------------------------


def test_ignore_happens_before_the_other_steps() -> None:
    """An ignored field does not stop elements sorting or keying as equal."""
    baseline = {"roles": [{"n": "a", "t": 1}, {"n": "b", "t": 2}]}
    candidate = {"roles": [{"n": "b", "t": 3}, {"n": "a", "t": 4}]}
    left, right = normalized(baseline, candidate, ignore=("$.roles[*].t",), unordered=("$.roles",))
    assert left == right == {"roles": [{"n": "a"}, {"n": "b"}]}


def test_a_rule_without_options_changes_nothing() -> None:
    data = {"a": [3, 1, {"b": None}], "c": 1.5}
    assert normalized(data, data) == (data, data)


# --- plain field chains skip jsonpath-ng -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("$.a", ("a",)),
        ("$.meta.request_id", ("meta", "request_id")),
        ("$['a.b'].c", ("a.b", "c")),
        ("$", None),
        ("$.a[*].b", None),
        ("$.a[0]", None),
        ("$..a", None),
        ("$.a,b", None),
        ("$.*", None),
        ("$.a.*", None),
    ],
)
def test_field_chain(path: str, keys: tuple[str, ...] | None) -> None:
    assert field_chain(path) == keys


FIELDS = ["a", "b", "id"]
values = st.recursive(
    st.sampled_from([None, True, 0, 1, 1.0, 1.0004, 1.0015, 2, "1", "x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner),
    max_leaves=12,
)
chains = st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3).map(lambda k: "$." + ".".join(k))


def sorted_in_place(old: Any, new: Any, path: str) -> Any:
    sort_arrays(new, path)
    return new


OPERATIONS: dict[str, Callable[[Any, Any, str], Any]] = {
    "drop": lambda old, new, path: drop(new, path),
    "sort": sorted_in_place,
    "keys": lambda old, new, path: key_arrays(new, path, "id"),
    "tolerance": lambda old, new, path: apply_tolerance(old, new, path, 0.001),
}


def assert_walk_is_jsonpath(op: str, old: Any, new: Any, path: str) -> None:
    """The direct walk and jsonpath-ng agree: results, and what they changed in place."""
    fast = _apply(op, old, new, path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(normalize_module, "field_chain", lambda path: None)
        slow = _apply(op, old, new, path)
    assert repr(fast) == repr(slow)


def _apply(op: str, old: Any, new: Any, path: str) -> tuple[Any, Any, Any]:
    """The result and both inputs after it (the operations change them in place)."""
    old, new = copy.deepcopy(old), copy.deepcopy(new)
    return OPERATIONS[op](old, new, path), old, new


@settings(max_examples=150, deadline=None)
@given(values, values, chains, st.sampled_from(sorted(OPERATIONS)))
def test_field_chains_give_what_jsonpath_gives(old: Any, new: Any, path: str, op: str) -> None:
    assert_walk_is_jsonpath(op, old, new, path)


@pytest.mark.parametrize(
    ("op", "old", "new", "path"),
    [
        ("drop", None, {"a": {"b": 1, "id": 2}}, "$.a.b"),
        ("drop", None, {"a": [{"b": 1}]}, "$.a.b"),
        ("sort", None, {"a": {"b": [2, 1]}}, "$.a.b"),
        ("keys", None, {"a": {"b": [{"id": 2}, {"id": 1}]}}, "$.a.b"),
        ("keys", None, {"a": [{"id": 2}, {"id": 2}]}, "$.a"),
        ("tolerance", {"a": {"b": 1.0}}, {"a": {"b": 1.0004}}, "$.a.b"),
        ("tolerance", {"a": {"b": 1.0}}, {"a": {"b": 1.0015}}, "$.a.b"),
        ("tolerance", {"a": {"b": 1.0}}, {"a": [{"b": 1.0004}]}, "$.a.b"),
    ],
)
def test_field_chains_give_what_jsonpath_gives_by_example(
    op: str, old: Any, new: Any, path: str
) -> None:
    assert_walk_is_jsonpath(op, old, new, path)
