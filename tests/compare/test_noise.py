"""Noise evidence and Diffy's test (compare/noise.py)."""

from __future__ import annotations

import pytest

from shadowdiff.compare.noise import (
    FieldNoise,
    NoiseEvidence,
    NoiseThresholds,
    element_key,
    field_rates,
    is_signal,
    nice_tolerance,
    self_differences,
)
from shadowdiff.rules.model import EndpointRule
from shadowdiff.testing import make_response

RULE = EndpointRule(match="GET /x")
DIFFY = NoiseThresholds()


@pytest.mark.parametrize(
    ("raw", "noise", "total", "signal"),
    [
        (998, 1000, 1000, False),  # a timestamp: differs as often with itself
        (50, 0, 1000, True),  # a real regression
        (60, 45, 1000, False),  # flaky, a little worse: under the relative margin
        (3, 0, 100_000, False),  # rare: under the absolute margin
        (0, 0, 1000, False),
        (1000, 0, 1000, True),
    ],
)
def test_diffys_worked_examples(raw: int, noise: int, total: int, signal: bool) -> None:
    assert is_signal(raw, total, noise / total, DIFFY) is signal


def test_margins_come_from_the_thresholds() -> None:
    assert not is_signal(60, 1000, 0.045, DIFFY)
    assert is_signal(60, 1000, 0.045, NoiseThresholds(relative=0.1, absolute=0.0003))
    assert is_signal(3, 100_000, 0.0, NoiseThresholds(absolute=0.00001))


@pytest.mark.parametrize(
    ("delta", "tolerance"), [(0.0037, 0.006), (0.0008, 0.002), (0.3, 0.5), (0.0, 0.0)]
)
def test_a_tolerance_covers_the_jitter_with_room(delta: float, tolerance: float) -> None:
    assert nice_tolerance(delta) == tolerance


def test_objects_in_another_order_are_named_by_their_key() -> None:
    a = [{"id": 1, "name": "x"}, {"id": 2, "name": "y"}, {"id": 3, "name": "z"}]
    assert element_key(a, [a[2], a[0], a[1]]) == "id"
    assert element_key(a, a) is None  # the same order: nothing to align
    assert element_key(a, [a[0], a[1], {"id": 4, "name": "z"}]) is None  # other elements
    assert element_key([{"id": 1}, {"id": 1}], [{"id": 1}, {"id": 1}]) is None  # not unique
    assert element_key(["a", "b"], ["b", "a"]) is None  # not objects


def test_self_differences_count_each_field_and_kind_once() -> None:
    first = make_response(json={"ts": "10:00", "n": 1.0001, "items": [{"v": 1}, {"v": 2}]})
    second = make_response(json={"ts": "10:01", "n": 1.0003, "items": [{"v": 3}, {"v": 4}]})
    seen = self_differences(first, second, RULE)
    assert set(seen) == {
        ("$.ts", "value_changed"),
        ("$.n", "value_changed"),
        ("$.items[*].v", "value_changed"),
    }
    assert seen["$.items[*].v", "value_changed"].differences == 1  # two elements, one exchange
    assert seen["$.n", "value_changed"].numeric
    assert seen["$.n", "value_changed"].max_delta == pytest.approx(0.0002)
    assert not seen["$.ts", "value_changed"].numeric


def test_a_shuffled_array_of_objects_is_measured_aligned_by_its_key() -> None:
    """The elements' own noise (seen_at) is measured on the same elements, not on whatever
    landed at the same index."""
    friends = [{"id": k, "name": f"f{k}", "seen_at": "t1"} for k in range(4)]
    moved = [dict(f, seen_at="t2") for f in reversed(friends)]
    seen = self_differences(
        make_response(json={"friends": friends}), make_response(json={"friends": moved}), RULE
    )
    assert seen["$.friends", "order_changed"].array_key == "id"
    assert ("$.friends[*].seen_at", "value_changed") in seen
    assert not seen["$.friends[*].seen_at", "value_changed"].by_index
    assert seen["$.friends[*].name", "value_changed"].by_index  # an artefact of the order


def test_evidence_adds_up_per_endpoint_and_source() -> None:
    evidence = NoiseEvidence()
    a, b = make_response(json={"t": 1}), make_response(json={"t": 2})
    evidence.observe("GET /x", "candidate", a, b, RULE)
    evidence.observe("GET /x", "candidate", a, a, RULE)
    evidence.observe("GET /x", "baseline", a, b, RULE)
    assert evidence.sampled == {("GET /x", "candidate"): 2, ("GET /x", "baseline"): 1}
    assert evidence.fields["GET /x", "candidate", "$.t", "value_changed"].differences == 1


def test_the_noisier_build_gives_the_rate() -> None:
    rates = field_rates(
        {"candidate": 10, "baseline": 4},
        [
            ("candidate", "$.t", "value_changed", FieldNoise(2)),
            ("baseline", "$.t", "value_changed", FieldNoise(4)),
        ],
    )
    assert rates["$.t", "value_changed"].rate == 1.0
    assert rates["$.t", "value_changed"].sampled == 4
