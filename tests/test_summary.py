"""summarize_run over runs stored in a real SQLite file, and the gate as text."""

from __future__ import annotations

import json

import pytest
from sqlite_utils import Database

from shadowdiff.compare.model import (
    DIFFERS,
    ERROR,
    FAILED,
    SAME,
    SKIPPED,
    AssertionResult,
    Comparison,
    Difference,
)
from shadowdiff.errors import InputError
from shadowdiff.gate import GatePolicy, GateResult
from shadowdiff.gorfile import GorProblem
from shadowdiff.rules.model import Assertion
from shadowdiff.store import ExchangeResult, RunWriter
from shadowdiff.summary import TOP_FIELDS, format_gate, summarize_run
from shadowdiff.testing import make_exchange

ITEMS, USERS, ORDERS = "GET /api/items", "GET /api/users/{id}", "POST /api/orders"
EMAIL = Assertion("exists", True, "$.email", where="rules/users.yaml:7")


def result(
    endpoint: str,
    verdict: str = SAME,
    *paths: str,
    error: str | None = None,
    assertions: tuple[AssertionResult, ...] = (),
) -> ExchangeResult:
    differences = tuple(Difference(p, "value_changed", 1, 2) for p in paths)
    comparison = Comparison(verdict, differences, assertions, error)
    return ExchangeResult(make_exchange(), endpoint, comparison)


def store_run(
    db: Database,
    name: str,
    results: list[ExchangeResult],
    thresholds: dict[str, float] | None = None,
    status: str | None = "finished",
) -> RunWriter:
    run = {"thresholds": json.dumps(thresholds)} if thresholds is not None else {}
    writer = RunWriter(db, name, run)
    for item in results:
        writer.add(item)
    if status is None:
        writer.flush()  # interrupted: never finished
    else:
        writer.finish(status, {})
    return writer


def mixed_run() -> list[ExchangeResult]:
    """Items: prices differ in 2 of 20 exchanges; users: all same; orders: an error."""
    items = [
        result(ITEMS, DIFFERS, "$.items[0].price", "$.items[2].price"),
        result(ITEMS, DIFFERS, "$.items[1].price"),
        *[result(ITEMS) for _ in range(18)],
    ]
    users = [result(USERS) for _ in range(5)]
    orders = [result(ORDERS), result(ORDERS, ERROR, error="timed out after 5s")]
    return items + users + orders


def test_the_gate_json_of_a_stored_run(db: Database) -> None:
    store_run(db, "ci-1", mixed_run(), {ITEMS: 0.1, "*": 0.0})
    document = json.loads(json.dumps(summarize_run(db, "ci-1", GatePolicy()).to_json()))
    run_keys = {"run", "passed", "exchanges", "same", "differs", "failed", "errors", "skipped"}
    assert run_keys | {"endpoints"} <= set(document)
    assert document["run"] == "ci-1"
    assert document["passed"] is False  # the orders error
    counts = [document[k] for k in ("exchanges", "same", "differs", "failed", "errors")]
    assert counts == [27, 24, 2, 0, 1]
    assert document["skipped"] == 0
    endpoint_keys = {"endpoint", "exchanges", "differs", "failed", "errors", "diff_rate"}
    by_name = {e["endpoint"]: e for e in document["endpoints"]}
    assert set(by_name) == {ITEMS, USERS, ORDERS}
    for entry in document["endpoints"]:
        assert endpoint_keys | {"passed", "fields"} <= set(entry)
    items = by_name[ITEMS]
    assert (items["exchanges"], items["differs"], items["diff_rate"], items["passed"]) == (
        20,
        2,
        0.1,
        True,
    )
    assert items["fields"] == [
        {"path": "$.items[*].price", "kind": "value_changed", "count": 2, "severity": "medium"}
    ]
    assert items["severity"] == "medium" and by_name[USERS]["severity"] is None
    assert by_name[USERS]["passed"] is True
    assert by_name[USERS]["fields"] == []
    assert (by_name[ORDERS]["errors"], by_name[ORDERS]["passed"]) == (1, False)
    assert document["endpoints"][0]["endpoint"] == ORDERS  # failing first


def test_errors_pass_when_allowed(db: Database) -> None:
    store_run(db, "ci-1", mixed_run(), {ITEMS: 0.1, "*": 0.0})
    assert summarize_run(db, "ci-1", GatePolicy(allow_errors=True)).passed


@pytest.mark.parametrize(("same", "passed"), [(19, True), (1, False)])
def test_the_endpoint_threshold_decides(db: Database, same: int, passed: bool) -> None:
    results = [result(ITEMS, DIFFERS, "$.a"), *[result(ITEMS) for _ in range(same)]]
    store_run(db, "ci-1", results, {ITEMS: 0.1, "*": 0.0})
    gate = summarize_run(db, "ci-1", GatePolicy())
    assert gate.passed is passed
    assert gate.endpoints[0].max_diff_rate == 0.1


