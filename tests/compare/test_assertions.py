"""Assertions: checks on the candidate alone (exists, type, lengths, matches, equals, status)."""

from __future__ import annotations

from typing import Any

import pytest

from shadowdiff.compare.assertions import NO_JSON, check_assertions
from shadowdiff.compare.model import AssertionResult
from shadowdiff.rules.model import Assertion

BODY = {
    "id": 7,
    "price": 9.5,
    "ratio": 1.0,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "active": True,
    "deleted_at": None,
    "roles": ["admin", "user"],
    "profile": {"city": "London"},
    "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
    "empty": [],
}


def check(assertion: Assertion, body: Any = BODY, status: int = 200) -> AssertionResult:
    (result,) = check_assertions((assertion,), status, body)
    assert result.assertion is assertion
    return result


@pytest.mark.parametrize(
    ("check_name", "path", "expected"),
    [
        ("exists", "$.email", True),
        ("exists", "$.deleted_at", True),  # null is there
        ("exists", "$.nothing", False),
        ("exists", "$.items[*].sku", True),
        ("type", "$.id", "integer"),
        ("type", "$.id", "number"),
        ("type", "$.price", "number"),
        ("type", "$.ratio", "number"),
        ("type", "$.name", "string"),
        ("type", "$.active", "boolean"),
        ("type", "$.deleted_at", "null"),
        ("type", "$.roles", "array"),
        ("type", "$.profile", "object"),
        ("type", "$.items[*].qty", "integer"),
        ("type", "$", "object"),
        ("min_length", "$.roles", 2),
        ("min_length", "$.name", 3),
        ("min_length", "$.profile", 1),
        ("min_length", "$.empty", 0),
        ("max_length", "$.roles", 2),
        ("max_length", "$.empty", 0),
        ("matches", "$.email", r"^[^@\s]+@[^@\s]+$"),
        ("matches", "$.name", "Love"),  # re.search: anywhere in the string
        ("matches", "$.items[*].sku", r"^[A-Z]-\d$"),
        ("equals", "$.id", 7),
        ("equals", "$.ratio", 1.0),
        ("equals", "$.active", True),
        ("equals", "$.deleted_at", None),
        ("equals", "$.roles", ["admin", "user"]),
        ("equals", "$.profile", {"city": "London"}),
    ],
)
def test_passing_checks(check_name: str, path: str, expected: Any) -> None:
    assert check(Assertion(check_name, expected, path)) == AssertionResult(
        Assertion(check_name, expected, path), True, ""
    )


@pytest.mark.parametrize(
    ("check_name", "path", "expected", "message"),
    [
        ("exists", "$.nothing", True, "missing"),
        ("exists", "$.email", False, "present"),
        ("type", "$.name", "integer", "was str 'Ada Lovelace'"),
        ("type", "$.price", "integer", "was float 9.5"),
        ("type", "$.ratio", "integer", "was float 1.0"),
        ("type", "$.active", "integer", "was bool True"),  # a boolean is no number
        ("type", "$.active", "number", "was bool True"),
        ("type", "$.id", "boolean", "was int 7"),
        ("type", "$.deleted_at", "object", "was NoneType None"),
        ("type", "$.profile", "array", "was dict {'city': 'London'}"),
        ("type", "$.items[*].sku", "integer", "was str 'A-1'"),
        ("type", "$.nothing", "string", "missing"),
        ("min_length", "$.roles", 3, "length was 2"),
        ("min_length", "$.empty", 1, "length was 0"),
        ("max_length", "$.name", 5, "length was 12"),
        ("min_length", "$.id", 1, "has no length: 7"),
        ("min_length", "$.nothing", 1, "missing"),
        ("matches", "$.email", r"^admin@", "was 'ada@example.com'"),
        ("matches", "$.id", r"7", "was 7"),  # only strings match
        ("matches", "$.items[*].sku", r"^A", "was 'B-2'"),  # every match must hold
        ("equals", "$.id", 8, "was 7"),
        ("equals", "$.id", 7.0, "was 7"),  # 7 and 7.0 are different JSON
        ("equals", "$.ratio", 1, "was 1.0"),
        ("equals", "$.active", 1, "was True"),
        ("equals", "$.roles", ["user", "admin"], "was ['admin', 'user']"),
        ("equals", "$.nothing", None, "missing"),
    ],
)
def test_failing_checks(check_name: str, path: str, expected: Any, message: str) -> None:
    result = check(Assertion(check_name, expected, path))
    assert (result.passed, result.message) == (False, message)


def test_a_long_value_is_shortened_in_the_message() -> None:
    result = check(Assertion("equals", "short", "$.text"), {"text": "x" * 500})
    assert result.message == "was " + repr("x" * 500)[:80]


def test_status_checks_any_listed_code_and_needs_no_json() -> None:
    ok = Assertion("status", [200, 304])
    assert check(ok, NO_JSON, status=304).passed
    failed = check(ok, BODY, status=500)
    assert (failed.passed, failed.message) == (False, "status was 500")


def test_body_checks_fail_when_the_candidate_is_not_json() -> None:
    for assertion in (Assertion("exists", False, "$.x"), Assertion("type", "null", "$")):
        result = check(assertion, NO_JSON)
        assert (result.passed, result.message) == (False, "the candidate body is not JSON")


@pytest.mark.parametrize("body", [None, 5, "text", [1, 2]])
def test_body_checks_on_json_that_is_not_an_object(body: Any) -> None:
    assert check(Assertion("exists", False, "$.id"), body).passed
    assert not check(Assertion("exists", True, "$.id"), body).passed


def test_a_root_array_by_index() -> None:
    body = [{"id": 1, "title": "a"}]
    assert check(Assertion("type", "integer", "$[0].id"), body).passed
    assert check(Assertion("type", "string", "$[0].title"), body).passed
    assert check(Assertion("exists", False, "$[1].id"), body).passed


def test_every_assertion_gets_a_result_in_order() -> None:
    assertions = (
        Assertion("status", [200]),
        Assertion("exists", True, "$.email"),
        Assertion("min_length", 5, "$.roles"),
    )
    results = check_assertions(assertions, 200, BODY)
    assert [(r.assertion, r.passed) for r in results] == [
        (assertions[0], True),
        (assertions[1], True),
        (assertions[2], False),
    ]
    assert check_assertions((), 500, NO_JSON) == ()
