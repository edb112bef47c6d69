"""Load and validate rules/*.yaml. Every problem is reported as `file:line: message`."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from shadowdiff.errors import InputError, RulesError
from shadowdiff.rules.asserts import read_assertions
from shadowdiff.rules.model import (
    NOISE_ABSOLUTE,
    NOISE_RELATIVE,
    EndpointRule,
    RuleSet,
    compile_template,
    specificity,
)
from shadowdiff.rules.reader import Reader, jsonpath_problem

TOP_KEYS = {"endpoints", "defaults"}
ENDPOINT_KEYS = {
    "match",
    "ignore",
    "headers",
    "unordered",
    "array_keys",
    "tolerance",
    "assert",
    "max_diff_rate",
    "replay",
    "noise",
}
DEFAULT_KEYS = (ENDPOINT_KEYS - {"match"}) | {"redact"}
NOISE_KEYS = {"relative", "absolute"}
METHOD = re.compile(r"[A-Z][A-Z-]*|\*")  # any token method (PURGE, REPORT...) or *


def load_rules(directory: Path, flag: str = "--rules ") -> RuleSet:
    """Read every *.yaml / *.yml under `directory`; raise RulesError listing all problems.
    `flag` prefixes the message when the directory is missing (`--rules DIR: ...`)."""
    if not directory.is_dir():
        raise InputError(f"{flag}{directory}: not a directory")
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    problems: list[str] = []
    endpoints: list[EndpointRule] = []
    defaults = EndpointRule(match="* /**")
    seen: dict[str, EndpointRule] = {}
    for path in files:
        reader = Reader(path)
        file_endpoints, file_defaults = _read_file(reader)
        problems += reader.problems
        for rule in file_endpoints:
            # `{id}` and `{user_id}`, `/a` and `/a/` match the same requests: the later never wins
            same = f"{rule.method} {rule.pattern.pattern}"
            if (first := seen.setdefault(same, rule)) is not rule:
                problems.append(
                    f"{rule.where}: duplicate match {rule.match!r}"
                    f" (same as {first.match!r} at {first.where})"
                )
            endpoints.append(rule)
        if file_defaults is not None:
            defaults = file_defaults.merged_into(defaults, inherit_rate=True)
    if problems:
        raise RulesError(problems)
    merged = [rule.merged_into(defaults) for rule in endpoints]
    merged.sort(key=lambda rule: specificity(rule.match))
    return RuleSet(tuple(merged), defaults)


def _read_file(reader: Reader) -> tuple[list[EndpointRule], EndpointRule | None]:
    try:
        data = YAML(typ="rt").load(reader.path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reader.problems.append(
            f"{reader.path}:{line}: invalid YAML: {getattr(exc, 'problem', exc)}"
        )
        return [], None
    except (OSError, UnicodeDecodeError) as exc:
        reader.problems.append(f"{reader.path}:1: cannot read: {exc}")
        return [], None
    if data is None:
        return [], None
    if not isinstance(data, CommentedMap):
        reader.problems.append(f"{reader.path}:1: a rules file must be a mapping with 'endpoints'")
        return [], None
    for unknown in sorted(set(map(str, data)) - TOP_KEYS):
        reader.problem(data, unknown, f"unknown key {unknown!r} (allowed: defaults, endpoints)")
    defaults = None
    if "defaults" in data and (node := reader.mapping(data, "defaults", DEFAULT_KEYS)) is not None:
        defaults = _read_rule(reader, node, "* /**")
    return _read_endpoints(reader, data), defaults


def _read_endpoints(reader: Reader, data: CommentedMap) -> list[EndpointRule]:
    if "endpoints" not in data:
        return []
    items = data["endpoints"]
    if not isinstance(items, CommentedSeq):
        reader.problem(data, "endpoints", "endpoints must be a list")
        return []
    rules = []
    for index, node in enumerate(items):
        if not isinstance(node, CommentedMap):
            reader.problem(items, index, "an endpoint must be a mapping with 'match'")
            continue
        reader.unknown_keys(node, ENDPOINT_KEYS)
        match = _read_match(reader, node, items, index)
        if match is not None:
            rules.append(_read_rule(reader, node, match))
    return rules


def _read_match(reader: Reader, node: CommentedMap, items: CommentedSeq, index: int) -> str | None:
    if "match" not in node:
        reader.problem(items, index, "endpoint without 'match'")
        return None
    match = node["match"]
    method, _, path = str(match).strip().partition(" ")
    if (
        not isinstance(match, str)
        or not METHOD.fullmatch(method.upper())
        or not path.startswith("/")
    ):
        reader.problem(node, "match", f"match {match!r} must be 'METHOD /path/{{param}}/**'")
        return None
    if "?" in path:
        reader.problem(node, "match", f"match {match!r}: the query string is not part of a match")
        return None
    return f"{method.upper()} {path.strip()}"


def _read_rule(reader: Reader, node: CommentedMap, match: str) -> EndpointRule:
    ignore, compare = _read_headers(reader, node)
    redact = _read_redact(reader, node)
    return EndpointRule(
        match=match,
        ignore=tuple(reader.jsonpaths(node, "ignore")) if "ignore" in node else (),
        header_ignore=ignore,
        header_compare=compare,
        unordered=tuple(reader.jsonpaths(node, "unordered")) if "unordered" in node else (),
        array_keys=_read_array_keys(reader, node),
        tolerance=_read_tolerance(reader, node),
        assertions=read_assertions(reader, node),
        max_diff_rate=_read_rate(reader, node),
        replay=_read_replay(reader, node),
        noise=_read_noise(reader, node),
        redact_headers=redact[0],
        redact_paths=redact[1],
        where=reader.where(node, "match"),
        pattern=compile_template(match.partition(" ")[2]),
    )


def _read_headers(reader: Reader, node: CommentedMap) -> tuple[frozenset[str], frozenset[str]]:
    if "headers" not in node:
        return frozenset(), frozenset()
    headers = reader.mapping(node, "headers", {"ignore", "compare"})
    if headers is None:
        return frozenset(), frozenset()
    ignore = reader.strings(headers, "ignore") if "ignore" in headers else []
    compare = reader.strings(headers, "compare") if "compare" in headers else []
    return frozenset(h.lower() for h in ignore), frozenset(h.lower() for h in compare)


def _read_array_keys(reader: Reader, node: CommentedMap) -> tuple[tuple[str, str], ...]:
    def problem(key: Any) -> str | None:
        return None if isinstance(key, str) and key else "the key must be a field name"

    return tuple((p, str(k)) for p, k in _read_path_map(reader, node, "array_keys", problem))


def _read_tolerance(reader: Reader, node: CommentedMap) -> tuple[tuple[str, float], ...]:
    def problem(amount: Any) -> str | None:
        number = isinstance(amount, int | float) and not isinstance(amount, bool)
        return None if number and amount >= 0 else "must be a number >= 0"

    return tuple((p, float(v)) for p, v in _read_path_map(reader, node, "tolerance", problem))


def _read_path_map(
    reader: Reader, node: CommentedMap, key: str, value_problem: Callable[[Any], str | None]
) -> list[tuple[str, Any]]:
    """A `{JSONPath: value}` mapping, each path and value checked."""
    if key not in node:
        return []
    values = node[key]
    if not isinstance(values, CommentedMap):
        reader.problem(node, key, f"{key} must be a mapping of JSONPath: value")
        return []
    pairs = []
    for path, value in values.items():
        message = jsonpath_problem(str(path)) or value_problem(value)
        if message:
            reader.problem(values, path, f"{key} {path}: {message}")
        else:
            pairs.append((str(path), value))
    return pairs


def _read_redact(reader: Reader, node: CommentedMap) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`redact: {headers: [...], paths: [$...]}` (defaults only): what is replaced by a keyed
    hash before anything is stored, besides Authorization, Cookie and Set-Cookie."""
    redact = reader.mapping(node, "redact", {"headers", "paths"}) if "redact" in node else None
    if redact is None:
        return (), ()
    headers = tuple(reader.strings(redact, "headers")) if "headers" in redact else ()
    paths = tuple(reader.jsonpaths(redact, "paths")) if "paths" in redact else ()
    return headers, paths


