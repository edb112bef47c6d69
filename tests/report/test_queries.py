"""The report's SQL, on real SQLite files: percentiles, sampled examples, row loading."""

from __future__ import annotations

import math
import random

import pytest
from sqlite_utils import Database

from shadowdiff.compare.model import Difference
from shadowdiff.report.queries import (
    EXAMPLES_PER_FIELD,
    Percentiles,
    error_examples,
    latency_percentiles,
    load_differences,
    load_exchanges,
    sample_examples,
)
from shadowdiff.store import ExchangeResult
from tests.report import result, store_run

USERS = "GET /api/users/{id}"
ORDERS = "GET /api/orders/{id}"


def nearest_rank(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(percent / 100 * len(ordered)) - 1]


def test_percentiles_are_nearest_rank_per_endpoint(db: Database) -> None:
    rng = random.Random(7)
    sizes = [*range(1, 42), 99, 100, 101, 1000]
    runs: dict[str, list[float]] = {}
    results = []
    for n in sizes:
        endpoint = f"GET /e{n}"
        values = [round(rng.uniform(0, 500), 3) for _ in range(n)]
        runs[endpoint] = values
        results += [result(endpoint, f"/e{n}", latency=v, baseline_latency=v / 2) for v in values]
    run_id = store_run(db, "r", results)
    candidate = latency_percentiles(db, run_id, "candidate_latency_ms")
    baseline = latency_percentiles(db, run_id, "baseline_latency_ms")
    for endpoint, values in runs.items():
        expected = Percentiles(nearest_rank(values, 50), nearest_rank(values, 95))
        assert candidate[endpoint] == expected, endpoint
        halves = [v / 2 for v in values]
        assert baseline[endpoint] == Percentiles(nearest_rank(halves, 50), nearest_rank(halves, 95))


def test_percentiles_of_small_samples(db: Database) -> None:
    values = [30.0, 10.0, 20.0, 40.0]
    run_id = store_run(db, "r", [result(latency=v) for v in values])
    assert latency_percentiles(db, run_id, "candidate_latency_ms") == {
        USERS: Percentiles(20.0, 40.0)
    }


def test_exchanges_without_a_latency_are_left_out(db: Database) -> None:
    results = [result(latency=5.0), result(error="timeout"), result(ORDERS, "/api/orders/1")]
    run_id = store_run(db, "r", results)
    assert latency_percentiles(db, run_id, "candidate_latency_ms") == {USERS: Percentiles(5.0, 5.0)}


def test_percentiles_read_one_run_only(db: Database) -> None:
    store_run(db, "old", [result(latency=1000.0)])
    run_id = store_run(db, "new", [result(latency=1.0)])
    assert latency_percentiles(db, run_id, "candidate_latency_ms")[USERS] == Percentiles(1.0, 1.0)


def test_only_latency_columns_are_accepted(db: Database) -> None:
    with pytest.raises(ValueError, match="not a latency column"):
        latency_percentiles(db, 1, "verdict; DROP TABLE runs")


def differing(count: int, endpoint: str = USERS, path: str = "$.name") -> list[ExchangeResult]:
    return [
        result(endpoint, f"/x/{i}", differences=[Difference(path, "value_changed", 1, 2)])
        for i in range(count)
    ]


def test_sample_examples_takes_up_to_five_per_field_spread_over_the_run(db: Database) -> None:
    store_run(db, "other", differing(30))
    run_id = store_run(db, "r", differing(200) + differing(3, ORDERS, "$.total"))
    samples = sample_examples(db, run_id)
    assert set(samples) == {
        (USERS, "$.name", "value_changed"),
        (ORDERS, "$.total", "value_changed"),
    }
    users = samples[(USERS, "$.name", "value_changed")]
    assert len(users) == EXAMPLES_PER_FIELD == len(set(users))
    ids = [row["id"] for row in db.query("SELECT id FROM exchanges WHERE run_id = ?", [run_id])]
    assert set(users) <= set(ids)
    assert max(users) - min(users) > 50  # not simply the first five
    assert users == sorted(users)
    assert len(samples[(ORDERS, "$.total", "value_changed")]) == 3
    assert sample_examples(db, run_id) == samples  # stable


