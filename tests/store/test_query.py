"""Read-side queries over runs written by RunWriter into a real SQLite file."""

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
from shadowdiff.gorfile import GorProblem
from shadowdiff.rules.model import Assertion
from shadowdiff.store import ExchangeResult, RunWriter
from shadowdiff.store.query import (
    assertion_failures,
    error_reasons,
    field_counts,
    find_run,
    verdict_counts,
)
from shadowdiff.testing import make_exchange

ITEMS, USERS = "GET /api/items", "GET /api/users/{id}"


def result(
    endpoint: str,
    verdict: str = SAME,
    *differences: Difference,
    error: str | None = None,
    assertions: tuple[AssertionResult, ...] = (),
) -> ExchangeResult:
    return ExchangeResult(
        make_exchange(), endpoint, Comparison(verdict, differences, assertions, error)
    )


def changed(path: str, kind: str = "value_changed") -> Difference:
    return Difference(path, kind, 1, 2)


def write_run(db: Database, name: str, *results: ExchangeResult, status: str = "finished") -> int:
    writer = RunWriter(db, name, {"source": json.dumps(["a.gor"]), "target": "http://staging"})
    for item in results:
        writer.add(item)
    if status == "running":
        writer.flush()
    else:
        writer.finish(status, {"requests": len(results)})
    return writer.run_id


def test_find_run_by_name(db: Database) -> None:
    run_id = write_run(db, "first", result(ITEMS))
    write_run(db, "second", result(ITEMS))
    run = find_run(db, "first")
    assert (run.id, run.name, run.status) == (run_id, "first", "finished")
    assert run.source == ["a.gor"]
    assert run.target == "http://staging"
    assert run.baseline is None
    assert run.traffic == {"requests": 1}
    assert run.thresholds == {}
    assert run.finished_at is not None
    assert run.problems == 0


def test_find_run_without_a_name_gives_the_latest(db: Database) -> None:
    write_run(db, "zzz-old", result(ITEMS))
    latest = write_run(db, "aaa-new", result(ITEMS), status="running")
    run = find_run(db, None)
    assert (run.id, run.name, run.status, run.finished_at) == (latest, "aaa-new", "running", None)
    assert run.traffic == {}


def test_find_run_parses_the_stored_thresholds(db: Database) -> None:
    thresholds = {ITEMS: 0.1, "*": 0.0}
    RunWriter(db, "ci", {"thresholds": json.dumps(thresholds)}).finish("finished", {})
    assert find_run(db, "ci").thresholds == thresholds


def test_find_run_counts_problems_of_that_run_only(db: Database) -> None:
    first = RunWriter(db, "first", {})
    first.add_problem(GorProblem("a.gor", 10, "truncated record"))
    first.add_problem(GorProblem("a.gor", 99, "bad header"))
    first.finish("finished", {})
    RunWriter(db, "second", {}).finish("finished", {})
    assert find_run(db, "first").problems == 2
    assert find_run(db, "second").problems == 0


def test_find_run_refuses_an_unknown_name(db: Database) -> None:
    write_run(db, "first", result(ITEMS))
    with pytest.raises(InputError, match="--run nope: no such run"):
        find_run(db, "nope")


def test_find_run_in_an_empty_db(db: Database) -> None:
    with pytest.raises(InputError, match="no runs"):
        find_run(db, None)


def test_verdict_counts_per_endpoint(db: Database) -> None:
    run_id = write_run(
        db,
        "ci",
        result(ITEMS),
        result(ITEMS),
        result(ITEMS, DIFFERS, changed("$.a")),
        result(ITEMS, SKIPPED),
        result(USERS, ERROR, error="refused"),
        result(USERS, FAILED),
    )
    write_run(db, "other", result(ITEMS, DIFFERS, changed("$.a")), result("GET /elsewhere"))
    assert verdict_counts(db, run_id) == {
        ITEMS: {SAME: 2, DIFFERS: 1, SKIPPED: 1},
        USERS: {ERROR: 1, FAILED: 1},
    }


def test_field_counts_fold_indexes_and_count_exchanges(db: Database) -> None:
    run_id = write_run(
        db,
        "ci",
        result(ITEMS, DIFFERS, changed("$.items[0].price"), changed("$.items[2].price")),
        result(ITEMS, DIFFERS, changed("$.items[1].price")),
    )
    assert field_counts(db, run_id) == {
        ITEMS: [
            {"path": "$.items[*].price", "kind": "value_changed", "count": 2, "severity": "medium"}
        ]
    }


