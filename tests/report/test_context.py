"""build_report and example_lines over runs in real SQLite stores: the values the report
template and the CI outputs receive."""

from __future__ import annotations

import json

import pytest
from sqlite_utils import Database

from shadowdiff.compare.model import Difference
from shadowdiff.errors import InputError
from shadowdiff.gate import GatePolicy
from shadowdiff.report.context import (
    FIELDS_WITH_EXAMPLES,
    MAX_DIFFERENCES,
    SHOWN_VALUE,
    ReportContext,
    build_report,
    example_lines,
)
from shadowdiff.report.queries import EXAMPLES_PER_FIELD, Percentiles
from shadowdiff.summary import summarize_run
from shadowdiff.testing import make_response
from tests.report import failed_assertion, result, store_run

USERS = "GET /api/users/{id}"
ORDERS = "GET /api/orders/{id}"
SEARCH = "GET /api/search"
HEALTH = "GET /api/health"


def name_changed(i: int, old: str = "ann", new: str = "bob") -> Difference:
    return Difference("$.name", "value_changed", old, new)


def mixed_run(db: Database, name: str = "nightly") -> None:
    """users: 10 exchanges, 4 differ on $.name (one also on $.tags[2]), 1 fails an assertion;
    orders: 2 timeouts and 1 refused; search: 1 timeout; health: all the same."""
    users = []
    for i in range(10):
        base = make_response(json={"id": i, "name": "ann", "tags": ["a", "b", "c"]})
        cand = make_response(json={"id": i, "name": "bob", "tags": ["a", "b"]})
        if i < 4:
            diffs = [name_changed(i)] + (
                [Difference("$.tags[2]", "missing", "c")] if i == 0 else []
            )
            users.append(result(USERS, f"/api/users/{i}", base, cand, diffs, latency=10.0 + i))
        elif i == 4:
            users.append(
                result(USERS, f"/api/users/{i}", base, base, assertions=[failed_assertion()])
            )
        else:
            users.append(result(USERS, f"/api/users/{i}", base, base, latency=10.0 + i))
    orders = [
        result(ORDERS, "/api/orders/7", error="timeout"),
        result(ORDERS, "/api/orders/8", error="timeout"),
        result(ORDERS, "/api/orders/9", error="connection refused"),
    ]
    search = [result(SEARCH, "/api/search?q=a", error="timeout")]
    health = [result(HEALTH, "/api/health") for _ in range(3)]
    store_run(db, name, users + orders + search + health, thresholds={"*": 0.0})


def test_run_and_gate_values(db: Database) -> None:
    mixed_run(db)
    context = build_report(db, None, GatePolicy())
    assert context.run.name == "nightly"
    assert context.run.source == ["traffic.gor"]
    assert context.run.target == "http://candidate.test:8080"
    assert context.run.status == "finished"
    gate = context.gate
    assert (gate.passed, gate.exchanges, gate.same, gate.differs, gate.failed, gate.errors) == (
        False,
        17,
        8,
        4,
        1,
        4,
    )
    assert [e.gate.endpoint for e in context.endpoints] == [e.endpoint for e in gate.endpoints]
    anchors = [e.anchor for e in context.endpoints]
    assert len(set(anchors)) == len(anchors) == 4
    assert context.version and context.generated_at.endswith("+00:00")


def test_fields_with_counts_shares_and_examples(db: Database) -> None:
    mixed_run(db)
    context = build_report(db, "nightly", GatePolicy())
    users = next(e for e in context.endpoints if e.gate.endpoint == USERS)
    assert [(f.path, f.kind, f.count, f.share) for f in users.fields] == [
        ("$.name", "value_changed", 4, 0.4),
        ("$.tags[*]", "missing", 1, 0.1),
    ]
    shown = {x.anchor: x for x in users.examples}
    for f in users.fields:
        assert f.examples and set(f.examples) <= set(shown)
    assert len(users.examples) == 4
    assert [x.id for x in users.examples] == sorted(x.id for x in users.examples)
    first = shown[users.fields[1].examples[0]]
    assert first.request_line == "GET /api/users/0"
    assert first.anchor == f"exchange-{first.id}"
    assert first.verdict == "differs" and first.error is None
    assert first.request_head[0] == "GET /api/users/0 HTTP/1.1"
    assert [(d.path, d.kind, d.baseline, d.candidate) for d in first.differences] == [
        ("$.name", "value_changed", '"ann"', '"bob"'),
        ("$.tags[2]", "missing", '"c"', "null"),
    ]
    assert first.difference_count == 2
    assert [line.text.strip() for line in first.baseline.body if line.marked] == [
        '"name": "ann",',
        '"c"',
    ]
    assert [line.text.strip() for line in first.candidate.body if line.marked] == ['"name": "bob",']
    assert users.candidate_latency == Percentiles(15.0, 19.0)  # 9 values: 10-13, 15-19
    health = next(e for e in context.endpoints if e.gate.endpoint == HEALTH)
    assert (health.fields, health.examples, health.gate.passed) == ([], [], True)
    assert health.candidate_latency == Percentiles()


def test_errors_are_grouped_by_reason_across_endpoints(db: Database) -> None:
    mixed_run(db)
    errors = build_report(db, None, GatePolicy()).errors
    assert [(g.reason, g.count, g.endpoints) for g in errors] == [
        ("timeout", 3, [ORDERS, SEARCH]),
        ("connection refused", 1, [ORDERS]),
    ]
    assert errors[0].example == "GET /api/orders/7"
    assert errors[1].example == "GET /api/orders/9"


