"""Header comparison: case-insensitive names, volatile headers, Set-Cookie, rule ignore/compare."""

from __future__ import annotations

import pytest

from shadowdiff.compare.headers import VOLATILE, diff_headers, header_values
from shadowdiff.compare.model import Difference
from shadowdiff.http1 import HeaderPairs
from shadowdiff.rules.model import EndpointRule

PLAIN = EndpointRule("GET /x")


def diff(old: HeaderPairs, new: HeaderPairs, rule: EndpointRule = PLAIN) -> list[Difference]:
    return diff_headers(old, new, rule)


def test_equal_headers_have_no_differences() -> None:
    headers = (("Content-Type", "application/json"), ("Cache-Control", "no-store"))
    assert diff(headers, headers) == []


def test_names_compare_case_insensitively_and_in_any_order() -> None:
    old = (("Content-Type", "application/json"), ("X-Api-Version", "2"))
    new = (("x-api-version", "2"), ("CONTENT-TYPE", "application/json"))
    assert diff(old, new) == []


def test_a_changed_value_is_reported_under_the_lowercase_name() -> None:
    old = (("Content-Type", "application/json"),)
    new = (("content-type", "text/html"),)
    assert diff(old, new) == [
        Difference("headers.content-type", "header_changed", "application/json", "text/html")
    ]


def test_values_are_case_sensitive_but_surrounding_space_is_not() -> None:
    assert diff((("X-Mode", "fast"),), (("X-Mode", " fast "),)) == []
    assert diff((("X-Mode", "fast"),), (("X-Mode", "Fast"),)) == [
        Difference("headers.x-mode", "header_changed", "fast", "Fast")
    ]


def test_a_missing_or_added_header_has_none_on_the_other_side() -> None:
    old = (("Cache-Control", "no-store"),)
    new = (("X-Frame-Options", "DENY"),)
    assert diff(old, new) == [
        Difference("headers.cache-control", "header_changed", "no-store", None),
        Difference("headers.x-frame-options", "header_changed", None, "DENY"),
    ]


def test_repeated_headers_compare_as_their_values_in_order() -> None:
    old = (("Vary", "Accept"), ("Vary", "Origin"))
    assert diff(old, (("vary", "Accept"), ("VARY", "Origin"))) == []
    assert diff(old, (("Vary", "Origin"), ("Vary", "Accept"))) == [
        Difference("headers.vary", "header_changed", "Accept\nOrigin", "Origin\nAccept")
    ]


@pytest.mark.parametrize(
    "name",
    ["Date", "Server", "X-Request-Id", "x-trace-id", "Traceparent", "ETag", "Age", "Via", "CF-Ray"],
)
def test_volatile_headers_are_ignored_by_default(name: str) -> None:
    assert name.lower() in VOLATILE
    assert diff(((name, "a"),), ((name, "b"),)) == []
    assert diff(((name, "a"),), ()) == []


def test_content_length_is_never_compared_unless_a_rule_lists_it() -> None:
    old, new = (("Content-Length", "10"),), (("Content-Length", "12"),)
    assert diff(old, new) == []
    assert diff(old, new, EndpointRule("GET /x", header_ignore=frozenset({"x-other"}))) == []
    listed = EndpointRule("GET /x", header_compare=frozenset({"content-length"}))
    assert diff(old, new, listed) == [
        Difference("headers.content-length", "header_changed", "10", "12")
    ]


def test_a_rule_ignores_more_headers() -> None:
    rule = EndpointRule("GET /x", header_ignore=frozenset({"x-build", "content-type"}))
    old = (("X-Build", "1"), ("Content-Type", "a"), ("X-Kept", "1"))
    new = (("x-build", "2"), ("Content-Type", "b"), ("X-Kept", "2"))
    assert diff(old, new, rule) == [Difference("headers.x-kept", "header_changed", "1", "2")]


def test_a_rule_compares_a_volatile_header_it_lists() -> None:
    rule = EndpointRule(
        "GET /x", header_ignore=frozenset({"etag"}), header_compare=frozenset({"etag"})
    )
    old, new = (("ETag", '"v1"'), ("Date", "a")), (("ETag", '"v2"'), ("Date", "b"))
    assert diff(old, new, rule) == [Difference("headers.etag", "header_changed", '"v1"', '"v2"')]


def test_set_cookie_expiry_is_not_a_difference() -> None:
    old = (
        ("Set-Cookie", "session=abc; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/; HttpOnly"),
        ("Set-Cookie", "theme=dark; Max-Age=3600"),
    )
    new = (
        ("set-cookie", "theme=dark; max-age=3599"),  # another order, another expiry
        ("set-cookie", "session=abc; expires=Thu, 22 Oct 2026 07:28:01 GMT; Path=/; HttpOnly"),
    )
    assert diff(old, new) == []


def test_set_cookie_values_and_attributes_still_compare() -> None:
    old = (("Set-Cookie", "session=abc; Path=/; HttpOnly"),)
    assert diff(old, (("Set-Cookie", "session=xyz; Path=/; HttpOnly"),)) == [
        Difference(
            "headers.set-cookie",
            "header_changed",
            "session=abc; Path=/; HttpOnly",
            "session=xyz; Path=/; HttpOnly",
        )
    ]
    assert diff(old, (("Set-Cookie", "session=abc; Path=/"),)) != []
    assert diff(old, ()) != []


def test_header_values() -> None:
    headers = (
        ("Content-Type", " application/json "),
        ("Set-Cookie", "b=2; Max-Age=5"),
        ("Set-Cookie", "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure"),
        ("Vary", "Origin"),
        ("vary", "Accept"),
    )
    assert header_values(headers) == {
        "content-type": "application/json",
        "set-cookie": "a=1; Secure\nb=2",
        "vary": "Origin\nAccept",
    }