def test_without_thresholds_any_difference_fails(db: Database) -> None:
    results = [result(ITEMS, DIFFERS, "$.a"), *[result(ITEMS) for _ in range(999)]]
    store_run(db, "ci-1", results)
    gate = summarize_run(db, "ci-1", GatePolicy())
    assert not gate.passed
    assert gate.endpoints[0].max_diff_rate == 0.0


def test_the_flag_applies_where_the_rules_set_nothing(db: Database) -> None:
    results = [
        *[result(ITEMS, DIFFERS, "$.a") for _ in range(2)],
        *[result(ITEMS) for _ in range(18)],
        *[result(USERS, DIFFERS, "$.b") for _ in range(2)],
        *[result(USERS) for _ in range(18)],
    ]
    store_run(db, "ci-1", results, {ITEMS: 0.0, "*": 0.0})
    gate = summarize_run(db, "ci-1", GatePolicy(max_diff_rate=0.5))
    by_name = {e.endpoint: e for e in gate.endpoints}
    assert (by_name[ITEMS].passed, by_name[ITEMS].max_diff_rate) == (False, 0.0)
    assert (by_name[USERS].passed, by_name[USERS].max_diff_rate) == (True, 0.5)


def test_given_rules_replace_the_stored_thresholds(db: Database) -> None:
    results = [result(ITEMS, DIFFERS, "$.a"), result(ITEMS)]
    store_run(db, "ci-1", results, {ITEMS: 0.0, "*": 0.0})
    assert not summarize_run(db, "ci-1", GatePolicy()).passed
    assert summarize_run(db, "ci-1", GatePolicy({ITEMS: 0.5, "*": 0.0})).passed


def test_the_latest_run_is_the_default(db: Database) -> None:
    store_run(db, "old", [result(ITEMS, DIFFERS, "$.a")])
    store_run(db, "new", [result(ITEMS)])
    gate = summarize_run(db, None, GatePolicy())
    assert (gate.run, gate.passed) == ("new", True)
    assert summarize_run(db, "old", GatePolicy()).run == "old"


def test_an_unknown_run_is_an_input_error(db: Database) -> None:
    store_run(db, "ci-1", [result(ITEMS)])
    with pytest.raises(InputError, match="no such run"):
        summarize_run(db, "ci-2", GatePolicy())


def test_only_the_chosen_run_counts(db: Database) -> None:
    store_run(db, "a", [result(ITEMS, DIFFERS, "$.x"), result(ORDERS, ERROR, error="boom")])
    store_run(db, "b", [result(ITEMS), result(ITEMS, SKIPPED)])
    gate = summarize_run(db, "b", GatePolicy())
    assert gate.passed
    assert (gate.exchanges, gate.same, gate.skipped) == (2, 1, 1)
    assert [e.endpoint for e in gate.endpoints] == [ITEMS]
    assert gate.endpoints[0].fields == []


def test_an_interrupted_run_fails(db: Database) -> None:
    store_run(db, "nightly", [result(ITEMS) for _ in range(3)], status=None)
    gate = summarize_run(db, "nightly", GatePolicy())
    assert not gate.passed
    assert gate.exchanges == 3  # what was flushed before the interruption
    assert gate.status == "running"
    assert gate.reasons == ["the run is running, not finished"]


def test_a_run_stopped_by_ctrl_c_fails(db: Database) -> None:
    store_run(db, "nightly", [result(ITEMS)], status="interrupted")
    gate = summarize_run(db, "nightly", GatePolicy())
    assert not gate.passed
    assert "the run is interrupted, not finished" in format_gate(gate)


def test_an_empty_run_fails(db: Database) -> None:
    store_run(db, "empty", [])
    gate = summarize_run(db, "empty", GatePolicy())
    assert not gate.passed
    assert gate.reasons == ["the run has no exchanges"]
    assert "the run has no exchanges" in format_gate(gate)


def test_assertion_failures_and_errors_are_summarised(db: Database) -> None:
    failing = (AssertionResult(EMAIL, False, "$.email is missing"),)
    store_run(
        db,
        "ci-1",
        [
            result(USERS, FAILED, assertions=failing),
            result(USERS, FAILED, assertions=failing),
            result(ORDERS, ERROR, error="connection refused"),
        ],
    )
    gate = summarize_run(db, "ci-1", GatePolicy())
    by_name = {e.endpoint: e for e in gate.endpoints}
    assert by_name[USERS].assertion_failures == [
        {"assertion": EMAIL.describe(), "rule": "rules/users.yaml:7", "count": 2}
    ]
    assert by_name[ORDERS].error_reasons == [{"reason": "connection refused", "count": 1}]
    text = format_gate(gate)
    assert "connection refused  x1" in text
    assert f"{EMAIL.describe()} (rules/users.yaml:7)  x2" in text


def test_unreadable_records_are_counted(db: Database) -> None:
    writer = store_run(db, "ci-1", [result(ITEMS)], status=None)
    writer.add_problem(GorProblem("a.gor", 77, "truncated record"))
    writer.finish("finished", {})
    gate = summarize_run(db, "ci-1", GatePolicy())
    assert gate.unreadable == 1
    assert "unreadable records 1" in format_gate(gate)


# --- text -------------------------------------------------------------------------------------


