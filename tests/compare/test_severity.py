"""Severity of a difference kind: what breaks clients ranks high."""

import pytest

from shadowdiff.compare.model import KINDS
from shadowdiff.compare.severity import HIGH, LOW, MEDIUM, SEVERITIES, kinds_at_least, severity_of


@pytest.mark.parametrize(
    ("kind", "path", "severity"),
    [
        ("missing", "$.email", HIGH),
        ("type_changed", "$.id", HIGH),
        ("status_changed", "status", HIGH),
        ("header_changed", "headers.Content-Type", HIGH),
        ("header_changed", "headers.content-type", HIGH),
        ("header_changed", "headers.Cache-Control", MEDIUM),
        ("value_changed", "$.price", MEDIUM),
        ("length_changed", "$.items", MEDIUM),
        ("body_changed", "body", MEDIUM),
        ("order_changed", "$.tags", LOW),
        ("added", "$.new_field", LOW),
    ],
)
def test_severity_by_kind(kind: str, path: str, severity: str) -> None:
    assert severity_of(kind, path) == severity


def test_every_kind_has_a_severity_and_the_levels_nest() -> None:
    assert all(severity_of(kind, "$.x") in SEVERITIES for kind in KINDS)
    low, medium, high = (set(kinds_at_least(level)[0]) for level in SEVERITIES)
    assert high < medium < low == set(KINDS)
    assert kinds_at_least(HIGH)[1] and kinds_at_least(LOW)[1]