def test_assertion_failures_name_the_rule_file_and_line(db: Database) -> None:
    mixed_run(db)
    assert build_report(db, None, GatePolicy()).assertion_failures == [
        {
            "endpoint": USERS,
            "assertion": "$.email exists: True",
            "rule": "rules/users.yaml:12",
            "count": 1,
        }
    ]


def test_policy_thresholds_decide_the_gate(db: Database) -> None:
    store_run(db, "r", [result(differences=[name_changed(0)]), result()])
    assert not build_report(db, "r", GatePolicy()).gate.passed
    context = build_report(db, "r", GatePolicy({USERS: 0.5}))
    assert context.gate.passed and context.endpoints[0].gate.max_diff_rate == 0.5


def test_examples_are_sampled_and_bounded(db: Database) -> None:
    fields = FIELDS_WITH_EXAMPLES + 2
    results = [
        result(
            target=f"/api/users/{i}",
            differences=[Difference(f"$.f{k:02}", "added", None, k) for k in range(fields)],
        )
        for i in range(40)
    ]
    store_run(db, "r", results)
    (users,) = build_report(db, "r", GatePolicy()).endpoints
    assert len(users.fields) == fields
    with_examples = [f for f in users.fields if f.examples]
    assert len(with_examples) == FIELDS_WITH_EXAMPLES
    assert all(len(f.examples) == EXAMPLES_PER_FIELD for f in with_examples)
    assert len(users.examples) <= FIELDS_WITH_EXAMPLES * EXAMPLES_PER_FIELD


def test_an_example_shows_a_bounded_number_of_differences_and_short_values(db: Database) -> None:
    many = [Difference(f"$.items[{i}].p", "value_changed", i, "x" * 1000) for i in range(500)]
    store_run(db, "r", [result(differences=many)])
    (example,) = build_report(db, "r", GatePolicy()).endpoints[0].examples
    assert len(example.differences) == MAX_DIFFERENCES
    assert example.difference_count == 500
    assert len(example.differences[0].candidate) == SHOWN_VALUE + 1
    assert example.differences[0].candidate.endswith("…")


def test_an_error_without_a_response_has_no_examples(db: Database) -> None:
    store_run(db, "r", [result(error="timeout")])
    (endpoint,) = build_report(db, "r", GatePolicy()).endpoints
    assert endpoint.examples == [] and not endpoint.gate.passed


def test_named_latest_and_unknown_runs(db: Database) -> None:
    store_run(db, "first", [result()])
    store_run(db, "second", [result(differences=[name_changed(0)])])
    assert build_report(db, None, GatePolicy()).run.name == "second"
    assert build_report(db, "first", GatePolicy()).gate.passed
    with pytest.raises(InputError, match="--run nope: no such run"):
        build_report(db, "nope", GatePolicy())


def test_an_empty_store_has_nothing_to_report(db: Database) -> None:
    with pytest.raises(InputError, match="no runs"):
        build_report(db, None, GatePolicy())


def test_an_interrupted_run_without_exchanges(db: Database) -> None:
    store_run(db, "r", [], status="interrupted")
    context = build_report(db, "r", GatePolicy())
    assert isinstance(context, ReportContext)
    assert context.endpoints == [] and not context.gate.passed


# example_lines (JUnit, Markdown)


def test_example_lines_say_why_each_failing_endpoint_fails(db: Database) -> None:
    mixed_run(db)
    gate = summarize_run(db, None, GatePolicy())
    lines = example_lines(db, None, gate)
    assert set(lines) == {USERS, ORDERS, SEARCH}
    assert lines[USERS].startswith("GET /api/users/")
    assert lines[USERS].endswith(': $.name value_changed, baseline "ann", candidate "bob"')
    assert lines[ORDERS] == "error: timeout"
    assert lines[SEARCH] == "error: timeout"


def test_example_line_of_an_assertion_failure(db: Database) -> None:
    store_run(db, "r", [result(assertions=[failed_assertion("rules/x.yaml:3")])])
    gate = summarize_run(db, "r", GatePolicy())
    assert example_lines(db, "r", gate) == {
        USERS: "assertion $.email exists: True failed (rules/x.yaml:3)"
    }


def test_example_line_shows_the_reason_not_a_tolerated_difference(db: Database) -> None:
    results = [result(target="/api/users/1", differences=[name_changed(0)])]
    results += [result(target=f"/api/users/{i}") for i in range(2, 10)]
    results += [result(target="/api/users/10", error="timeout")]
    store_run(db, "r", results)
    gate = summarize_run(db, "r", GatePolicy({USERS: 0.5}))
    assert example_lines(db, "r", gate) == {USERS: "error: timeout"}


def test_example_line_shows_a_difference_in_the_top_field(db: Database) -> None:
    results = [
        result(
            target=f"/api/users/{i}",
            differences=[
                Difference("$.a", "added", None, 1),
                Difference("$.b", "value_changed", 1, 2),
            ]
            if i == 0
            else [Difference("$.b", "value_changed", 1, 2)],
        )
        for i in range(3)
    ]
    store_run(db, "r", results)
    gate = summarize_run(db, "r", GatePolicy())
    assert gate.endpoints[0].fields[0]["path"] == "$.b"
    assert ": $.b value_changed, baseline 1, candidate 2" in example_lines(db, "r", gate)[USERS]


def test_example_values_are_json_text(db: Database) -> None:
    value = {"nested": ["ü", 1.5, None]}
    store_run(db, "r", [result(differences=[Difference("$.v", "value_changed", value, None)])])
    gate = summarize_run(db, "r", GatePolicy())
    line = example_lines(db, "r", gate)[USERS]
    assert line.endswith(f"baseline {json.dumps(value, ensure_ascii=False)}, candidate null")