def endpoint_line(text: str, endpoint: str) -> str:
    [line] = [line for line in text.splitlines() if f" {endpoint} " in line]
    return line


def test_the_text_marks_each_endpoint(db: Database) -> None:
    store_run(db, "ci-1", mixed_run(), {ITEMS: 0.1, "*": 0.0})
    text = format_gate(summarize_run(db, "ci-1", GatePolicy()))
    assert text.splitlines()[0].startswith("run ci-1: FAILED")
    assert "27 exchanges" in text.splitlines()[0]
    assert endpoint_line(text, ITEMS).split()[0] == "PASS"
    assert endpoint_line(text, USERS).split()[0] == "PASS"
    assert endpoint_line(text, ORDERS).split()[0] == "FAIL"
    assert "$.items[*].price  x2" in text
    assert "timed out after 5s  x1" in text


def test_the_text_of_a_passing_run(db: Database) -> None:
    store_run(db, "ci-1", [result(ITEMS), result(USERS)])
    text = format_gate(summarize_run(db, "ci-1", GatePolicy()))
    assert text.splitlines()[0].startswith("run ci-1: PASSED")
    assert "FAIL" not in text
    assert "reason" not in text


def test_the_text_shows_the_top_fields_most_frequent_first(db: Database) -> None:
    paths = [f"$.f{n}" for n in range(TOP_FIELDS + 2)]
    # field n differs in n + 1 exchanges, so the last ones are the most frequent
    results = [result(ITEMS, DIFFERS, *paths[n:]) for n in range(len(paths))]
    store_run(db, "ci-1", results)
    text = format_gate(summarize_run(db, "ci-1", GatePolicy()))
    shown = [line.split()[1] for line in text.splitlines() if "value_changed" in line]
    assert shown == list(reversed(paths))[:TOP_FIELDS]
    assert f"$.f{len(paths) - 1}  x{len(paths)}" in text
    assert "$.f0 " not in text


def test_format_gate_of_a_constructed_result() -> None:
    empty = GateResult(
        "x", False, "finished", 0, 0, 0, 0, 0, 0, 0, ["the run has no exchanges"], []
    )
    assert format_gate(empty).splitlines() == [
        "run x: FAILED — 0 exchanges: same 0, differs 0, failed 0, errors 0, skipped 0",
        "  reason: the run has no exchanges",
    ]


def test_a_live_runs_capture_losses_reach_the_gate_json_and_its_text(db: Database) -> None:
    writer = RunWriter(db, "live", {})
    writer.add(result(ITEMS))
    capture = {
        "kernel_dropped": 12,
        "undelivered": 0,
        "requests_without_response": 2,
        "responses_without_request": 1,
        "incomplete_requests": 0,
        "incomplete_responses": 3,
        "holes": 4,
        "packets": 900,
        "lost": 6,
    }
    traffic = {"captured": 40, "shed": 5, "unreadable": 0, "unanswered": 0}
    writer.finish("finished", {**traffic, "capture": capture, "lost": 11})
    gate = summarize_run(db, "live", GatePolicy(max_lost=10))
    assert gate.to_json()["capture"] == {
        "packets_dropped": 12,
        "packets_not_delivered": 0,
        "requests_without_response": 2,
        "responses_without_request": 1,
        "incomplete_requests": 0,
        "incomplete_responses": 3,
        "holes_skipped": 4,
        "shed": 5,
        "unreadable": 0,
        "unanswered": 0,
    }
    assert gate.lost == 11 and not gate.passed
    text = format_gate(gate)
    assert "the capture lost 11 exchange(s): packets dropped 12, requests without" in text
    assert "more than --max-lost 10" in text


def test_a_replay_of_files_has_no_capture_losses(db: Database) -> None:
    store_run(db, "files", [result(ITEMS)])
    gate = summarize_run(db, "files", GatePolicy())
    assert gate.capture == {} and gate.lost == 0
    assert "capture" not in format_gate(gate)


def test_fail_on_counts_only_differences_of_that_severity(db: Database) -> None:
    def differing(kind: str, path: str) -> ExchangeResult:
        comparison = Comparison(DIFFERS, (Difference(path, kind, 1, None),))
        return ExchangeResult(make_exchange(), ITEMS, comparison)

    results = [
        differing("value_changed", "$.price"),
        differing("added", "$.new"),
        differing("missing", "$.email"),
        differing("header_changed", "headers.Content-Type"),
        *[result(ITEMS) for _ in range(6)],
    ]
    store_run(db, "sev", results, {"*": 0.25})
    rates = {
        level: summarize_run(db, "sev", GatePolicy(fail_on=level)).endpoints[0].diff_rate
        for level in ("low", "medium", "high")
    }
    assert rates == {"low": 0.4, "medium": 0.3, "high": 0.2}
    high = summarize_run(db, "sev", GatePolicy(fail_on="high"))
    low = summarize_run(db, "sev", GatePolicy())
    assert high.passed and not low.passed
    assert low.endpoints[0].reasons == ["diff rate 40.00% > 25.00%"]
    assert high.endpoints[0].severity == "high"