def test_field_counts_keep_kinds_and_endpoints_apart(db: Database) -> None:
    run_id = write_run(
        db,
        "ci",
        result(ITEMS, DIFFERS, changed("$.b"), changed("$.items[0]", "missing")),
        result(ITEMS, DIFFERS, changed("$.b"), changed("$.items[4].tags[2]", "added")),
        result(ITEMS, DIFFERS, changed("$.b", "type_changed"), changed("$.a")),
        result(USERS, DIFFERS, changed("$.b")),
        result(USERS, SAME),
    )
    write_run(db, "other", result(ITEMS, DIFFERS, changed("$.b"), changed("$.z")))
    assert field_counts(db, run_id) == {
        ITEMS: [
            {"path": "$.b", "kind": "value_changed", "count": 2, "severity": "medium"},
            {"path": "$.a", "kind": "value_changed", "count": 1, "severity": "medium"},
            {"path": "$.b", "kind": "type_changed", "count": 1, "severity": "high"},
            {"path": "$.items[*]", "kind": "missing", "count": 1, "severity": "high"},
            {"path": "$.items[*].tags[*]", "kind": "added", "count": 1, "severity": "low"},
        ],
        USERS: [{"path": "$.b", "kind": "value_changed", "count": 1, "severity": "medium"}],
    }


def test_field_counts_fold_keyed_elements(db: Database) -> None:
    run_id = write_run(
        db,
        "ci",
        result(ITEMS, DIFFERS, changed("$.items[id=7].total")),
        result(ITEMS, DIFFERS, changed("$.items[id=9].total")),
    )
    assert field_counts(db, run_id)[ITEMS] == [
        {"path": "$.items[*].total", "kind": "value_changed", "count": 2, "severity": "medium"}
    ]


def test_error_reasons_grouped_most_frequent_first(db: Database) -> None:
    run_id = write_run(
        db,
        "ci",
        result(ITEMS, ERROR, error="timed out"),
        result(ITEMS, ERROR, error="refused"),
        result(ITEMS, ERROR, error="refused"),
        result(ITEMS, DIFFERS, changed("$.a"), error=None),
        result(USERS, ERROR, error="timed out"),
    )
    assert error_reasons(db, run_id) == {
        ITEMS: [{"reason": "refused", "count": 2}, {"reason": "timed out", "count": 1}],
        USERS: [{"reason": "timed out", "count": 1}],
    }


def test_assertion_failures_grouped_per_assertion_and_rule(db: Database) -> None:
    email = Assertion("exists", True, "$.email", where="rules/users.yaml:7")
    roles = Assertion("min_length", 1, "$.roles", where="rules/users.yaml:8")
    status = Assertion("status", 200, where="rules/users.yaml:9")

    def failing(*checks: Assertion) -> tuple[AssertionResult, ...]:
        return (*(AssertionResult(c, False, "no") for c in checks), AssertionResult(status, True))

    run_id = write_run(
        db,
        "ci",
        result(USERS, FAILED, assertions=failing(email, roles)),
        result(USERS, FAILED, assertions=failing(email)),
        result(USERS, SAME, assertions=failing()),
    )
    assert assertion_failures(db, run_id) == {
        USERS: [
            {"assertion": email.describe(), "rule": "rules/users.yaml:7", "count": 2},
            {"assertion": roles.describe(), "rule": "rules/users.yaml:8", "count": 1},
        ]
    }


def test_a_run_without_exchanges_has_empty_aggregates(db: Database) -> None:
    run_id = write_run(db, "empty")
    assert verdict_counts(db, run_id) == {}
    assert field_counts(db, run_id) == {}
    assert error_reasons(db, run_id) == {}
    assert assertion_failures(db, run_id) == {}


def test_ties_come_out_in_a_stable_order(db: Database) -> None:
    run_id = write_run(
        db,
        "ci",
        result(ITEMS, DIFFERS, changed("$.b", "value_changed"), changed("$.b", "added")),
        result(ITEMS, ERROR, error="timed out"),
        result(ITEMS, ERROR, error="refused"),
    )
    assert [f["kind"] for f in field_counts(db, run_id)[ITEMS]] == ["added", "value_changed"]
    assert [r["reason"] for r in error_reasons(db, run_id)[ITEMS]] == ["refused", "timed out"]
