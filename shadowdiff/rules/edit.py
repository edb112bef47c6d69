"""Writing suggestions into rules files, keeping what the QA wrote: comments, key order,
quoting and flow style survive (ruamel.yaml round trip). An endpoint that has a rule is
edited in the file that holds it; an endpoint without one gets a new rule in
`suggested.yaml` of the rules directory."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from shadowdiff.rules.model import RuleSet
from shadowdiff.rules.suggest import (
    ARRAY_KEYS,
    HEADER_IGNORE,
    IGNORE,
    TOLERANCE,
    UNORDERED,
    Suggestion,
)

NEW_FILE = "suggested.yaml"
_DASH = re.compile(r"^( *)- ", re.MULTILINE)


@dataclass(slots=True)
class EditedFile:
    path: Path
    before: str
    data: Any
    yaml: YAML
    indent: int  # the column of an endpoint's keys

    def text(self) -> str:
        out = io.StringIO()
        self.yaml.dump(self.data, out)
        return out.getvalue()


def edit_rules(
    directory: Path, rules: RuleSet, suggestions: Sequence[Suggestion], run: str
) -> dict[Path, tuple[str, str]]:
    """path -> (text before, text after) of every rules file the suggestions change."""
    files: dict[Path, EditedFile] = {}
    for suggestion in suggestions:
        path = _file_of(directory, rules, suggestion.endpoint)
        edited = files.get(path) or files.setdefault(path, _open(path, run))
        node = _endpoint_node(edited, suggestion.endpoint)
        _apply(node, suggestion, f"suggested from the noise of run {run}", edited.indent)
    return {path: (f.before, f.text()) for path, f in files.items() if f.text() != f.before}


def _file_of(directory: Path, rules: RuleSet, endpoint: str) -> Path:
    for rule in rules.endpoints:
        if rule.match == endpoint and rule.where:
            return Path(rule.where.rsplit(":", 1)[0])
    return directory / NEW_FILE


def _open(path: Path, run: str) -> EditedFile:
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line the QA wrote
    dash = _DASH.search(before)
    offset = len(dash.group(1)) if dash else 2
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    data = yaml.load(before) if before.strip() else None
    if data is None:
        data = CommentedMap()
        data.yaml_set_start_comment(
            f"Rules written by `shadowdiff rules suggest` from the noise measured in run {run}.\n"
            "Review them like any other rule; move them where they belong."
        )
    return EditedFile(path, before, data, yaml, offset + 2)


def _endpoint_node(edited: EditedFile, endpoint: str) -> CommentedMap:
    endpoints = edited.data.setdefault("endpoints", CommentedSeq())
    for node in endpoints:
        if isinstance(node, CommentedMap) and _same_match(node.get("match"), endpoint):
            return node
    node = CommentedMap(match=endpoint)
    endpoints.append(node)
    return node


def _same_match(match: Any, endpoint: str) -> bool:
    if not isinstance(match, str):
        return False
    method, _, path = match.strip().partition(" ")
    return f"{method.upper()} {path.strip()}" == endpoint


def _apply(node: CommentedMap, suggestion: Suggestion, note: str, indent: int) -> None:
    where = (note, indent)
    if suggestion.action in (IGNORE, UNORDERED):
        _add_to_list(node, suggestion.action, suggestion.path, where)
    elif suggestion.action in (TOLERANCE, ARRAY_KEYS):
        _add_to_map(node, suggestion.action, suggestion.path, suggestion.value, where)
    elif suggestion.action == HEADER_IGNORE:
        headers = node.get("headers")
        if not isinstance(headers, CommentedMap):
            headers = _insert(node, "headers", _flow(CommentedMap()), where)
        _add_to_list(headers, "ignore", suggestion.path, where)


Note = tuple[str, int]  # a comment for a new key, and its column


def _add_to_list(node: CommentedMap, key: str, value: str, note: Note) -> None:
    items = node.get(key)
    if isinstance(items, str):  # `ignore: $.a` is a list of one
        items = node[key] = _flow(CommentedSeq([items]))
    if not isinstance(items, CommentedSeq):
        _insert(node, key, _flow(CommentedSeq([value])), note)
    elif value not in items:
        items.append(value)


def _add_to_map(node: CommentedMap, key: str, path: str, value: Any, note: Note) -> None:
    mapping = node.get(key)
    if not isinstance(mapping, CommentedMap):
        mapping = _insert(node, key, _flow(CommentedMap()), note)
    mapping.setdefault(path, value)


def _insert(node: CommentedMap, key: str, value: Any, note: Note) -> Any:
    """A new key after `match` (and the other keys the suggestions added), with a comment
    (a key inside a flow mapping gets none: a comment cannot go there)."""
    position = 1 if "match" in node else 0
    while position < len(node) and list(node)[position] in _ADDED_KEYS:
        position += 1
    node.insert(position, key, value)
    if not node.fa.flow_style():
        node.yaml_set_comment_before_after_key(key, before=note[0], indent=note[1])
    return value


_ADDED_KEYS = frozenset({IGNORE, TOLERANCE, UNORDERED, ARRAY_KEYS, "headers"})


def _flow(value: Any) -> Any:
    value.fa.set_flow_style()
    return value
