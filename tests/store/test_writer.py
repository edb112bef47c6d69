"""RunWriter on real SQLite files: rows, batches, interruptions, several writers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlite_utils import Database

from shadowdiff.compare.model import (
    DIFFERS,
    ERROR,
    FAILED,
    SAME,
    AssertionResult,
    Comparison,
    Difference,
)
from shadowdiff.exchange import Request, Response
from shadowdiff.gorfile import GorProblem
from shadowdiff.rules.model import Assertion
from shadowdiff.store import ExchangeResult, RunWriter, open_store
from shadowdiff.store import writer as writer_module
from shadowdiff.testing import make_exchange, make_request, make_response

ENDPOINT = "GET /api/items"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "shadowdiff.db"


@pytest.fixture
def db(path: Path) -> Iterator[Database]:
    db = open_store(path)
    yield db
    db.close()


def result(
    verdict: str = SAME,
    differences: tuple[Difference, ...] = (),
    assertions: tuple[AssertionResult, ...] = (),
    error: str | None = None,
    endpoint: str = ENDPOINT,
    **kwargs: Any,
) -> ExchangeResult:
    exchange = make_exchange(
        make_request(target="/api/items?page=1"),
        make_response(json={"items": [{"price": 1}]}),
        timestamp=1_700_000_000_000_000_000,
        baseline_latency=2_500_000,
    )
    return ExchangeResult(
        exchange,
        endpoint,
        Comparison(verdict, differences, assertions, error),
        candidate=make_response(json={"items": [{"price": 2}]}),
        candidate_latency=3.25,
        **kwargs,
    )


def price_change(index: int) -> Difference:
    return Difference(f"$.items[{index}].price", "value_changed", 1, 2)


def rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """What another connection (another process) sees."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_a_finished_run(db: Database) -> None:
    writer = RunWriter(db, "ci-1", {"command": "replay", "target": "http://staging"})
    writer.add(result())
    writer.finish("finished", {"requests": 1, "unpaired": 0})
    [run] = db.table("runs").rows
    assert run["id"] == writer.run_id
    assert run["name"] == "ci-1"
    assert run["command"] == "replay"
    assert run["target"] == "http://staging"
    assert run["status"] == "finished"
    assert run["started_at"] and run["finished_at"]
    assert json.loads(run["traffic"]) == {"requests": 1, "unpaired": 0}


def test_an_exchange_row_keeps_the_messages(db: Database) -> None:
    writer = RunWriter(db, "ci-1", {})
    added = result(DIFFERS, (price_change(0),))
    writer.add(added)
    writer.finish("finished", {})
    [row] = db.table("exchanges").rows
    assert row["run_id"] == writer.run_id
    assert row["seq"] == 1
    assert row["gor_id"] == added.exchange.id
    assert row["endpoint"] == ENDPOINT
    assert (row["method"], row["target"]) == ("GET", "/api/items?page=1")
    assert row["recorded_at"] == 1_700_000_000_000_000_000
    assert Request.parse(row["request"]) == added.exchange.request
    assert Response.parse(row["baseline"]).json() == {"items": [{"price": 1}]}
    assert Response.parse(row["candidate"]).json() == {"items": [{"price": 2}]}
    assert (row["baseline_status"], row["candidate_status"]) == (200, 200)
    assert row["baseline_latency_ms"] == 2.5  # from the recorded ns
    assert row["candidate_latency_ms"] == 3.25
    assert (row["verdict"], row["error"]) == (DIFFERS, None)
    assert (row["differences"], row["assertions_failed"]) == (1, 0)


def test_a_live_baseline_replaces_the_recorded_one(db: Database) -> None:
    writer = RunWriter(db, "ci-1", {})
    live = make_response(status=404, json={"error": "gone"})
    writer.add(result(baseline=live, baseline_latency=7.0))
    writer.finish("finished", {})
    [row] = db.table("exchanges").rows
    assert row["baseline_status"] == 404
    assert Response.parse(row["baseline"]).json() == {"error": "gone"}
    assert row["baseline_latency_ms"] == 7.0


def test_an_error_without_responses(db: Database) -> None:
    writer = RunWriter(db, "ci-1", {})
    exchange = make_exchange()
    writer.add(ExchangeResult(exchange, "GET /", Comparison(ERROR, error="timed out after 5s")))
    writer.finish("finished", {})
    [row] = db.table("exchanges").rows
    assert (row["verdict"], row["error"]) == (ERROR, "timed out after 5s")
    assert row["baseline"] is None and row["candidate"] is None
    assert row["baseline_status"] is None and row["candidate_status"] is None
    assert row["baseline_latency_ms"] is None and row["candidate_latency_ms"] is None


