"""Reading the `assert:` list of an endpoint rule."""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from shadowdiff.rules.model import ASSERTION_CHECKS, JSON_TYPES, Assertion
from shadowdiff.rules.reader import Reader, jsonpath_problem

CHECKS_TEXT = ", ".join(ASSERTION_CHECKS)


def read_assertions(reader: Reader, node: CommentedMap) -> tuple[Assertion, ...]:
    if "assert" not in node:
        return ()
    items = node["assert"]
    if not isinstance(items, CommentedSeq):
        reader.problem(node, "assert", "assert must be a list")
        return ()
    found: list[Assertion] = []
    for index, item in enumerate(items):
        where = reader.where(items, index)
        if not isinstance(item, CommentedMap):
            reader.problems.append(f"{where}: an assertion must be a mapping")
            continue
        found += _read_assertion(reader, item, where)
    return tuple(found)


def _read_assertion(reader: Reader, item: CommentedMap, where: str) -> list[Assertion]:
    keys = set(map(str, item))
    if keys == {"status"}:
        return _read_status(reader, item, where)
    unknown = keys - {"path", *ASSERTION_CHECKS}
    if unknown or "path" not in keys or not keys & set(ASSERTION_CHECKS):
        reader.problems.append(
            f"{where}: an assertion is {{status: N}} or {{path, one of: {CHECKS_TEXT}}}"
            + (f"; unknown key(s): {', '.join(sorted(unknown))}" if unknown else "")
        )
        return []
    path = str(item["path"])
    if message := jsonpath_problem(path):
        reader.problems.append(f"{where}: {message}")
        return []
    checks = [c for c in ASSERTION_CHECKS if c in item]
    problems = [m for c in checks if (m := _check_problem(c, item[c]))]
    reader.problems += [f"{where}: {message}" for message in problems]
    return [] if problems else [Assertion(c, _plain(item[c]), path, where) for c in checks]


def _read_status(reader: Reader, item: CommentedMap, where: str) -> list[Assertion]:
    status = item["status"]
    codes = list(status) if isinstance(status, list) else [status]
    if not codes or not all(isinstance(c, int) and 100 <= c <= 599 for c in codes):
        reader.problems.append(f"{where}: status must be an HTTP status code or a list of them")
        return []
    return [Assertion("status", [int(c) for c in codes], None, where)]


def _check_problem(check: str, expected: Any) -> str | None:
    if check == "exists" and not isinstance(expected, bool):
        return "exists must be true or false"
    if check == "type" and expected not in JSON_TYPES:
        return f"type must be one of {', '.join(JSON_TYPES)}"
    if check in ("min_length", "max_length") and (
        isinstance(expected, bool) or not isinstance(expected, int) or expected < 0
    ):
        return f"{check} must be a whole number >= 0"
    if check == "matches":
        if not isinstance(expected, str):
            return f"matches must be a regex string, not {expected!r}"
        try:
            re.compile(str(expected))
        except re.error as exc:
            return f"invalid regex {expected!r}: {exc}"
    return None


def _plain(value: Any) -> Any:
    """ruamel's round-trip values (CommentedMap, ScalarFloat, LiteralScalarString...) -> plain
    JSON values, so that `equals` compares types as the JSON body has them."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value
