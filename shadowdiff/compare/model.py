"""Comparison values: differences, assertion results, verdicts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shadowdiff.rules.model import Assertion

SAME, DIFFERS, FAILED, ERROR, SKIPPED = "same", "differs", "failed", "error", "skipped"
VERDICTS = (SAME, DIFFERS, FAILED, ERROR, SKIPPED)
COMPARED = (SAME, DIFFERS, FAILED)  # verdicts of exchanges whose answers were compared


def compared_count(verdicts: Mapping[str, int]) -> int:
    """How many of these exchanges (verdict -> count) had their answers compared."""
    return sum(verdicts.get(verdict, 0) for verdict in COMPARED)


KINDS = (
    "value_changed",
    "type_changed",
    "missing",
    "added",
    "length_changed",
    "order_changed",
    "status_changed",
    "header_changed",
    "body_changed",
)
_INDEX = re.compile(r"\[(?:\d+|[^\]]*=[^\]]*)\]")


def fold_path(path: str) -> str:
    """`$.orders[2].items[id=7].total` -> `$.orders[*].items[*].total`."""
    return _INDEX.sub("[*]", path)


@dataclass(frozen=True, slots=True)
class Difference:
    """One path-level change. Values are JSON-able (None where a side has nothing)."""

    path: str
    kind: str
    baseline: Any = None
    candidate: Any = None

    @property
    def field(self) -> str:
        return fold_path(self.path)


@dataclass(frozen=True, slots=True)
class AssertionResult:
    assertion: Assertion
    passed: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class Comparison:
    verdict: str
    differences: tuple[Difference, ...] = ()
    assertions: tuple[AssertionResult, ...] = ()
    error: str | None = None