def test_sample_examples_per_field_and_folded_paths(db: Database) -> None:
    results = [
        result(
            ORDERS,
            f"/api/orders/{i}",
            differences=[
                Difference("$.items[0].price", "value_changed", 1, 2),
                Difference("$.items[1].price", "value_changed", 1, 2),
                Difference("$.items[1].price", "type_changed", 1, "2"),
            ],
        )
        for i in range(4)
    ]
    run_id = store_run(db, "r", results)
    samples = sample_examples(db, run_id, per_field=2)
    # one exchange with two differing prices counts once for the folded field
    assert {k: len(v) for k, v in samples.items()} == {
        (ORDERS, "$.items[*].price", "value_changed"): 2,
        (ORDERS, "$.items[*].price", "type_changed"): 2,
    }


WINDOW_SAMPLE = """
    SELECT endpoint, field, kind, exchange_id FROM (
        SELECT endpoint, field, kind, exchange_id,
               ROW_NUMBER() OVER (PARTITION BY endpoint, field, kind
                                  ORDER BY (exchange_id * 2654435761) % 4294967296) AS rn
        FROM (SELECT DISTINCT endpoint, field, kind, exchange_id
              FROM differences WHERE run_id = ?))
    WHERE rn <= ? ORDER BY exchange_id"""


@pytest.mark.parametrize("per_field", [1, 2, EXAMPLES_PER_FIELD])
def test_sample_examples_are_those_of_one_window_over_the_run(db: Database, per_field: int) -> None:
    """The sample taken group by group is the one a single ROW_NUMBER window over the whole
    run takes (the query it replaced, too slow on big runs)."""
    rng = random.Random(3)
    endpoints, paths = [USERS, ORDERS, "POST /api/cart"], ["$.a", "$.b[0]", "$.b[1]", "$.c.d"]
    results = [
        result(
            rng.choice(endpoints),
            f"/x/{i}",
            differences=[
                Difference(p, rng.choice(["value_changed", "missing"]), 1, 2)
                for p in rng.sample(paths, rng.randint(1, 3))
            ],
        )
        for i in range(400)
    ]
    store_run(db, "other", results[:50])
    run_id = store_run(db, "r", results)
    expected: dict[tuple[str, str, str], list[int]] = {}
    for endpoint, field, kind, exchange_id in db.execute(WINDOW_SAMPLE, [run_id, per_field]):
        expected.setdefault((endpoint, field, kind), []).append(exchange_id)
    assert len(expected) > 10
    assert sample_examples(db, run_id, per_field) == expected


def test_sample_examples_of_a_run_without_differences(db: Database) -> None:
    assert sample_examples(db, store_run(db, "r", [result()])) == {}


def test_load_exchanges_and_differences_in_chunks(db: Database) -> None:
    run_id = store_run(db, "r", differing(1203))
    ids = [row["id"] for row in db.query("SELECT id FROM exchanges WHERE run_id = ?", [run_id])]
    rows = load_exchanges(db, [*ids, *ids, 999_999])
    assert sorted(rows) == ids
    assert rows[ids[0]]["request"].startswith(b"GET /x/0 HTTP/1.1\r\n")
    differences = load_differences(db, ids)
    assert sorted(differences) == ids
    assert [d["path"] for d in differences[ids[-1]]] == ["$.name"]
    assert load_exchanges(db, []) == {} and load_differences(db, []) == {}


def test_differences_come_in_stored_order(db: Database) -> None:
    paths = ["$.z", "$.a", "$.m[2]"]
    run_id = store_run(
        db, "r", [result(differences=[Difference(p, "added", None, 1) for p in paths])]
    )
    (exchange_id,) = [
        r["id"] for r in db.query("SELECT id FROM exchanges WHERE run_id = ?", [run_id])
    ]
    assert [d["path"] for d in load_differences(db, [exchange_id])[exchange_id]] == paths


def test_error_examples_one_request_line_per_endpoint_and_reason(db: Database) -> None:
    results = [
        result(target="/api/users/2", error="timeout"),
        result(target="/api/users/1", error="timeout"),
        result(ORDERS, "/api/orders/5", error="connection refused"),
        result(target="/api/users/3", differences=[Difference("$.a", "added", None, 1)]),
    ]
    run_id = store_run(db, "r", results)
    assert error_examples(db, run_id) == {
        (USERS, "timeout"): "GET /api/users/1",
        (ORDERS, "connection refused"): "GET /api/orders/5",
    }