def test_differences_are_stored_with_folded_fields(db: Database) -> None:
    writer = RunWriter(db, "ci-1", {})
    writer.add(result(DIFFERS, (price_change(3), Difference("$.note", "added", None, "hé"))))
    writer.finish("finished", {})
    [exchange_id] = [r["id"] for r in db.table("exchanges").rows]
    stored = list(db.table("differences").rows_where(order_by="id"))
    assert [(d["path"], d["field"], d["kind"]) for d in stored] == [
        ("$.items[3].price", "$.items[*].price", "value_changed"),
        ("$.note", "$.note", "added"),
    ]
    assert {d["exchange_id"] for d in stored} == {exchange_id}
    assert {d["run_id"] for d in stored} == {writer.run_id}
    assert {d["endpoint"] for d in stored} == {ENDPOINT}
    assert [(json.loads(d["baseline"]), json.loads(d["candidate"])) for d in stored] == [
        (1, 2),
        (None, "hé"),
    ]


def test_failed_assertions_are_stored(db: Database) -> None:
    email = Assertion("exists", True, "$.email", where="rules/users.yaml:7")
    status = Assertion("status", 200, where="rules/users.yaml:9")
    checks = (
        AssertionResult(email, False, "$.email is missing"),
        AssertionResult(status, True),
    )
    writer = RunWriter(db, "ci-1", {})
    writer.add(result(FAILED, assertions=checks))
    writer.finish("finished", {})
    [row] = db.table("exchanges").rows
    assert row["assertions_failed"] == 1
    [stored] = db.table("assertion_results").rows
    assert stored["exchange_id"] == row["id"]
    assert stored["assertion"] == email.describe()
    assert stored["rule"] == "rules/users.yaml:7"
    assert (stored["passed"], stored["message"]) == (0, "$.email is missing")


def test_problems_are_stored_at_once(db: Database, path: Path) -> None:
    writer = RunWriter(db, "ci-1", {})
    writer.add_problem(GorProblem("traffic/a.gor", 1234, "bad header line"))
    assert rows(path, "SELECT run_id, source, offset, message FROM problems") == [
        (writer.run_id, "traffic/a.gor", 1234, "bad header line")
    ]


def test_writes_are_batched(db: Database, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "BATCH", 10)
    writer = RunWriter(db, "ci-1", {})
    for _ in range(9):
        writer.add(result(DIFFERS, (price_change(0),)))
    assert rows(path, "SELECT count(*) FROM exchanges") == [(0,)]
    writer.add(result(DIFFERS, (price_change(0),)))
    assert rows(path, "SELECT count(*) FROM exchanges") == [(10,)]
    assert rows(path, "SELECT count(*) FROM differences") == [(10,)]
    writer.add(result())
    writer.finish("finished", {})
    assert rows(path, "SELECT count(*), max(seq) FROM exchanges") == [(11, 11)]


