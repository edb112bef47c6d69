"""The gate on constructed counts: thresholds, verdicts, run status, the JSON contract."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowdiff.compare.model import DIFFERS, ERROR, FAILED, SAME, SKIPPED
from shadowdiff.gate import EndpointGate, GatePolicy, evaluate_endpoint, evaluate_gate

ITEMS, USERS = "GET /api/items", "GET /api/users/{id}"
RUN_KEYS = {"run", "passed", "exchanges", "same", "differs", "failed", "errors", "skipped"}
ENDPOINT_KEYS = {"endpoint", "exchanges", "differs", "failed", "errors", "diff_rate", "passed"}


def endpoint(
    verdicts: dict[str, int],
    policy: GatePolicy | None = None,
    name: str = ITEMS,
    fields: list[dict[str, Any]] | None = None,
) -> EndpointGate:
    return evaluate_endpoint(name, verdicts, policy or GatePolicy(), fields or [], [], [])


# --- thresholds ------------------------------------------------------------------------------


def test_the_endpoint_threshold_beats_the_flag_and_the_default() -> None:
    policy = GatePolicy({ITEMS: 0.2, "*": 0.05}, max_diff_rate=0.1)
    assert policy.threshold(ITEMS) == 0.2
    assert policy.threshold(USERS) == 0.1


def test_the_rules_default_applies_without_a_flag() -> None:
    assert GatePolicy({ITEMS: 0.2, "*": 0.05}).threshold(USERS) == 0.05


def test_a_zero_flag_still_beats_the_rules_default() -> None:
    assert GatePolicy({"*": 0.5}, max_diff_rate=0.0).threshold(USERS) == 0.0


def test_no_thresholds_at_all_means_zero() -> None:
    assert GatePolicy().threshold(ITEMS) == 0.0


def test_an_endpoint_threshold_of_zero_beats_a_lenient_flag() -> None:
    assert GatePolicy({ITEMS: 0.0}, max_diff_rate=0.5).threshold(ITEMS) == 0.0


# --- one endpoint -----------------------------------------------------------------------------


def test_one_differing_of_twenty_passes_under_ten_percent() -> None:
    gate = endpoint({SAME: 19, DIFFERS: 1}, GatePolicy({ITEMS: 0.1}))
    assert gate.passed
    assert gate.diff_rate == 0.05
    assert gate.max_diff_rate == 0.1
    assert gate.reasons == []


def test_one_differing_of_two_fails_under_ten_percent() -> None:
    gate = endpoint({SAME: 1, DIFFERS: 1}, GatePolicy({ITEMS: 0.1}))
    assert not gate.passed
    assert gate.diff_rate == 0.5
    assert gate.reasons == ["diff rate 50.00% > 10.00%"]


def test_a_rate_equal_to_the_threshold_passes() -> None:
    assert endpoint({SAME: 18, DIFFERS: 2}, GatePolicy({ITEMS: 0.1})).passed
    assert endpoint({SAME: 97, DIFFERS: 3}, GatePolicy({ITEMS: 0.03})).passed


def test_by_default_any_difference_fails() -> None:
    assert not endpoint({SAME: 9999, DIFFERS: 1}).passed
    assert endpoint({SAME: 10000}).passed


def test_another_endpoints_threshold_does_not_apply() -> None:
    assert not endpoint({SAME: 19, DIFFERS: 1}, GatePolicy({USERS: 0.5})).passed


def test_skipped_exchanges_do_not_dilute_the_rate() -> None:
    gate = endpoint({SAME: 1, DIFFERS: 1, SKIPPED: 98}, GatePolicy({ITEMS: 0.1}))
    assert gate.diff_rate == 0.5
    assert not gate.passed
    assert (gate.exchanges, gate.skipped) == (100, 98)


def test_an_all_skipped_endpoint_passes_with_rate_zero() -> None:
    gate = endpoint({SKIPPED: 5})
    assert gate.passed
    assert gate.diff_rate == 0.0


def test_a_failed_assertion_fails_the_endpoint_whatever_the_threshold() -> None:
    gate = endpoint({SAME: 99, FAILED: 1}, GatePolicy({ITEMS: 1.0}))
    assert not gate.passed
    assert gate.reasons == ["1 assertion failure(s)"]


def test_errors_fail_the_endpoint_unless_allowed() -> None:
    verdicts = {SAME: 9, ERROR: 1}
    strict = endpoint(verdicts)
    assert not strict.passed
    assert strict.reasons == ["1 error(s)"]
    assert endpoint(verdicts, GatePolicy(allow_errors=True)).passed


def test_allowing_errors_does_not_allow_assertion_failures() -> None:
    assert not endpoint({SAME: 9, FAILED: 1}, GatePolicy(allow_errors=True)).passed


def test_every_reason_is_listed() -> None:
    gate = endpoint({SAME: 1, DIFFERS: 1, FAILED: 2, ERROR: 3})
    assert gate.reasons == ["diff rate 14.29% > 0.00%", "2 assertion failure(s)", "3 error(s)"]


def test_counts_are_copied_per_verdict() -> None:
    gate = endpoint({SAME: 5, DIFFERS: 4, FAILED: 3, ERROR: 2, SKIPPED: 1})
    counts = (gate.exchanges, gate.same, gate.differs, gate.failed, gate.errors, gate.skipped)
    assert counts == (15, 5, 4, 3, 2, 1)
    assert gate.diff_rate == round(4 / 14, 6)


@given(
    st.dictionaries(st.sampled_from([SAME, DIFFERS, FAILED, ERROR, SKIPPED]), st.integers(0, 50)),
    st.floats(0, 1),
    st.booleans(),
)
def test_the_decision_follows_its_definition(
    verdicts: dict[str, int], limit: float, allow_errors: bool
) -> None:
    gate = endpoint(verdicts, GatePolicy({ITEMS: limit}, allow_errors=allow_errors))
    compared = sum(verdicts.values()) - verdicts.get(SKIPPED, 0)
    differs = verdicts.get(DIFFERS, 0)
    expected = (
        (compared == 0 or differs / compared <= limit)
        and not verdicts.get(FAILED)
        and (allow_errors or not verdicts.get(ERROR))
    )
    assert gate.passed is expected
    assert 0.0 <= gate.diff_rate <= 1.0
    assert gate.passed is (gate.reasons == [])


# --- the whole run ----------------------------------------------------------------------------


def test_a_finished_run_with_passing_endpoints_passes() -> None:
    result = evaluate_gate(
        "ci-1", "finished", 0, [endpoint({SAME: 3}), endpoint({SAME: 2, SKIPPED: 1}, name=USERS)]
    )
    assert result.passed
    assert result.reasons == []
    assert (result.exchanges, result.same, result.skipped) == (6, 5, 1)


def test_one_failing_endpoint_fails_the_run_and_comes_first() -> None:
    good = endpoint({SAME: 50}, name="GET /a")
    bad = endpoint({SAME: 1, DIFFERS: 1}, name="GET /z")
    result = evaluate_gate("ci-1", "finished", 0, [good, bad])
    assert not result.passed
    assert [e.endpoint for e in result.endpoints] == ["GET /z", "GET /a"]
    assert result.reasons == ["GET /z: diff rate 50.00% > 0.00%"]


def test_failing_endpoints_are_ordered_worst_first() -> None:
    policy = GatePolicy({"*": 0.0})
    few = endpoint({SAME: 1, DIFFERS: 1}, policy, "GET /few")
    many = endpoint({SAME: 80, DIFFERS: 20}, policy, "GET /many")
    result = evaluate_gate("ci-1", "finished", 0, [few, many])
    assert [e.endpoint for e in result.endpoints] == ["GET /many", "GET /few"]


def test_totals_add_up_over_endpoints() -> None:
    result = evaluate_gate(
        "ci-1",
        "finished",
        2,
        [
            endpoint({SAME: 5, DIFFERS: 4, FAILED: 3}),
            endpoint({ERROR: 2, SKIPPED: 1, SAME: 1}, name=USERS),
        ],
    )
    counts = (result.same, result.differs, result.failed, result.errors, result.skipped)
    assert counts == (6, 4, 3, 2, 1)
    assert result.exchanges == 16
    assert result.unreadable == 2


@pytest.mark.parametrize("status", ["interrupted", "running"])
def test_an_unfinished_run_fails_even_when_every_endpoint_passes(status: str) -> None:
    result = evaluate_gate("nightly", status, 0, [endpoint({SAME: 10})])
    assert not result.passed
    assert result.status == status
    assert result.reasons == [f"the run is {status}, not finished"]


def test_an_empty_run_fails() -> None:
    result = evaluate_gate("ci-1", "finished", 0, [])
    assert not result.passed
    assert result.reasons == ["the run has no exchanges"]
    assert result.endpoints == []


def test_a_run_of_only_skipped_exchanges_is_not_empty() -> None:
    assert evaluate_gate("ci-1", "finished", 0, [endpoint({SKIPPED: 3})]).passed


# --- JSON -------------------------------------------------------------------------------------


def test_the_json_has_the_documented_keys_and_dumps() -> None:
    fields = [{"path": "$.items[*].price", "kind": "value_changed", "count": 2}]
    result = evaluate_gate(
        "ci-1",
        "finished",
        0,
        [
            endpoint({SAME: 18, DIFFERS: 2}, GatePolicy({ITEMS: 0.1}), fields=fields),
            endpoint({SAME: 1, ERROR: 1}, name=USERS),
        ],
    )
    document = json.loads(json.dumps(result.to_json()))
    assert RUN_KEYS | {"endpoints"} <= set(document)
    assert document["run"] == "ci-1"
    assert document["passed"] is False
    assert (document["exchanges"], document["differs"], document["errors"]) == (22, 2, 1)
    by_name = {e["endpoint"]: e for e in document["endpoints"]}
    assert set(by_name) == {ITEMS, USERS}
    for entry in document["endpoints"]:
        assert ENDPOINT_KEYS | {"fields"} <= set(entry)
        assert all({"path", "kind", "count"} <= set(f) for f in entry["fields"])
    assert by_name[ITEMS]["passed"] is True
    assert by_name[ITEMS]["diff_rate"] == 0.1
    assert by_name[ITEMS]["fields"] == fields
    assert by_name[USERS]["passed"] is False
    assert by_name[USERS]["fields"] == []


def test_the_json_of_an_empty_run_dumps() -> None:
    document = json.loads(json.dumps(evaluate_gate("x", "interrupted", 1, []).to_json()))
    assert document["endpoints"] == []
    assert document["passed"] is False