def _read_replay(reader: Reader, node: CommentedMap) -> bool | None:
    """`replay: false` holds an endpoint's requests back (stored as skipped, not sent)."""
    if "replay" not in node:
        return None
    if not isinstance(node["replay"], bool):
        reader.problem(node, "replay", "replay must be true or false")
        return None
    return bool(node["replay"])


def _read_noise(reader: Reader, node: CommentedMap) -> tuple[float, float] | None:
    """`noise: {relative: 0.2, absolute: 0.0003}`: how far a field's differences must rise
    above its noise to be signal (Diffy's test; compare/noise.py). Either may be left out."""
    if "noise" not in node or (margins := reader.mapping(node, "noise", NOISE_KEYS)) is None:
        return None
    values = []
    for key, default in (("relative", NOISE_RELATIVE), ("absolute", NOISE_ABSOLUTE)):
        value = margins.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            reader.problem(margins, key, f"noise {key} must be a number from 0 to 1")
            return None
        values.append(float(value))
    return values[0], values[1]


def _read_rate(reader: Reader, node: CommentedMap) -> float | None:
    if "max_diff_rate" not in node:
        return None
    rate = node["max_diff_rate"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        reader.problem(node, "max_diff_rate", "max_diff_rate must be a number from 0 to 1")
        return None
    return float(rate)
