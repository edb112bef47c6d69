"""Trends across runs in a real store: diff rates per endpoint and run, difference signatures
new / known / gone, the run window (--last, --since), and the trend page."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

import jinja2
import pytest
from sqlite_utils import Database

from shadowdiff.compare.model import Difference
from shadowdiff.errors import InputError
from shadowdiff.report.render import as_mapping, environment, render
from shadowdiff.report.trend import (
    Signature,
    TrendContext,
    TrendRow,
    build_trend,
    parse_window,
    select_runs,
    trend_rows_as_json,
)
from shadowdiff.store import ExchangeResult
from tests.report import IMG, SCRIPT, assert_safe_page, read_page, result, store_run

USERS = "GET /api/users/{id}"
ORDERS = "GET /api/orders/{id}"
SEARCH = "GET /api/search"


def differing(endpoint: str, *paths: str, kind: str = "value_changed") -> ExchangeResult:
    return result(endpoint, "/x", differences=[Difference(p, kind, 1, 2) for p in paths])


def same(endpoint: str) -> ExchangeResult:
    return result(endpoint, "/x")


def three_nights(db: Database) -> None:
    """`$.gone` only in night 1 and 2; `$.known` from night 2 on; `$.new` only in night 3;
    `$.old` only in night 1 (outside the comparison of the latest two)."""
    store_run(
        db,
        "night-1",
        [differing(USERS, "$.gone", "$.old"), same(USERS), same(ORDERS), same(ORDERS)],
    )
    store_run(
        db,
        "night-2",
        [differing(USERS, "$.gone"), differing(USERS, "$.known"), same(ORDERS)],
    )
    store_run(
        db,
        "night-3",
        [
            differing(USERS, "$.known"),
            differing(USERS, "$.known", "$.new"),
            differing(USERS, "$.items[3].p", "$.items[4].p", kind="missing"),
            same(USERS),
            differing(SEARCH, "status", kind="status_changed"),
            result(SEARCH, "/x", error="timeout"),
            result(SEARCH, "/x", verdict="skipped"),
        ],
    )


def test_signatures_new_known_gone(db: Database) -> None:
    three_nights(db)
    context = build_trend(db, last=3)
    assert [r.name for r in context.runs] == ["night-1", "night-2", "night-3"]
    found = {(s.endpoint, s.path, s.kind): s for s in context.signatures}
    assert found[(USERS, "$.known", "value_changed")] == Signature(
        USERS, "$.known", "value_changed", "known", "night-2", 2
    )
    assert found[(USERS, "$.new", "value_changed")].status == "new"
    assert found[(USERS, "$.new", "value_changed")].first_seen == "night-3"
    gone = found[(USERS, "$.gone", "value_changed")]
    assert (gone.status, gone.first_seen, gone.count) == ("gone", "night-1", 1)
    assert (USERS, "$.old", "value_changed") not in found
    # folded fields: one signature for both indexes, counted per exchange
    assert found[(USERS, "$.items[*].p", "missing")].count == 1
    assert found[(SEARCH, "status", "status_changed")].status == "new"
    statuses = [s.status for s in context.signatures]
    assert statuses == sorted(statuses, key=["new", "known", "gone"].index)


def test_rates_per_endpoint_per_run(db: Database) -> None:
    three_nights(db)
    rows = {row.endpoint: row for row in build_trend(db, last=3).endpoints}
    assert rows[USERS] == TrendRow(USERS, [0.5, 1.0, 0.75], [2, 2, 4])
    assert rows[ORDERS] == TrendRow(ORDERS, [0.0, 0.0, None], [2, 1, 0])
    # skipped exchanges do not count: 1 differs of 2 compared (differs + error)
    assert rows[SEARCH] == TrendRow(SEARCH, [None, None, 0.5], [0, 0, 3])
    # worst in the latest run first
    assert [row.endpoint for row in build_trend(db, last=3).endpoints] == [USERS, SEARCH, ORDERS]


def test_last_n_runs(db: Database) -> None:
    three_nights(db)
    context = build_trend(db, last=2)
    assert [r.name for r in context.runs] == ["night-2", "night-3"]
    assert [r.exchanges for r in context.runs] == [3, 7]
    found = {s.path: s for s in context.signatures}
    assert found["$.known"].first_seen == "night-2"  # within the window
    assert found["$.gone"].first_seen == "night-2"


def test_runs_filtered_by_a_name_glob(db: Database) -> None:
    store_run(db, "nightly-1", [differing(USERS, "$.a")])
    store_run(db, "pr-7", [differing(USERS, "$.b")])
    store_run(db, "nightly-2", [differing(USERS, "$.a")])
    context = build_trend(db, last=10, name="nightly-*")
    assert [r.name for r in context.runs] == ["nightly-1", "nightly-2"]
    assert [(s.path, s.status) for s in context.signatures] == [("$.a", "known")]
    with pytest.raises(InputError, match="no runs named 'x\\*'"):
        build_trend(db, name="x*")


def test_a_single_run_has_only_new_signatures(db: Database) -> None:
    store_run(db, "only", [differing(USERS, "$.a")])
    context = build_trend(db, last=10)
    assert [s.status for s in context.signatures] == ["new"]


def test_no_runs_is_an_input_error(db: Database) -> None:
    with pytest.raises(InputError, match="no runs"):
        build_trend(db)


def set_started(db: Database, name: str, when: datetime) -> None:
    db.execute(
        "UPDATE runs SET started_at = ? WHERE name = ?",
        [when.isoformat(timespec="seconds"), name],
    )
    db.conn.commit()


def test_since_selects_the_runs_started_within(db: Database) -> None:
    three_nights(db)
    now = datetime.now(UTC)
    set_started(db, "night-1", now - timedelta(days=3))
    set_started(db, "night-2", now - timedelta(hours=30))
    set_started(db, "night-3", now - timedelta(hours=2))
    assert [r.name for r in select_runs(db, 10, parse_window("24h"))] == ["night-3"]
    assert [r.name for r in select_runs(db, 10, parse_window("2d"))] == ["night-2", "night-3"]
    assert len(select_runs(db, 1, parse_window("1w"))) == 3  # --since wins over --last
    with pytest.raises(InputError, match="no runs"):
        select_runs(db, 10, parse_window("30m"))
    assert len(select_runs(db, 10, timedelta(days=999_999_999))) == 3  # before year 1: all


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        (" 12 H ", timedelta(hours=12)),
        ("0h", timedelta(0)),
    ],
)
def test_parse_window(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize(
    "text", ["", "24", "h", "24x", "-1h", "1.5h", "24h ago", "1y", "1d2h", "99999999999999d"]
)
def test_bad_windows_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="--since"):
        parse_window(text)


def test_trend_as_json(db: Database) -> None:
    three_nights(db)
    data = trend_rows_as_json(build_trend(db, last=3))
    assert data["runs"] == ["night-1", "night-2", "night-3"]
    assert {"endpoint": ORDERS, "diff_rates": [0.0, 0.0, None], "exchanges": [2, 1, 0]} in data[
        "endpoints"
    ]
    assert {
        "endpoint": USERS,
        "path": "$.gone",
        "kind": "value_changed",
        "status": "gone",
        "first_seen": "night-1",
        "count": 1,
    } in data["signatures"]


def test_trend_page_shows_rates_and_signatures(db: Database) -> None:
    three_nights(db)
    page = assert_safe_page(render("trend.html.j2", build_trend(db, last=3)))
    text = page.all_text
    for shown in ("night-1", "night-3", USERS, ORDERS, "50.00%", "75.00%", "100.00%", "—"):
        assert shown in text
    for shown in ("$.known", "$.new", "$.gone", "status_changed"):
        assert shown in text
    classes = [v for _, name, v in page.attributes if name == "class"]
    assert {"badge new", "badge known", "badge gone", "rate hot", "rate cold", "rate none"} <= set(
        classes
    )


def test_trend_page_escapes_hostile_names(db: Database) -> None:
    store_run(db, f"night {SCRIPT}", [differing(f"GET /{IMG}", f"$['{SCRIPT}']")])
    html = render("trend.html.j2", build_trend(db))
    page = assert_safe_page(html)
    assert f"night {SCRIPT}" in page.all_text and f"GET /{IMG}" in page.all_text
    assert "<script" not in html and "<img" not in html
    assert any(name == "title" for _, name, _ in page.attributes)


def test_trend_page_without_differences(db: Database) -> None:
    store_run(db, "clean", [same(USERS)])
    text = read_page(render("trend.html.j2", build_trend(db))).all_text
    assert "No differences in the latest run" in text and "0.00%" in text


@pytest.mark.parametrize("missing", [f.name for f in fields(TrendContext)])
def test_a_missing_trend_value_fails_the_render(db: Database, missing: str) -> None:
    store_run(db, "r", [differing(USERS, "$.a")])
    values = as_mapping(build_trend(db))
    del values[missing]
    with pytest.raises(jinja2.UndefinedError):
        environment().get_template("trend.html.j2").render(values)


def test_a_signature_back_after_a_clean_run_is_new_again(db: Database) -> None:
    store_run(db, "n1", [differing(USERS, "$.flaky")])
    store_run(db, "n2", [same(USERS)])
    store_run(db, "n3", [differing(USERS, "$.flaky")])
    (signature,) = build_trend(db, last=3).signatures
    assert (signature.status, signature.first_seen) == ("new", "n1")
