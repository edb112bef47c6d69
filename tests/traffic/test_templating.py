"""Endpoint templates from traffic: identifier shapes, high-cardinality folding, rules first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.rules.model import EndpointRule, RuleSet, compile_template, specificity
from shadowdiff.traffic.templating import (
    EndpointTemplater,
    placeholder_for,
    segment_kind,
    shape_of,
    split_path,
    templated_endpoint,
)

FAST = settings(max_examples=40, deadline=None)
UUID = "550e8400-e29b-41d4-a716-446655440000"
OBJECT_ID = "507f1f77bcf86cd799439011"


def learned(paths: list[str], **options: int) -> EndpointTemplater:
    templater = EndpointTemplater(**options)
    for path in paths:
        templater.observe("GET", path)
    return templater


def slug(n: int) -> str:
    """A word-like value with no shape: `how-to-b`, `how-to-bc`, ... (letters only)."""
    letters = ""
    while True:
        n, digit = divmod(n, 26)
        letters += chr(ord("a") + digit)
        if n == 0:
            return "how-to-" + letters


# --- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "kind"),
    [
        ("17", "id"),
        ("0", "id"),
        ("-3", "id"),  # a negative id is still an id (`-1` sentinels)
        ("000123", "id"),
        ("123456789012345678901234", "id"),  # all digits: an integer, however long
        ("u_123456", "id"),
        ("ord-000123", "id"),
        ("INV2024001", "id"),
        ("user12345", "id"),
        (UUID, "uuid"),
        (UUID.upper(), "uuid"),
        ("00000000-0000-0000-0000-000000000000", "uuid"),
        ("550e8400e29b41d4a716446655440000", "hex"),  # no dashes: could be an MD5 too
        (OBJECT_ID, "hex"),
        ("da39a3ee5e6b4b0d3255bfef95601890afd80709", "hex"),  # SHA-1
        ("DA39A3EE5E6B4B0D", "hex"),
        ("2024-01-02", "date"),
        ("1965-12-31", "date"),
        ("20240102", "date"),
        ("2024-01-02T10:00:00Z", "date"),
        ("2024-01-02T10:00:00+01:00", "date"),
        ("dQw4w9WgXcQ1aB2c3D4e", "token"),
        ("abc123def456ghi789jkl", "token"),
        ("eyJhbGciOiJIUzI1NiJ9", "token"),
        ("Zm9vYmFyYmF6cXV4MTIzNA==", "token"),
        ("john.doe@example.com", "email"),
        ("a+tag@mail.example.co.uk", "email"),
        ("a%40b.com", "email"),  # decoded for the shape
        ("%31%37", "id"),
        ("20241302", "id"),  # 8 digits that are no date: an integer
        ("19000101", "id"),  # compact dates only from 1970 to 2099
    ],
)
def test_identifier_shapes(segment: str, kind: str) -> None:
    assert segment_kind(segment) == kind


@pytest.mark.parametrize(
    "segment",
    [
        "",
        "v1",
        "v2",
        "V3",
        "v2.1",
        "v2024",  # a version, however long
        "api",
        "users",
        "me",
        "README",
        "html5",
        "page2",
        "2fa",
        "page-2",
        "ipv6",
        "x86_64",
        "sha256",
        "utf-8",
        "en-US",
        "index.html",
        "1.5",
        "2.0",
        "e5",
        "-",
        "iso8601",  # a word and a year-like number: 4 digits are not enough for an id
        "fy2024",
        "post-2024",
        "deadbeefdeadbeef",  # hex letters without a digit
        "0a1b2c3d4e5f",  # hex, but too short to be sure
        "2024-13-01",  # no such month
        "my-first-blog-post-2024",  # long slug, digits, but no token
        "learning-html5-and-css3",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "not-an@email",
        "%7Bid%7D",
        "192.168.0.1",
    ],
)
def test_words_stay_literal(segment: str) -> None:
    assert segment_kind(segment) is None


@pytest.mark.parametrize(
    ("segment", "shape"),
    [
        ("17", "{id}"),
        ("17.json", "{id}.json"),
        (f"{UUID}.xml", "{uuid}.xml"),
        ("2024-01-02.csv", "{date}.csv"),
        ("index.html", None),
        ("17.", None),
        ("17.verylongext", None),
        ("{id}", "{id}"),  # already a template: kept
        ("{id}.json", "{id}.json"),
        ("users", None),
    ],
)
def test_shape_of_keeps_extensions(segment: str, shape: str | None) -> None:
    assert shape_of(segment) == shape


@pytest.mark.parametrize(
    ("previous", "placeholder"),
    [
        ("users", "{user}"),
        ("categories", "{category}"),
        ("boxes", "{box}"),
        ("addresses", "{address}"),
        ("matches", "{match}"),
        ("line-items", "{line_item}"),
        ("Posts", "{post}"),
        ("blog", "{param}"),
        ("status", "{param}"),
        ("analysis", "{param}"),
        ("class", "{param}"),
        ("", "{param}"),
        ("{id}", "{param}"),
        ("s", "{param}"),
    ],
)
def test_folded_placeholders_are_named_after_the_plural_before_them(
    previous: str, placeholder: str
) -> None:
    assert placeholder_for(previous) == placeholder


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("/", []),
        ("//", []),
        ("/a", ["a"]),
        ("/a/", ["a"]),
        ("/a///", ["a"]),
        ("/a?x=1", ["a"]),
        ("/a/?x=1/2", ["a"]),
        ("/a//b", ["a", "", "b"]),
        ("//a", ["", "a"]),
        ("*", None),
        ("http://host/a", None),
    ],
)
def test_split_path(path: str, segments: list[str] | None) -> None:
    assert split_path(path) == segments


# --- templates by shape ----------------------------------------------------------------------


def test_the_issue_example_needs_no_rules() -> None:
    templater = learned(["/api/users/17", "/api/users/42"])
    endpoints = {templater.template("GET", p) for p in ("/api/users/17", "/api/users/42")}
    assert endpoints == {"GET /api/users/{id}"}


def test_shapes_need_no_learning() -> None:
    templater = EndpointTemplater()
    assert templater.template("get", f"/api/orders/{UUID}/items") == "GET /api/orders/{uuid}/items"
    assert templater.template("GET", "/api/users/17.json") == "GET /api/users/{id}.json"


def test_nested_identifiers() -> None:
    templater = EndpointTemplater()
    path = f"/api/users/17/orders/{OBJECT_ID}/lines/3"
    assert templater.template("DELETE", path) == "DELETE /api/users/{id}/orders/{hex}/lines/{id}"


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/", "GET /"),
        ("/api/users/17/", "GET /api/users/{id}"),
        ("/api/users/17?expand=orders", "GET /api/users/{id}"),
        ("/a//17", "GET /a//{id}"),  # an empty segment is kept as it is
        ("/files/caf%C3%A9", "GET /files/caf%C3%A9"),  # literal text stays encoded
        ("/people/jane%40example.com", "GET /people/{email}"),
        ("/v1/users/me", "GET /v1/users/me"),
        ("*", "GET *"),
    ],
)
def test_paths_are_normalised_before_templating(path: str, endpoint: str) -> None:
    assert EndpointTemplater().template("GET", path) == endpoint


def test_low_cardinality_stays_literal() -> None:
    paths = ["/api/status", "/api/health", "/api/users/me", "/api/users/17"] * 50
    templater = learned(paths)
    assert templater.template("GET", "/api/status") == "GET /api/status"
    assert templater.template("GET", "/api/health") == "GET /api/health"
    assert templater.template("GET", "/api/users/me") == "GET /api/users/me"


# --- templates by cardinality ----------------------------------------------------------------


def test_many_slugs_fold_into_a_param() -> None:
    templater = learned([f"/blog/{slug(n)}" for n in range(30)])
    assert templater.template("GET", f"/blog/{slug(3)}") == "GET /blog/{param}"
    assert templater.template("GET", "/blog/never-seen") == "GET /blog/{param}"
    assert templater.template("GET", "/blog") == "GET /blog"


def test_a_fold_is_named_after_a_plural_collection() -> None:
    templater = learned([f"/api/users/{slug(n)}/repos" for n in range(21)])
    assert templater.template("GET", "/api/users/alice/repos") == "GET /api/users/{user}/repos"


def test_a_position_folds_on_one_value_more_than_max_literals() -> None:
    templater = learned([f"/tags/{slug(n)}" for n in range(5)], max_literals=5)
    assert templater.template("GET", f"/tags/{slug(0)}") == f"GET /tags/{slug(0)}"
    templater.observe("GET", "/tags/one-more")
    assert templater.template("GET", f"/tags/{slug(0)}") == "GET /tags/{tag}"


def test_repeats_do_not_count_as_distinct_values() -> None:
    templater = learned(["/api/status", "/api/health"] * 1000, max_literals=2)
    assert templater.template("GET", "/api/status") == "GET /api/status"


def test_a_folded_position_never_unfolds() -> None:
    templater = learned([f"/tags/{slug(n)}" for n in range(3)], max_literals=2)
    for _ in range(100):
        templater.observe("GET", "/tags/popular")
    assert templater.template("GET", "/tags/popular") == "GET /tags/{tag}"


def test_shapes_win_over_a_fold_and_do_not_count_towards_it() -> None:
    paths = [f"/users/{n}" for n in range(100)] + ["/users/me", "/users/search"]
    templater = learned(paths, max_literals=2)
    assert templater.template("GET", "/users/me") == "GET /users/me"
    templater.observe("GET", "/users/alice")
    assert templater.template("GET", "/users/me") == "GET /users/{user}"
    assert templater.template("GET", "/users/17") == "GET /users/{id}"


def test_positions_fold_under_their_own_prefix() -> None:
    paths = [f"/users/{n}/files/{slug(n)}" for n in range(30)] + ["/groups/7/files/notes"]
    templater = learned(paths)
    assert templater.template("GET", "/users/1/files/x") == "GET /users/{id}/files/{file}"
    assert templater.template("GET", "/groups/7/files/notes") == "GET /groups/{id}/files/notes"


def test_deeper_positions_are_learned_under_the_fold() -> None:
    paths = [f"/p/{slug(n)}/{slug(m)}" for n in range(25) for m in range(25)]
    templater = learned(paths)
    assert templater.template("GET", "/p/x/y") == "GET /p/{param}/{param}"


def test_the_same_observations_give_the_same_templates() -> None:
    paths = [f"/r/{slug(n % 40)}/s/{slug(n % 7)}" for n in range(500)]
    first, second = learned(paths, max_literals=10), learned(paths, max_literals=10)
    assert [first.template("PUT", p) for p in paths] == [second.template("PUT", p) for p in paths]


def test_methods_share_positions() -> None:
    templater = EndpointTemplater(max_literals=2)
    for method, name in [("GET", "a"), ("DELETE", "b"), ("PUT", "c")]:
        templater.observe(method, f"/items/{name}")
    assert templater.template("PATCH", "/items/z") == "PATCH /items/{item}"


# --- bounded memory --------------------------------------------------------------------------


def test_memory_stays_bounded_under_distinct_slugs() -> None:
    templater = EndpointTemplater()
    largest = 0
    for n in range(100_000):
        templater.observe("GET", f"/blog/{slug(n)}")
        if n % 1000 == 0 or n < 50:
            largest = max(largest, templater.node_count)
    assert largest <= 2 + templater.max_literals + 1  # root, `blog`, its values
    assert templater.node_count == 3  # root, `blog`, `{param}`: the values were forgotten


def test_memory_stays_bounded_under_deep_distinct_paths() -> None:
    templater = EndpointTemplater(max_literals=1000, max_nodes=50)
    for n in range(2000):
        templater.observe("GET", f"/{slug(n)}/{slug(n + 1)}/{slug(n + 2)}")
    assert templater.node_count <= 50
    assert templater.template("GET", "/x/17") == "GET /x/{id}"  # shapes still work


def test_a_very_deep_path_folds_without_recursion() -> None:
    templater = EndpointTemplater(max_literals=1)
    templater.observe("GET", "/a/" + "/".join(["x"] * 5000))
    templater.observe("GET", "/b")
    assert templater.node_count == 2  # root and `{param}`: the deep subtree was forgotten
    assert templater.template("GET", "/c/x") == "GET /{param}/x"


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        EndpointTemplater(max_literals=0)


# --- rules first -----------------------------------------------------------------------------


def make_rules(*matches: str) -> RuleSet:
    rules = [EndpointRule(m, pattern=compile_template(m.partition(" ")[2])) for m in matches]
    return RuleSet(tuple(sorted(rules, key=lambda r: specificity(r.match))))


def test_a_rules_match_wins() -> None:
    rules = make_rules("GET /api/users/{user_id}", "* /static/**")
    templater = EndpointTemplater()
    assert (
        templated_endpoint(rules, templater, "GET", "/api/users/17") == "GET /api/users/{user_id}"
    )
    assert templated_endpoint(rules, templater, "GET", "/static/a/17.js") == "* /static/**"
    assert templated_endpoint(rules, templater, "POST", "/api/users/17") == "POST /api/users/{id}"


def test_a_literal_rule_wins_over_a_fold() -> None:
    rules = make_rules("GET /users/me")
    templater = learned(["/users/a", "/users/b", "/users/c"], max_literals=2)
    assert templated_endpoint(rules, templater, "GET", "/users/me") == "GET /users/me"
    assert templated_endpoint(rules, templater, "GET", "/users/bob") == "GET /users/{user}"


def test_without_rules_the_template_names_the_endpoint() -> None:
    templater = EndpointTemplater()
    assert templated_endpoint(RuleSet(), templater, "get", "/a/17/") == "GET /a/{id}"


# --- properties ------------------------------------------------------------------------------

SEGMENTS = st.one_of(
    st.sampled_from(["api", "users", "v1", "me", "blog", "items", "**", "{id}", "a.b", "%2F"]),
    st.integers(-10, 10**12).map(str),
    st.uuids().map(str),
    st.dates().map(str),
    st.emails().filter(lambda email: not set(email) & set("/?")),
    st.text("abcdef0123456789", min_size=16, max_size=40),
    st.text(st.characters(exclude_characters="/?", codec="utf-8"), min_size=1, max_size=12),
)
PATHS = st.builds(
    lambda segments, slash: "/" + "/".join(segments) + (slash if segments else ""),
    st.lists(SEGMENTS, max_size=6),
    st.sampled_from(["", "/"]),
)


@FAST
@given(st.lists(PATHS, max_size=30), PATHS)
def test_a_template_matches_the_path_it_names(history: list[str], path: str) -> None:
    templater = learned(history, max_literals=3)
    templater.observe("GET", path)
    template = templater.template("GET", path).partition(" ")[2]
    assert compile_template(template).fullmatch(path)


@FAST
@given(st.lists(PATHS, max_size=30), PATHS)
def test_templating_is_idempotent(history: list[str], path: str) -> None:
    templater = learned(history, max_literals=3)
    endpoint = templater.template("GET", path)
    assert templater.template("GET", endpoint.partition(" ")[2]) == endpoint