def test_large_messages_are_flushed_before_the_batch_is_full(
    db: Database, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays bounded with large bodies: a batch also ends at BATCH_BYTES."""
    big = make_response(json={"blob": "x" * 100_000})
    monkeypatch.setattr(writer_module, "BATCH_BYTES", 250_000)
    writer = RunWriter(db, "ci-1", {})
    large = result()
    large = ExchangeResult(large.exchange, large.endpoint, large.comparison, candidate=big)
    writer.add(large)
    assert rows(path, "SELECT count(*) FROM exchanges") == [(0,)]
    writer.add(large)  # two candidates and their small requests and baselines: < 250 KB
    assert rows(path, "SELECT count(*) FROM exchanges") == [(0,)]
    writer.add(large)
    assert rows(path, "SELECT count(*) FROM exchanges") == [(3,)]


def test_flush_with_nothing_pending_is_harmless(db: Database) -> None:
    writer = RunWriter(db, "ci-1", {})
    writer.flush()
    writer.flush()
    assert db.table("exchanges").count == 0


def test_an_interrupted_run_keeps_what_it_flushed(path: Path) -> None:
    db = open_store(path)
    writer = RunWriter(db, "nightly", {})
    for index in range(3):
        writer.add(result(DIFFERS, (price_change(index),)))
    writer.flush()
    writer.add(result())
    writer.add(result())  # never flushed: the process dies here
    db.close()

    db = open_store(path, create=False)
    try:
        [run] = db.table("runs").rows
        assert (run["status"], run["finished_at"]) == ("running", None)
        assert db.table("exchanges").count == 3
        assert db.table("differences").count == 3
        joined = "SELECT count(*) FROM differences d JOIN exchanges e ON e.id = d.exchange_id"
        assert db.execute(joined).fetchone()[0] == 3
    finally:
        db.close()


def test_a_second_writer_continues_the_ids(path: Path) -> None:
    db = open_store(path)
    first = RunWriter(db, "nightly", {})
    for index in range(3):
        first.add(result(DIFFERS, (price_change(index),)))
    first.flush()
    db.close()

    db = open_store(path)
    try:
        second = RunWriter(db, "ci", {})
        for index in range(4):
            second.add(result(DIFFERS, (price_change(10 + index),)))
        second.finish("finished", {})
        ids = [r["id"] for r in db.table("exchanges").rows_where(order_by="id")]
        assert ids == [1, 2, 3, 4, 5, 6, 7]
        seqs = db.execute(
            "SELECT seq FROM exchanges WHERE run_id = ? ORDER BY id", [second.run_id]
        ).fetchall()
        assert [s for (s,) in seqs] == [1, 2, 3, 4]
        assert_differences_point_at_their_exchanges(db)
    finally:
        db.close()


def test_interleaved_writers_do_not_collide(path: Path) -> None:
    """Two writers open at once (say a tee and a CI replay on one file) share the ids."""
    one, two = open_store(path), open_store(path)
    try:
        first, second = RunWriter(one, "tee", {}), RunWriter(two, "ci", {})
        for round_ in range(3):
            first.add(result(DIFFERS, (price_change(round_),), endpoint="GET /tee"))
            first.flush()
            second.add(result(DIFFERS, (price_change(round_),), endpoint="GET /ci"))
            second.add(result(DIFFERS, (price_change(round_),), endpoint="GET /ci"))
            second.flush()
        first.finish("finished", {})
        second.finish("finished", {})
        assert one.table("exchanges").count == 9
        assert_differences_point_at_their_exchanges(one)
        per_run = "SELECT run_id, endpoint, count(*) FROM exchanges GROUP BY 1, 2 ORDER BY 1"
        assert one.execute(per_run).fetchall() == [
            (first.run_id, "GET /tee", 3),
            (second.run_id, "GET /ci", 6),
        ]
    finally:
        one.close()
        two.close()


def assert_differences_point_at_their_exchanges(db: Database) -> None:
    sql = """SELECT count(*) FROM differences d JOIN exchanges e ON e.id = d.exchange_id
             WHERE e.run_id = d.run_id AND e.endpoint = d.endpoint"""
    assert db.execute(sql).fetchone()[0] == db.table("differences").count


def test_the_same_run_name_twice_is_rejected(db: Database) -> None:
    RunWriter(db, "nightly", {}).finish("finished", {})
    with pytest.raises(sqlite3.IntegrityError, match=r"runs\.name"):
        RunWriter(db, "nightly", {})
    assert db.table("runs").count == 1


def test_five_thousand_exchanges_in_one_run(db: Database) -> None:
    writer = RunWriter(db, "big", {})
    cycle = [SAME, DIFFERS, SAME, ERROR, FAILED]
    email = Assertion("exists", True, "$.email")
    for number in range(5000):
        verdict = cycle[number % len(cycle)]
        writer.add(
            result(
                verdict,
                (price_change(number % 7),) if verdict == DIFFERS else (),
                (AssertionResult(email, False, "missing"),) if verdict == FAILED else (),
                "refused" if verdict == ERROR else None,
                endpoint=f"GET /e{number % 3}",
            )
        )
    writer.finish("finished", {"requests": 5000})
    counts = db.execute("SELECT verdict, count(*) FROM exchanges GROUP BY 1").fetchall()
    assert dict(counts) == {SAME: 2000, DIFFERS: 1000, ERROR: 1000, FAILED: 1000}
    assert db.execute("SELECT count(*), max(seq), max(id) FROM exchanges").fetchone() == (
        5000,
        5000,
        5000,
    )
    assert db.table("differences").count == 1000
    assert db.table("assertion_results").count == 1000
    assert_differences_point_at_their_exchanges(db)


def test_a_lone_surrogate_in_a_difference_is_stored_escaped(db: Database) -> None:
    writer = RunWriter(db, "s", {})
    diff = Difference("$.name", "value_changed", "\ud800", "ok")
    writer.add(ExchangeResult(make_exchange(), "GET /", Comparison(DIFFERS, (diff,))))
    writer.finish("finished", {})
    assert db.execute("SELECT baseline FROM differences").fetchone()[0] == '"\\ud800"'


class Level(int):
    """An int subclass: json.dumps writes its int value, not its repr."""

    def __repr__(self) -> str:
        return f"Level({int(self)})"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(exclude_categories=())),  # lone surrogates too
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(JSON_VALUES)
def test_difference_values_are_stored_as_json_dumps_writes_them(value: Any) -> None:
    """The scalar shortcut writes what json.dumps writes, NaN, infinities and surrogates too."""
    expected = json.dumps(value, ensure_ascii=False, default=repr)
    try:
        expected.encode("utf-8")
    except UnicodeEncodeError:
        expected = json.dumps(value, ensure_ascii=True, default=repr)
    assert writer_module._json(value) == expected


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (None, "null"),
        (True, "true"),
        (0, "0"),
        (-0.0, "-0.0"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
        (10**30, str(10**30)),
        ('a "quoted"\n\tline', '"a \\"quoted\\"\\n\\tline"'),
        ("hé 🦊", '"hé 🦊"'),
        (Level(3), "3"),
        ((1, "x"), '[1, "x"]'),
        (set(), '"set()"'),  # not JSON: its repr, as a string
    ],
)
def test_difference_values_as_json(value: Any, stored: str) -> None:
    assert writer_module._json(value) == stored
