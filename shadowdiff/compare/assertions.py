"""Assertions: checks that must hold on the candidate alone, whatever the baseline says."""

from __future__ import annotations

import re
from typing import Any

from shadowdiff.compare.model import AssertionResult
from shadowdiff.compare.normalize import compiled
from shadowdiff.rules.model import Assertion

NO_JSON = object()
_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "array": (list,),
    "object": (dict,),
}


def check_assertions(
    assertions: tuple[Assertion, ...], status: int, body: Any
) -> tuple[AssertionResult, ...]:
    """`body` is the parsed candidate JSON, or NO_JSON when it is not JSON."""
    return tuple(_check(a, status, body) for a in assertions)


def _check(assertion: Assertion, status: int, body: Any) -> AssertionResult:
    if assertion.check == "status":
        passed = status in assertion.expected
        return AssertionResult(assertion, passed, "" if passed else f"status was {status}")
    if body is NO_JSON:
        return AssertionResult(assertion, False, "the candidate body is not JSON")
    values = [m.value for m in compiled(assertion.path or "$").find(body)]
    message = _problem(assertion, values)
    return AssertionResult(assertion, message is None, message or "")


def _problem(assertion: Assertion, values: list[Any]) -> str | None:
    check, expected = assertion.check, assertion.expected
    if check == "exists":
        return None if bool(values) == expected else ("missing" if expected else "present")
    if not values:
        return "missing"
    for value in values:
        if (message := _value_problem(check, expected, value)) is not None:
            return message
    return None


def _value_problem(check: str, expected: Any, value: Any) -> str | None:
    shown = repr(value)[:80]
    if check == "type":
        bad = not isinstance(value, _TYPES[expected]) or (
            isinstance(value, bool) and expected in ("integer", "number")
        )
        return f"was {type(value).__name__} {shown}" if bad else None
    if check in ("min_length", "max_length"):
        if not isinstance(value, str | list | dict):
            return f"has no length: {shown}"
        short = check == "min_length" and len(value) < expected
        return (
            f"length was {len(value)}"
            if short or (check == "max_length" and len(value) > expected)
            else None
        )
    if check == "matches":
        return None if isinstance(value, str) and re.search(expected, value) else f"was {shown}"
    if check == "equals":
        same = value == expected and type(value) is type(expected)
        return None if same else f"was {shown}"
    return f"unknown check {check}"
