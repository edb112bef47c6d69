"""Reading one rules file's YAML: problems collected as `file:line: message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonpath_ng.parser import parse as parse_jsonpath
from ruamel.yaml.comments import CommentedMap, CommentedSeq


@dataclass
class Reader:
    """Validates one file's data, collecting problems with line numbers."""

    path: Path
    problems: list[str] = field(default_factory=list)

    def where(self, node: Any, key: Any = None) -> str:
        line = 0
        if isinstance(node, CommentedMap) and key is not None and key in node:
            line = node.lc.key(key)[0]
        elif isinstance(node, CommentedSeq) and isinstance(key, int):
            line = node.lc.item(key)[0]
        elif isinstance(node, CommentedMap | CommentedSeq):
            line = node.lc.line
        return f"{self.path}:{line + 1}"

    def problem(self, node: Any, key: Any, message: str) -> None:
        self.problems.append(f"{self.where(node, key)}: {message}")

    def mapping(self, node: Any, key: Any, allowed: set[str]) -> CommentedMap | None:
        value = node[key]
        if not isinstance(value, CommentedMap):
            self.problem(node, key, f"{key} must be a mapping")
            return None
        self.unknown_keys(value, allowed)
        return value

    def unknown_keys(self, node: CommentedMap, allowed: set[str]) -> None:
        for unknown in sorted(set(map(str, node)) - allowed):
            self.problem(
                node, unknown, f"unknown key {unknown!r} (allowed: {', '.join(sorted(allowed))})"
            )

    def strings(self, node: Any, key: Any) -> list[str]:
        value = node[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(node, key, f"{key} must be a list of strings")
            return []
        return list(value)

    def jsonpaths(self, node: Any, key: Any) -> list[str]:
        paths = self.strings(node, key)
        for index, path in enumerate(paths):
            if message := jsonpath_problem(path):
                self.problem(
                    node[key] if isinstance(node[key], list) else node,
                    index if isinstance(node[key], list) else key,
                    message,
                )
        return [p for p in paths if not jsonpath_problem(p)]


def jsonpath_problem(path: str) -> str | None:
    if not path.startswith("$"):
        return f"JSONPath {path!r} must start with '$'"
    try:
        parse_jsonpath(path)
    except Exception as exc:  # jsonpath-ng raises bare Exception subclasses of many kinds
        return f"invalid JSONPath {path!r}: {exc}"
    return None
