"""One exchange's comparison: status, headers, body and assertions -> verdict and differences."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import deepdiff
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.compare import Comparison, Difference, compare_responses
from shadowdiff.compare import verdict as verdict_module
from shadowdiff.compare.model import DIFFERS, ERROR, FAILED, SAME
from shadowdiff.compare.verdict import SNIPPET
from shadowdiff.exchange import Response
from shadowdiff.http1 import encode_chunked
from shadowdiff.rules import load_rules
from shadowdiff.rules.model import Assertion, EndpointRule
from shadowdiff.testing import make_response

REPO_RULES = Path(__file__).parents[2] / "rules"
PLAIN = EndpointRule("GET /x")
NOISY = EndpointRule(
    "GET /x",
    ignore=("$.request_id", "$..updated_at", "$.items[*].stamp"),
    unordered=("$.roles", "$.items[*].tags"),
    array_keys=(("$.items", "id"),),
    tolerance=(("$.balance", 0.001), ("$.items[*].price", 0.01)),
)

FAST = settings(max_examples=60, deadline=None)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["id", "roles", "items", "balance", "updated_at", "tags", "x"]), inner
        )
    ),
    max_leaves=20,
)


def json_response(value: Any, status: int = 200, **options: Any) -> Response:
    """Unlike make_response(json=None), `null` here is a JSON body too."""
    body = json.dumps(value, **options).encode()
    return make_response(status, body=body, content_type="application/json")


def gzipped(value: Any, mtime: float = 0) -> Response:
    return make_response(
        body=gzip.compress(json.dumps(value).encode(), mtime=mtime),
        headers=[("Content-Encoding", "gzip")],
        content_type="application/json",
    )


def refuse_deepdiff(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("DeepDiff was called")

    monkeypatch.setattr(deepdiff, "DeepDiff", refuse)  # diff.py imports it when it needs it


# --- same --------------------------------------------------------------------------------------


@FAST
@given(json_values)
def test_a_response_compared_with_itself_is_the_same(value: Any) -> None:
    for rule in (PLAIN, NOISY):
        response = json_response(value)
        assert compare_responses(response, response, rule) == Comparison(SAME)


@FAST
@given(json_values)
def test_the_same_json_written_differently_is_the_same(value: Any) -> None:
    baseline = json_response(value)
    candidate = json_response(value, indent=2, sort_keys=True, ensure_ascii=False)
    for rule in (PLAIN, NOISY):
        assert compare_responses(baseline, candidate, rule) == Comparison(SAME)


def test_encodings_are_undone_before_comparing() -> None:
    value = {"id": 1, "items": list(range(20))}
    chunked = make_response(
        body=encode_chunked(json.dumps(value).encode()),
        headers=[("Transfer-Encoding", "chunked")],
        content_type="application/json",
    )
    assert compare_responses(make_response(json=value), chunked, PLAIN) == Comparison(SAME)
    assert gzipped(value, 1).body != gzipped(value, 2).body
    assert compare_responses(gzipped(value, 1), gzipped(value, 2), PLAIN) == Comparison(SAME)
    # the content is the same; that the candidate compresses it (or stops) is reported
    assert compare_responses(make_response(json=value), gzipped(value), PLAIN) == Comparison(
        DIFFERS, (Difference("headers.content-encoding", "header_changed", None, "gzip"),)
    )


def test_an_empty_body_is_not_unparseable_json() -> None:
    """A 204, or the answer to HEAD, may say application/json and carry nothing."""
    empty = make_response(204, content_type="application/json")
    rule = EndpointRule("HEAD /x", assertions=(Assertion("status", [204]),))
    assert compare_responses(empty, empty, rule).verdict == SAME
    head = make_response(200, content_type="application/json")
    assert compare_responses(make_response(json={"id": 1}), head, PLAIN).differences == (
        Difference("body", "body_changed", '{"id":1}', ""),
    )


# --- differs -----------------------------------------------------------------------------------


def test_body_differences_with_paths_and_values() -> None:
    baseline = make_response(json={"orders": [{"total": 3}], "id": 1, "old": True})
    candidate = make_response(json={"orders": [{"total": 4}], "id": 1.0, "new": None})
    result = compare_responses(baseline, candidate, PLAIN)
    assert result.verdict == DIFFERS
    assert sorted(result.differences, key=lambda d: d.path) == [
        Difference("$.id", "type_changed", 1, 1.0),
        Difference("$.new", "added", None, None),
        Difference("$.old", "missing", True, None),
        Difference("$.orders[0].total", "value_changed", 3, 4),
    ]


def test_a_status_change_is_reported_alone() -> None:
    baseline = make_response(json={"id": 1}, headers=[("X-Api", "1")])
    candidate = make_response(500, body=b"Internal error", content_type="text/plain")
    assert compare_responses(baseline, candidate, PLAIN) == Comparison(
        DIFFERS, (Difference("status", "status_changed", 200, 500),)
    )


def test_a_status_change_still_runs_the_assertions() -> None:
    rule = EndpointRule("GET /x", assertions=(Assertion("status", [200]),))
    result = compare_responses(make_response(json={}), make_response(404, json={}), rule)
    assert result.verdict == FAILED
    assert result.differences == (Difference("status", "status_changed", 200, 404),)
    assert result.assertions[0].message == "status was 404"


def test_header_and_body_differences_together() -> None:
    baseline = make_response(json={"a": 1}, headers=[("Cache-Control", "no-store"), ("Date", "x")])
    candidate = make_response(
        json={"a": 2}, headers=[("cache-control", "max-age=60"), ("Date", "y")]
    )
    assert compare_responses(baseline, candidate, PLAIN).differences == (
        Difference("headers.cache-control", "header_changed", "no-store", "max-age=60"),
        Difference("$.a", "value_changed", 1, 2),
    )


def test_only_headers_differ() -> None:
    baseline = make_response(json={"a": 1}, headers=[("X-Frame-Options", "DENY")])
    candidate = make_response(json={"a": 1})
    assert compare_responses(baseline, candidate, PLAIN) == Comparison(
        DIFFERS, (Difference("headers.x-frame-options", "header_changed", "DENY", None),)
    )


def test_non_json_bodies_compare_as_a_whole() -> None:
    baseline = make_response(body=b"<p>hello</p>", content_type="text/html")
    candidate = make_response(body=b"<p>hullo</p>", content_type="text/html")
    assert compare_responses(baseline, candidate, PLAIN) == Comparison(
        DIFFERS, (Difference("body", "body_changed", "<p>hello</p>", "<p>hullo</p>"),)
    )
    assert compare_responses(baseline, baseline, PLAIN) == Comparison(SAME)


def test_a_long_body_is_shown_as_a_snippet() -> None:
    long = b"a" * (SNIPPET + 50)
    baseline = make_response(body=b"short", content_type="text/plain")
    candidate = make_response(body=long, content_type="text/plain")
    (difference,) = compare_responses(baseline, candidate, PLAIN).differences
    assert difference.baseline == "short"
    assert difference.candidate == "a" * SNIPPET + f"… ({SNIPPET + 50} bytes)"


def test_json_against_not_json_is_a_body_change() -> None:
    baseline = make_response(json={"a": 1})
    candidate = make_response(body=b"<html>maintenance</html>", content_type="text/html")
    assert compare_responses(baseline, candidate, PLAIN).differences == (
        Difference("headers.content-type", "header_changed", "application/json", "text/html"),
        Difference("body", "body_changed", '{"a":1}', "<html>maintenance</html>"),
    )


def test_a_baseline_that_cannot_be_decoded_compares_by_its_raw_bytes() -> None:
    baseline = make_response(
        body=b"not gzip", headers=[("Content-Encoding", "gzip")], content_type="application/json"
    )
    result = compare_responses(baseline, gzipped({"a": 1}), PLAIN)
    assert result.verdict == DIFFERS
    assert result.differences == (Difference("body", "body_changed", "not gzip", '{"a": 1}'),)


# --- rules -------------------------------------------------------------------------------------


def test_a_rule_hides_noise_and_keeps_real_changes() -> None:
    def body(request_id: str, balance: float, price: float, roles: list[str]) -> dict[str, Any]:
        return {
            "request_id": request_id,
            "balance": balance,
            "roles": roles,
            "items": [
                {"id": 1, "price": 1.0, "tags": ["a", "b"], "updated_at": request_id},
                {"id": 2, "price": price, "tags": [], "stamp": request_id},
            ],
        }

    baseline = make_response(json=body("r1", 10.0, 5.0, ["admin", "user"]))
    noise = make_response(json=body("r2", 10.0004, 5.009, ["user", "admin"]))
    assert compare_responses(baseline, noise, NOISY) == Comparison(SAME)
    change = make_response(json=body("r3", 10.0004, 5.5, ["user"]))
    assert sorted(compare_responses(baseline, change, NOISY).differences, key=str) == [
        Difference("$.items[id=2].price", "value_changed", 5.0, 5.5),
        Difference("$.roles", "length_changed", 2, 1),
        Difference("$.roles[0]", "value_changed", "admin", "user"),
    ]


def test_the_repository_rules_hide_the_documented_noise() -> None:
    rule = load_rules(REPO_RULES).resolve("GET", "/api/orders/5")

    def order(request_id: str, stamp: str, balance: float) -> Response:
        items = [{"sku": "A", "updated_at": stamp}, {"sku": "B", "updated_at": stamp}]
        return make_response(
            json={
                "id": 5,
                "status": "paid",
                "items": items,
                "total": 9.5,
                "balance": balance,
                "request_id": request_id,
            },
            headers=[("X-Request-Id", request_id), ("Date", stamp)],
        )

    baseline = order("a", "2026-01-01T00:00:00Z", 100.0)
    assert compare_responses(
        baseline,
        order(
            "b",
            "2026-01-02T00:00:00Z",
            100.0004,
        ),
        rule,
    ) == (Comparison(SAME, assertions=compare_responses(None, baseline, rule).assertions))
    result = compare_responses(baseline, order("c", "x", 100.01), rule)
    assert result.verdict == DIFFERS
    assert result.differences == (Difference("$.balance", "value_changed", 100.0, 100.01),)


# --- failed ------------------------------------------------------------------------------------


def test_a_failed_assertion_makes_the_verdict_failed() -> None:
    rule = EndpointRule(
        "GET /x",
        ignore=("$.email",),
        assertions=(Assertion("status", [200]), Assertion("matches", "@", "$.email")),
    )
    baseline = make_response(json={"email": "a@b.c"})
    candidate = make_response(json={"email": "nobody"})
    result = compare_responses(baseline, candidate, rule)
    assert result.verdict == FAILED  # the ignore does not hide the field from assertions
    assert result.differences == ()
    assert [(r.passed, r.message) for r in result.assertions] == [
        (True, ""),
        (False, "was 'nobody'"),
    ]


def test_failed_wins_over_differs() -> None:
    rule = EndpointRule("GET /x", assertions=(Assertion("min_length", 1, "$.items"),))
    result = compare_responses(
        make_response(json={"items": [1]}), make_response(json={"items": []}), rule
    )
    assert result.verdict == FAILED
    assert result.differences == (Difference("$.items", "length_changed", 1, 0),)


def test_assertions_see_the_candidate_as_it_came() -> None:
    """Normalising edits bodies in place; it must not happen before the assertions."""
    rule = EndpointRule(
        "GET /x",
        tolerance=(("$.n", 1.0),),
        unordered=("$.roles",),
        assertions=(Assertion("equals", 1.5, "$.n"), Assertion("equals", ["b", "a"], "$.roles")),
    )
    baseline = make_response(json={"n": 1.0, "roles": ["a", "b"]})
    candidate = make_response(json={"n": 1.5, "roles": ["b", "a"]})
    result = compare_responses(baseline, candidate, rule)
    assert [r.passed for r in result.assertions] == [True, True]
    assert result.verdict == SAME


def test_without_a_baseline_only_the_assertions_decide() -> None:
    rule = EndpointRule("GET /x", assertions=(Assertion("type", "integer", "$.id"),))
    assert compare_responses(None, make_response(json={"id": 1}), rule).verdict == SAME
    result = compare_responses(None, make_response(json={"id": "1"}), rule)
    assert (result.verdict, result.differences) == (FAILED, ())
    assert compare_responses(None, make_response(500), PLAIN) == Comparison(SAME)


def test_body_assertions_fail_on_a_non_json_candidate() -> None:
    rule = EndpointRule("GET /x", assertions=(Assertion("exists", True, "$.id"),))
    candidate = make_response(body=b"<html></html>", content_type="text/html")
    result = compare_responses(None, candidate, rule)
    assert result.verdict == FAILED
    assert result.assertions[0].message == "the candidate body is not JSON"


# --- error -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "error"),
    [
        (
            make_response(body=b'{"a": 1', content_type="application/json"),
            "candidate body is not valid JSON: Expecting ',' delimiter: line 1 column 8 (char 7)",
        ),
        (
            make_response(body=b"<html>", content_type="application/problem+json"),
            "candidate body is not valid JSON: Expecting value: line 1 column 1 (char 0)",
        ),
        (
            make_response(body=b"[1, 2", content_type=None),  # sniffed as JSON
            "candidate body is not valid JSON: Expecting ',' delimiter: line 1 column 6 (char 5)",
        ),
        (
            make_response(
                body=b"\x1f\x8bnot really",
                headers=[("Content-Encoding", "gzip")],
                content_type="application/json",
            ),
            "candidate body: cannot decode gzip body",
        ),
    ],
)
def test_an_unreadable_candidate_is_an_error(candidate: Response, error: str) -> None:
    rule = EndpointRule("GET /x", assertions=(Assertion("status", [200]),))
    for baseline in (make_response(json={"a": 1}), None, candidate):
        result = compare_responses(baseline, candidate, rule)
        assert (result.verdict, result.differences, result.assertions) == (ERROR, (), ())
        assert result.error is not None and result.error.startswith(error)


def test_without_assertions_an_unreadable_candidate_equal_to_its_baseline_is_the_same() -> None:
    broken = make_response(body=b'{"a": 1', content_type="application/json")
    assert compare_responses(broken, broken, PLAIN) == Comparison(SAME)  # nothing changed
    for baseline in (make_response(json={"a": 1}), None):
        result = compare_responses(baseline, broken, PLAIN)
        assert result.verdict == ERROR and result.error is not None
        assert result.error.startswith("candidate body is not valid JSON")


def test_a_candidate_equal_to_its_baseline_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(response: Response) -> None:
        raise AssertionError("the candidate body was parsed")

    monkeypatch.setattr(verdict_module, "_parsed", refuse)
    value = {"items": list(range(100))}
    assert compare_responses(make_response(json=value), make_response(json=value), PLAIN) == (
        Comparison(SAME)
    )


# --- no deepdiff when nothing changed ----------------------------------------------------------


def test_byte_equal_bodies_never_reach_deepdiff(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_deepdiff(monkeypatch)
    value = {"items": [{"id": n, "price": n / 3, "tags": ["b", "a"]} for n in range(200)]}
    baseline = make_response(json=value, headers=[("Date", "a")])
    candidate = make_response(json=value, headers=[("Date", "b")])
    for rule in (PLAIN, NOISY):
        assert compare_responses(baseline, candidate, rule).verdict == SAME
    assert compare_responses(gzipped(value, 1), gzipped(value, 2), NOISY).verdict == SAME


def test_equal_json_written_differently_never_reaches_deepdiff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refuse_deepdiff(monkeypatch)
    value = {"b": [1, 2.5, None], "a": {"c": True}}
    assert (
        compare_responses(json_response(value), json_response(value, indent=1), PLAIN).verdict
        == SAME
    )


def test_a_body_nested_too_deeply_is_an_error_not_a_crash() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    baseline = make_response(body=b"[]", content_type="application/json")
    candidate = make_response(body=deep, content_type="application/json")
    result = compare_responses(baseline, candidate, EndpointRule("GET /"))
    assert result.verdict == "error" and "nested too deeply" in (result.error or "")
