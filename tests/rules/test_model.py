"""Rule values: path templates, specificity, resolving a request to its rule, merging defaults."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.rules.model import Assertion, EndpointRule, RuleSet, compile_template, specificity
from shadowdiff.testing import make_request

FAST = settings(max_examples=80, deadline=None)


def make_rule(match: str, **options: Any) -> EndpointRule:
    """An endpoint rule as the loader builds it (with its compiled template)."""
    return EndpointRule(match, pattern=compile_template(match.partition(" ")[2]), **options)


def make_ruleset(*matches: str, defaults: EndpointRule | None = None) -> RuleSet:
    """Rules in match order, as `load_rules` sorts them (the order given here must not matter)."""
    rules = sorted((make_rule(m) for m in matches), key=lambda r: specificity(r.match))
    return RuleSet(tuple(rules), defaults or EndpointRule("* /**"))


# --- templates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "matches"),
    [
        ("/api/users/{id}", "/api/users/7", True),
        ("/api/users/{id}", "/api/users/me", True),
        ("/api/users/{id}", "/api/users", False),
        ("/api/users/{id}", "/api/users/", False),
        ("/api/users/{id}", "/api/users/7/orders", False),  # {x} is exactly one segment
        ("/api/users/{id}/orders/{n}", "/api/users/7/orders/2", True),
        ("/api/users/{id}/orders/{n}", "/api/users/7/orders", False),
        ("/api/**", "/api", True),  # ** may be empty
        ("/api/**", "/api/", True),
        ("/api/**", "/api/a", True),
        ("/api/**", "/api/a/b/c", True),
        ("/api/**", "/apix", False),  # ** starts a segment, it does not extend one
        ("/api/**", "/other/api/a", False),
        ("/**", "/", True),
        ("/**", "/anything/at/all", True),
        ("/", "/", True),
        ("/", "/a", False),
        ("/api/**/raw", "/api/a/b/raw", True),
        ("/api/**/raw", "/api/a/b/rawx", False),
        ("/files/{name}.csv", "/files/x.csv", True),  # a parameter inside a segment
        ("/files/{name}.csv", "/files/x.json", False),
        ("/files/{name}.csv", "/files/a/b.csv", False),
        ("/a.b", "/a.b", True),  # literals are literal, not regexes
        ("/a.b", "/axb", False),
        ("/api/items", "/API/items", False),  # paths are case-sensitive
    ],
)
def test_template_matching(template: str, path: str, matches: bool) -> None:
    assert bool(compile_template(template).fullmatch(path)) is matches


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("/api/users", "/api/users/"),
        ("/api/users/", "/api/users"),
        ("/api/users/", "/api/users/"),
        ("/api/users/{id}", "/api/users/7/"),
        ("/api/users/{id}/", "/api/users/7"),
    ],
)
def test_a_trailing_slash_is_optional_on_both_sides(template: str, path: str) -> None:
    assert compile_template(template).fullmatch(path)


segments = st.text(st.characters(codec="utf-8", exclude_characters="/{}?*"), min_size=1)


@FAST
@given(st.lists(segments, min_size=1, max_size=5))
def test_a_literal_template_matches_exactly_its_own_path(parts: list[str]) -> None:
    path = "/" + "/".join(parts)
    pattern = compile_template(path)
    assert pattern.fullmatch(path)
    assert pattern.fullmatch(path + "/")
    assert not pattern.fullmatch(path + "/x")
    assert not pattern.fullmatch(path + "x")


@FAST
@given(st.lists(segments, min_size=1, max_size=5), st.integers(0, 4))
def test_a_parameter_stands_for_any_one_segment(parts: list[str], at: int) -> None:
    at %= len(parts)
    template = "/" + "/".join("{x}" if i == at else p for i, p in enumerate(parts))
    pattern = compile_template(template)
    assert pattern.fullmatch("/" + "/".join(parts))
    longer = [*parts[:at], parts[at], "extra", *parts[at + 1 :]]
    assert not pattern.fullmatch("/" + "/".join(longer))


# --- specificity and resolve -------------------------------------------------------------------


def test_specificity_orders_literal_then_parameter_then_end_then_rest() -> None:
    matches = [
        "* /**",
        "GET /**",
        "GET /api/users/**",
        "GET /api/users",
        "GET /api/users/{id}",
        "* /api/users/me",
        "GET /api/users/me",
    ]
    assert sorted(matches, key=specificity) == [
        "GET /api/users/me",
        "* /api/users/me",  # the path decides first, the method only breaks ties
        "GET /api/users/{id}",
        "GET /api/users",
        "GET /api/users/**",
        "GET /**",
        "* /**",
    ]


@pytest.mark.parametrize(
    "order",
    [
        ["GET /api/users/{id}", "GET /api/users/me"],
        ["GET /api/users/me", "GET /api/users/{id}"],
    ],
)
def test_a_literal_segment_beats_a_parameter_whatever_the_order(order: list[str]) -> None:
    rules = make_ruleset(*order)
    assert rules.resolve("GET", "/api/users/me").match == "GET /api/users/me"
    assert rules.resolve("GET", "/api/users/42").match == "GET /api/users/{id}"


def test_an_exact_template_beats_a_rest_that_also_matches_it() -> None:
    rules = make_ruleset("GET /api/users/**", "GET /api/users")
    assert rules.resolve("GET", "/api/users").match == "GET /api/users"
    assert rules.resolve("GET", "/api/users/").match == "GET /api/users"
    assert rules.resolve("GET", "/api/users/7").match == "GET /api/users/**"
    assert rules.resolve("GET", "/api/users/7/orders/3").match == "GET /api/users/**"


def test_the_first_differing_segment_decides() -> None:
    rules = make_ruleset("GET /api/{kind}/export", "GET /api/orders/{id}", "GET /api/**")
    assert rules.resolve("GET", "/api/orders/export").match == "GET /api/orders/{id}"
    assert rules.resolve("GET", "/api/users/export").match == "GET /api/{kind}/export"
    assert rules.resolve("GET", "/api/orders/1/lines").match == "GET /api/**"


def test_methods_match_exactly_or_through_star() -> None:
    rules = make_ruleset("POST /api/cart", "* /api/cart", "GET /api/users/{id}")
    assert rules.resolve("POST", "/api/cart").match == "POST /api/cart"
    assert rules.resolve("post", "/api/cart").match == "POST /api/cart"
    assert rules.resolve("DELETE", "/api/cart").match == "* /api/cart"
    unmatched = rules.resolve("POST", "/api/users/1").match
    assert unmatched == "POST /api/users/{id}"  # no rule: the endpoint is inferred


def test_the_query_string_is_never_part_of_the_match() -> None:
    rules = make_ruleset("GET /api/users/me", "GET /api/users/{id}", "GET /api/search")
    request = make_request(target="/api/users/me?expand=roles&id=7")
    assert rules.resolve(request.method, request.path).match == "GET /api/users/me"
    assert rules.resolve("GET", "/api/search?q=shoes").match == "GET /api/search"
    assert rules.resolve("GET", "/api/users/7?x=/y").match == "GET /api/users/{id}"
    assert rules.resolve("GET", "/api/other?q=1").match == "GET /api/other"


def test_trailing_slashes_resolve_to_the_same_rule() -> None:
    rules = make_ruleset("GET /api/users/{id}", "GET /api/search/")
    assert rules.resolve("GET", "/api/users/7/").match == "GET /api/users/{id}"
    assert rules.resolve("GET", "/api/search").match == "GET /api/search/"
    assert rules.resolve("GET", "/api/search/").match == "GET /api/search/"


def test_an_unmatched_request_gets_the_defaults_under_its_own_endpoint() -> None:
    defaults = EndpointRule("* /**", ignore=("$.request_id",), max_diff_rate=0.5, where="d:1")
    rules = make_ruleset("GET /api/users/{id}", defaults=defaults)
    rule = rules.resolve("delete", "/api/users/7")
    assert rule.match == "DELETE /api/users/{id}"  # the endpoint is inferred
    assert rule.ignore == ("$.request_id",)
    assert rule.max_diff_rate == 0.5
    assert rule.where == ""
    assert RuleSet().resolve("GET", "/").match == "GET /"


def test_an_empty_ruleset_resolves_everything_to_defaults() -> None:
    rule = RuleSet().resolve("GET", "/x")
    assert rule == EndpointRule("GET /x")


# --- merging and thresholds --------------------------------------------------------------------


def test_merging_into_defaults_adds_lists_and_overrides_settings() -> None:
    status = Assertion("status", [200])
    email = Assertion("exists", True, "$.email")
    defaults = EndpointRule(
        "* /**",
        ignore=("$.request_id",),
        header_ignore=frozenset({"x-request-id"}),
        header_compare=frozenset({"content-type"}),
        unordered=("$.tags",),
        array_keys=(("$.items", "id"),),
        tolerance=(("$.total", 0.01),),
        assertions=(status,),
        max_diff_rate=0.0,
    )
    rule = make_rule(
        "GET /api/users/{id}",
        ignore=("$.meta",),
        header_ignore=frozenset({"etag"}),
        unordered=("$.roles",),
        tolerance=(("$.balance", 0.001),),
        assertions=(email,),
        max_diff_rate=0.05,
        where="users.yaml:3",
    )
    merged = rule.merged_into(defaults)
    assert merged.match == "GET /api/users/{id}"
    assert merged.where == "users.yaml:3"
    assert merged.ignore == ("$.request_id", "$.meta")
    assert merged.header_ignore == {"x-request-id", "etag"}
    assert merged.header_compare == {"content-type"}
    assert merged.unordered == ("$.tags", "$.roles")
    assert merged.array_keys == (("$.items", "id"),)
    assert merged.tolerance == (("$.total", 0.01), ("$.balance", 0.001))
    assert merged.assertions == (status, email)
    assert merged.max_diff_rate == 0.05
    assert merged.matches("GET", "/api/users/1")
    assert not merged.matches("GET", "/api/users")


def test_an_unset_rate_stays_unset_so_the_gate_flag_can_apply() -> None:
    defaults = EndpointRule("* /**", max_diff_rate=0.2)
    assert make_rule("GET /a").merged_into(defaults).max_diff_rate is None
    assert make_rule("GET /a").merged_into(defaults, inherit_rate=True).max_diff_rate == 0.2


def test_thresholds_per_endpoint_plus_the_default() -> None:
    rules = RuleSet(
        (make_rule("GET /a", max_diff_rate=0.1), make_rule("GET /b")),
        EndpointRule("* /**", max_diff_rate=0.02),
    )
    assert rules.thresholds() == {"GET /a": 0.1, "*": 0.02}
    assert RuleSet().thresholds() == {"*": 0.0}


def test_method_and_describe() -> None:
    assert make_rule("* /x").method == "*"
    assert Assertion("status", [200, 201]).describe() == "status: [200, 201]"
    assert Assertion("matches", "^a", "$.name").describe() == "$.name matches: '^a'"


def test_the_template_regex_is_not_part_of_rule_equality() -> None:
    assert make_rule("GET /a") == EndpointRule("GET /a", pattern=re.compile("other"))
