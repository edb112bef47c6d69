"""GoReplay's --http-* filters and rewrites: parsing the flags, what each keeps, drops and edits,
the order they apply in, and that every byte not edited stays as recorded."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowdiff.errors import InputError
from shadowdiff.exchange import Request
from shadowdiff.testing import make_request
from shadowdiff.traffic.filters import basic_credentials, fnv1a32, is_sampled
from shadowdiff.traffic.rewrites import (
    find_param,
    python_template,
    replace_all,
    with_header,
    with_param,
)
from shadowdiff.traffic.shaping import Dropped, Shaping, parse_shaping, shape_request


def shape(request: Request, **flags: Any) -> Request | Dropped:
    return shape_request(request, parse_shaping(**flags))


def kept(request: Request, **flags: Any) -> Request:
    result = shape(request, **flags)
    assert isinstance(result, Request), result
    return result


def dropped(request: Request, **flags: Any) -> str:
    result = shape(request, **flags)
    assert isinstance(result, Dropped), result.to_bytes()
    return result.reason


def raw(*lines: str, body: bytes = b"", eol: str = "\r\n") -> Request:
    return Request.parse((eol.join(lines) + eol + eol).encode("latin-1") + body)


def basic(credentials: str) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())


# --- parsing -------------------------------------------------------------------------------


def test_empty_shaping() -> None:
    assert parse_shaping() == Shaping()
    assert Shaping().is_empty
    assert Shaping().describe() == {}
    assert not Shaping().sets_host


def test_parse_every_flag() -> None:
    shaping = parse_shaping(
        allow_method=("GET", "options"),
        allow_url=("/api",),
        disallow_url=("/api/admin",),
        allow_header=(r"api-version:^1\.0\d",),
        disallow_header=("User-Agent: Replayed by Gor",),
        basic_auth_filter=("^customer[0-9].*",),
        header_limiter="X-API-KEY: 10%",
        param_limiter="api_key: 10%",
        rewrite_url=(r"/v1/user/([^\/]+)/ping:/v2/user/$1/ping",),
        rewrite_header=("Host: ^(.*)$,$1.beta",),
        set_header=("User-Agent: Replayed by Gor",),
        set_param=("api_key=1",),
    )
    assert shaping.allow_methods == ("GET", "OPTIONS")
    assert [p.pattern for p in shaping.allow_urls] == ["/api"]
    assert [p.pattern for p in shaping.disallow_urls] == ["/api/admin"]
    assert [(n, p.pattern) for n, p in shaping.allow_headers] == [("api-version", r"^1\.0\d")]
    assert [(n, p.pattern) for n, p in shaping.disallow_headers] == [
        ("User-Agent", "Replayed by Gor")
    ]
    assert [p.pattern for p in shaping.basic_auth_filters] == ["^customer[0-9].*"]
    assert shaping.header_limiter == ("X-API-KEY", 10)
    assert shaping.param_limiter == ("api_key", 10)
    assert [(p.pattern, t) for p, t in shaping.rewrite_urls] == [
        (r"/v1/user/([^\/]+)/ping", r"/v2/user/\g<1>/ping")
    ]
    assert [(n, p.pattern, t) for n, p, t in shaping.rewrite_headers] == [
        ("Host", "^(.*)$", r"\g<1>.beta")
    ]
    assert shaping.set_headers == (("User-Agent", "Replayed by Gor"),)
    assert shaping.set_params == (("api_key", "1"),)
    assert not shaping.is_empty
    assert shaping.describe()["--http-allow-method"] == ["GET", "options"]
    assert shaping.describe()["--http-header-limiter"] == ["X-API-KEY: 10%"]
    assert len(shaping.describe()) == 12


@pytest.mark.parametrize(
    "value", [r"api-version:^1\.0\d", r"api-version: ^1\.0\d", r" api-version :  ^1\.0\d "]
)
def test_header_filter_colon_with_or_without_spaces(value: str) -> None:
    [(name, pattern)] = parse_shaping(allow_header=(value,)).allow_headers
    assert (name, pattern.pattern) == ("api-version", r"^1\.0\d")


def test_each_flag_alone_makes_shaping_non_empty() -> None:
    for flags in (
        {"allow_method": ("GET",)},
        {"disallow_url": ("x",)},
        {"header_limiter": "A: 1%"},
        {"set_param": ("a=1",)},
        {"rewrite_header": ("A: x,y",)},
    ):
        assert not parse_shaping(**flags).is_empty


def test_sets_host() -> None:
    assert parse_shaping(set_header=("host: staging.test",)).sets_host
    assert not parse_shaping(set_header=("X-Host: staging.test",)).sets_host
    assert not parse_shaping(rewrite_header=("Host: ^(.*)$,$1.beta",)).sets_host


@pytest.mark.parametrize(
    ("value", "percent"),
    [("10%", 10), ("0%", 0), ("100%", 100), (" 25% ", 25), ("1/10", 10), ("1/3", 33)],
)
def test_limiter_amounts(value: str, percent: int) -> None:
    assert parse_shaping(header_limiter=f"user-id:{value}").header_limiter == ("user-id", percent)


def test_limiter_fraction_truncates_like_go() -> None:
    # GoReplay computes uint32(float64(29) / float64(100) * 100) = 28.
    assert parse_shaping(param_limiter="user_id: 29/100").param_limiter == ("user_id", 28)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"allow_method": ("",)}, "--http-allow-method '': expected a method like GET"),
        ({"allow_method": ("GE T",)}, "--http-allow-method 'GE T': expected a method like GET"),
        (
            {"allow_url": ("/v1(",)},
            "--http-allow-url '/v1(': bad regular expression: "
            "missing ), unterminated subpattern at position 3",
        ),
        (
            {"disallow_url": ("*",)},
            "--http-disallow-url '*': bad regular expression: nothing to repeat at position 0",
        ),
        (
            {"allow_header": ("api-version",)},
            "--http-allow-header 'api-version': expected 'Name: regex'",
        ),
        ({"allow_header": (": x",)}, "--http-allow-header ': x': expected 'Name: regex'"),
        (
            {"disallow_header": ("User Agent: x",)},
            "--http-disallow-header 'User Agent: x': expected 'Name: regex'",
        ),
        (
            {"allow_header": ("X: [",)},
            "--http-allow-header 'X: [': bad regular expression: "
            "unterminated character set at position 0",
        ),
        (
            {"basic_auth_filter": ("(",)},
            "--http-basic-auth-filter '(': bad regular expression: "
            "missing ), unterminated subpattern at position 0",
        ),
        ({"header_limiter": "X-API-KEY"}, "--http-header-limiter 'X-API-KEY': expected 'Name: N%'"),
        (
            {"header_limiter": "X-API-KEY: 10"},
            "--http-header-limiter 'X-API-KEY: 10': expected 'Name: N%'",
        ),
        (
            {"header_limiter": "X-API-KEY: ten%"},
            "--http-header-limiter 'X-API-KEY: ten%': expected 'Name: N%'",
        ),
        (
            {"header_limiter": "X-API-KEY: 1/0"},
            "--http-header-limiter 'X-API-KEY: 1/0': expected 'Name: N%'",
        ),
        ({"header_limiter": ": 10%"}, "--http-header-limiter ': 10%': expected 'Name: N%'"),
        (
            {"header_limiter": "X-API-KEY: 101%"},
            "--http-header-limiter 'X-API-KEY: 101%': expected 'Name: N%' with N at most 100",
        ),
        (
            {"param_limiter": "api_key 10%"},
            "--http-param-limiter 'api_key 10%': expected 'name: N%'",
        ),
        (
            {"param_limiter": "api_key: 3/2"},
            "--http-param-limiter 'api_key: 3/2': expected 'name: N%' with N at most 100",
        ),
        ({"rewrite_url": ("/v1",)}, "--http-rewrite-url '/v1': expected 'regex:replacement'"),
        (
            {"rewrite_url": ("/v1(:/v2",)},
            "--http-rewrite-url '/v1(:/v2': bad regular expression: "
            "missing ), unterminated subpattern at position 3",
        ),
        (
            {"rewrite_url": ("(?:v1|v2)/x:/y",)},
            "--http-rewrite-url '(?:v1|v2)/x:/y': bad regular expression: unexpected end of "
            "pattern at position 2 (the pattern ends at the first ':')",
        ),
        (
            {"rewrite_url": ("/v1:/v 2",)},
            "--http-rewrite-url '/v1:/v 2': the replacement must be visible ASCII "
            "(percent-encode other characters)",
        ),
        (
            {"rewrite_header": ("Host ^(.*)$,$1.beta",)},
            "--http-rewrite-header 'Host ^(.*)$,$1.beta': expected 'Name: regex,replacement'",
        ),
        (
            {"rewrite_header": ("Host: ^(.*)$",)},
            "--http-rewrite-header 'Host: ^(.*)$': expected 'Name: regex,replacement'",
        ),
        (
            {"rewrite_header": ("Ho st: a,b",)},
            "--http-rewrite-header 'Ho st: a,b': expected 'Name: regex,replacement'",
        ),
        (
            {"rewrite_header": ("Host: (,b",)},
            "--http-rewrite-header 'Host: (,b': bad regular expression: "
            "missing ), unterminated subpattern at position 0",
        ),
        (
            {"rewrite_header": ("Host: a,b\nc",)},
            "--http-rewrite-header 'Host: a,b\nc': a header value cannot hold control characters",
        ),
        ({"set_header": ("User-Agent",)}, "--http-set-header 'User-Agent': expected 'Name: value'"),
        (
            {"set_header": ("User Agent: x",)},
            "--http-set-header 'User Agent: x': expected 'Name: value'",
        ),
        (
            {"set_header": ("X-A: 1\r\nX-B: 2",)},
            "--http-set-header 'X-A: 1\r\nX-B: 2': a header value cannot hold control characters",
        ),
        ({"set_param": ("api_key",)}, "--http-set-param 'api_key': expected 'name=value'"),
        ({"set_param": ("=1",)}, "--http-set-param '=1': expected 'name=value'"),
        (
            {"set_param": ("q=a b",)},
            "--http-set-param 'q=a b': expected visible ASCII (percent-encode other characters)",
        ),
        (
            {"set_param": ("q=é",)},
            "--http-set-param 'q=é': expected visible ASCII (percent-encode other characters)",
        ),
    ],
)
def test_bad_flag_values(flags: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_shaping(**flags)
    assert str(raised.value) == message
    assert raised.value.exit_code == 2


# --- filters -------------------------------------------------------------------------------


def test_allow_method_seed_example() -> None:
    flags = {"allow_method": ("GET", "OPTIONS")}
    assert kept(make_request("GET"), **flags) == make_request("GET")
    assert kept(make_request("OPTIONS"), **flags) == make_request("OPTIONS")
    assert dropped(make_request("POST"), **flags) == "--http-allow-method: not GET or OPTIONS"


def test_allow_method_flag_is_read_upper_case_and_compared_exactly() -> None:
    assert kept(make_request("DELETE"), allow_method=("delete",))
    assert dropped(raw("get / HTTP/1.1", "Host: a"), allow_method=("GET",))


def test_allow_url_seed_example_matches_anywhere_in_path_and_query() -> None:
    flags = {"allow_url": ("/api",)}
    assert kept(make_request(target="/api/users"), **flags)
    assert kept(make_request(target="/v2/api"), **flags)  # unanchored, like Go's MatchString
    assert kept(make_request(target="/search?next=/api"), **flags)  # the query is matched too
    assert dropped(make_request(target="/web"), **flags) == "--http-allow-url: no pattern matched"


def test_allow_url_keeps_when_any_pattern_matches() -> None:
    flags = {"allow_url": ("/v2/robot/query", "/v2/robot/input_hint", "/v1/robot/intention")}
    assert kept(make_request(target="/v2/robot/input_hint?q=1"), **flags)
    assert kept(make_request(target="/v1/robot/intention"), **flags)
    assert dropped(make_request(target="/v1/robot/query"), **flags)


def test_allow_url_sees_the_target_not_the_host() -> None:
    # The help text's `^www.` example cannot match: the request target has no host.
    request = make_request(target="/", headers=[("Host", "www.example.com")])
    assert dropped(request, allow_url=("^www.",)) == "--http-allow-url: no pattern matched"


def test_disallow_url_seed_example() -> None:
    assert kept(make_request(target="/web"), disallow_url=("/api",))
    assert dropped(make_request(target="/api/x"), disallow_url=("/web", "/api")) == (
        "--http-disallow-url: matched /api"
    )


def test_allow_header_seed_example() -> None:
    flags = {"allow_header": (r"api-version:^1\.0\d",)}
    assert kept(make_request(headers=[("api-version", "1.01")]), **flags)
    assert kept(make_request(headers=[("API-Version", "1.09-beta")]), **flags)  # any name case
    assert dropped(make_request(headers=[("api-version", "1.1")]), **flags) == (
        r"--http-allow-header api-version: no match for ^1\.0\d"
    )
    assert dropped(make_request(), **flags) == "--http-allow-header api-version: missing"
    assert dropped(make_request(headers=[("api-version", "")]), **flags) == (
        "--http-allow-header api-version: missing"
    )


def test_allow_headers_must_all_match() -> None:
    flags = {"allow_header": ("A: ^1$", "B: ^2$")}
    assert kept(make_request(headers=[("A", "1"), ("B", "2")]), **flags)
    assert dropped(make_request(headers=[("A", "1"), ("B", "3")]), **flags) == (
        "--http-allow-header B: no match for ^2$"
    )


def test_allow_header_looks_at_the_first_field_of_that_name() -> None:
    request = make_request(headers=[("X-Tenant", "a"), ("X-Tenant", "b")])
    assert kept(request, allow_header=("X-Tenant: ^a$",))
    assert dropped(request, allow_header=("X-Tenant: ^b$",))


def test_disallow_header_seed_example() -> None:
    flags = {"disallow_header": ("User-Agent: Replayed by Gor",)}
    assert kept(make_request(headers=[("User-Agent", "curl/8")]), **flags)
    assert kept(make_request(), **flags)  # missing: nothing to match
    assert dropped(make_request(headers=[("user-agent", "Replayed by Gor v2")]), **flags) == (
        "--http-disallow-header User-Agent: matched Replayed by Gor"
    )


def test_basic_auth_filter_seed_example() -> None:
    flags = {"basic_auth_filter": ("^customer[0-9].*",)}
    assert kept(make_request(headers=[basic("customer7:secret")]), **flags)
    assert dropped(make_request(headers=[basic("admin:secret")]), **flags) == (
        "--http-basic-auth-filter: no match for ^customer[0-9].*"
    )


def test_basic_auth_filter_passes_requests_without_basic_credentials() -> None:
    # GoReplay only judges Basic credentials that are there.
    flags = {"basic_auth_filter": ("^customer",)}
    assert kept(make_request(), **flags)
    assert kept(make_request(headers=[("Authorization", "Bearer abc")]), **flags)


def test_basic_auth_filters_must_all_match() -> None:
    flags = {"basic_auth_filter": ("^customer", ":secret$")}
    assert kept(make_request(headers=[basic("customer1:secret")]), **flags)
    assert dropped(make_request(headers=[basic("customer1:other")]), **flags)


def test_basic_credentials() -> None:
    assert basic_credentials("Basic " + base64.b64encode(b"u:p\xc3\xa9").decode()) == "u:pé"
    assert basic_credentials("Basic !!!") == ""
    assert basic_credentials("Bearer x") is None
    assert basic_credentials(None) is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", 0x811C9DC5), (b"a", 0xE40C292C), (b"foobar", 0xBF9CF968)],
)
def test_fnv1a32_known_vectors(data: bytes, expected: int) -> None:
    assert fnv1a32(data) == expected


def test_header_limiter_seed_example() -> None:
    shaping = parse_shaping(header_limiter="X-API-KEY: 10%")
    decisions = {}
    for i in range(200):
        key = f"key-{i}"
        result = shape_request(make_request(headers=[("X-API-KEY", key)]), shaping)
        decisions[key] = isinstance(result, Request)
        assert decisions[key] == (fnv1a32(key.encode()) % 100 < 10)
        if not decisions[key]:
            assert result == Dropped("--http-header-limiter X-API-KEY: 10%")
    assert any(decisions.values()) and not all(decisions.values())


def test_limiter_is_consistent() -> None:
    shaping = parse_shaping(header_limiter="user-id: 25%")
    for i in range(100):
        request = make_request(target=f"/r/{i}", headers=[("User-Id", "user-42")])
        again = make_request("POST", "/other", headers=[("user-id", "user-42")])
        assert isinstance(shape_request(request, shaping), Request) == isinstance(
            shape_request(again, shaping), Request
        )


@pytest.mark.parametrize("percent", [10, 25, 50])
def test_limiter_keeps_about_n_percent_of_distinct_values(percent: int) -> None:
    kept_count = sum(is_sampled(f"user-{i}", percent) for i in range(10_000))
    assert abs(kept_count - percent * 100) < 150


def test_limiter_bounds() -> None:
    values = [f"user-{i}" for i in range(500)]
    assert not any(is_sampled(value, 0) for value in values)
    assert all(is_sampled(value, 100) for value in values)


def test_header_limiter_passes_requests_without_the_header() -> None:
    flags = {"header_limiter": "X-API-KEY: 0%"}
    assert kept(make_request(), **flags)
    assert kept(make_request(headers=[("X-API-KEY", "")]), **flags)
    assert dropped(make_request(headers=[("X-API-KEY", "k")]), **flags)


def test_param_limiter_seed_example() -> None:
    shaping = parse_shaping(param_limiter="api_key: 10%")
    for i in range(200):
        key = f"k{i}"
        result = shape_request(make_request(target=f"/p?a=1&api_key={key}&b=2"), shaping)
        assert isinstance(result, Request) == (fnv1a32(key.encode()) % 100 < 10)
        if isinstance(result, Dropped):
            assert result.reason == "--http-param-limiter api_key: 10%"


def test_param_limiter_hashes_the_raw_value_and_passes_requests_without_it() -> None:
    flags = {"param_limiter": "api_key: 0%"}
    assert kept(make_request(target="/api_key=1"), **flags)  # in the path, not the query
    assert kept(make_request(target="/p?my_api_key=1"), **flags)
    assert kept(make_request(target="/p?api_key"), **flags)  # no '=': no value
    assert dropped(make_request(target="/p?api_key="), **flags)  # an empty value is hashed
    assert dropped(make_request(target="/p?x=1&api_key=a%20b"), **flags)


# --- rewrites ------------------------------------------------------------------------------


def test_rewrite_url_seed_example() -> None:
    flags = {"rewrite_url": (r"/v1/user/([^\/]+)/ping:/v2/user/$1/ping",)}
    request = make_request(target="/v1/user/ab-12/ping?x=1", headers=[("X-A", "b")])
    result = kept(request, **flags)
    assert result.target == "/v2/user/ab-12/ping?x=1"
    assert result.to_bytes() == request.to_bytes().replace(b"/v1/", b"/v2/", 1)
    untouched = make_request(target="/v1/user/ab-12/pong")
    assert kept(untouched, **flags) is untouched


def test_rewrite_url_only_the_first_matching_rule_applies() -> None:
    flags = {"rewrite_url": ("^/a:/b", "^/b:/c", "^/x:/y")}
    assert kept(make_request(target="/a"), **flags).target == "/b"
    assert kept(make_request(target="/b"), **flags).target == "/c"


def test_rewrite_url_replaces_every_match() -> None:
    assert kept(make_request(target="/v1/x/v1"), rewrite_url=("v1:v2",)).target == "/v2/x/v2"


def test_rewrite_url_splits_at_the_first_colon() -> None:
    [(pattern, template)] = parse_shaping(rewrite_url=("^/old:/new?a=b:c",)).rewrite_urls
    assert (pattern.pattern, template) == ("^/old", "/new?a=b:c")
    assert kept(make_request(target="/old/x"), rewrite_url=("^/old:/new:",)).target == "/new:/x"


def test_rewrite_url_to_an_empty_target_is_dropped() -> None:
    reason = dropped(make_request(target="/x"), rewrite_url=("^.*$:",))
    assert reason.startswith("--http-rewrite-url: the edited request is not valid HTTP (")


def test_rewrite_header_example() -> None:
    result = kept(make_request(), rewrite_header=("Host: ^(.*)$,$1.beta",))
    assert result.header("Host") == "origin.test.beta"


def test_rewrite_header_rules_apply_in_turn() -> None:
    request = make_request(headers=[("X-Env", "prod"), ("X-Region", "eu")])
    result = kept(
        request, rewrite_header=("X-Env: prod,staging", "X-Env: staging,qa", "X-Region: eu,us")
    )
    assert (result.header("X-Env"), result.header("X-Region")) == ("qa", "us")


def test_rewrite_header_stops_at_a_rule_whose_header_is_absent() -> None:
    # GoReplay's quirk: the rules after one whose header is absent are skipped.
    request = make_request(headers=[("X-Region", "eu")])
    flags = {"rewrite_header": ("X-Env: prod,staging", "X-Region: eu,us")}
    assert kept(request, **flags) is request
    flags = {"rewrite_header": ("X-Region: eu,us", "X-Env: prod,staging")}
    assert kept(request, **flags).header("X-Region") == "us"


def test_rewrite_header_that_does_not_match_keeps_the_request() -> None:
    request = make_request(headers=[("X-Env", "prod")])
    assert kept(request, rewrite_header=("X-Env: ^dev$,qa",)) is request


def test_set_header_overwrites_in_place() -> None:
    request = raw("GET / HTTP/1.1", "host:  a.test", "user-agent:curl/8 ", "Accept: */*")
    result = kept(request, set_header=("User-Agent: Replayed by Gor",))
    assert result.head == (
        b"GET / HTTP/1.1\r\nhost:  a.test\r\nuser-agent:Replayed by Gor \r\nAccept: */*\r\n\r\n"
    )


def test_set_header_appends_a_missing_header_last() -> None:
    request = make_request(headers=[("Accept", "*/*")])
    result = kept(request, set_header=("User-Agent: Replayed by Gor", "Enable-Feature-X: true"))
    assert result.head == request.head.removesuffix(b"\r\n") + (
        b"User-Agent: Replayed by Gor\r\nEnable-Feature-X: true\r\n\r\n"
    )


def test_set_header_keeps_lf_line_endings() -> None:
    request = raw("GET / HTTP/1.1", "Host: a", "X-A: 1", eol="\n")
    result = kept(request, set_header=("X-A: 2", "X-B: 3"))
    assert result.head == b"GET / HTTP/1.1\nHost: a\nX-A: 2\nX-B: 3\n\n"


def test_set_header_replaces_a_folded_value_whole() -> None:
    request = raw("GET / HTTP/1.1", "Host: a", "X-Folded: one", " two", "Accept: */*", eol="\n")
    assert request.header("X-Folded") == "one two"
    result = kept(request, set_header=("X-Folded: three",))
    assert result.head == b"GET / HTTP/1.1\nHost: a\nX-Folded: three\nAccept: */*\n\n"


def test_set_header_to_the_same_value_returns_the_same_request() -> None:
    request = make_request(headers=[("X-A", "1")])
    assert kept(request, set_header=("X-A: 1",)) is request


def test_set_header_host() -> None:
    result = kept(make_request(), set_header=("Host: staging.test",))
    assert result.header("Host") == "staging.test"


def test_set_header_writes_utf8() -> None:
    result = kept(make_request(), set_header=("X-Name: José",))
    assert b"X-Name: Jos\xc3\xa9\r\n" in result.head


def test_set_header_that_breaks_framing_is_dropped() -> None:
    reason = dropped(make_request(), set_header=("Content-Length: many",))
    assert reason.startswith("--http-set-header: the edited request is not valid HTTP (")


def test_set_param_seed_example() -> None:
    flags = {"set_param": ("api_key=1",)}
    assert kept(make_request(target="/p"), **flags).target == "/p?api_key=1"
    assert kept(make_request(target="/p?a=%20"), **flags).target == "/p?a=%20&api_key=1"
    assert kept(make_request(target="/p?"), **flags).target == "/p?api_key=1"
    assert kept(make_request(target="/p?a=1&"), **flags).target == "/p?a=1&api_key=1"
    assert kept(make_request(target="/p?a=1&api_key=9&b=2"), **flags).target == (
        "/p?a=1&api_key=1&b=2"
    )
    assert kept(make_request(target="/p?api_key=&b"), **flags).target == "/p?api_key=1&b"
    same = make_request(target="/p?api_key=1")
    assert kept(same, **flags) is same


def test_params() -> None:
    assert find_param("/p?a=1&b=22", "b") == (9, 11)
    assert find_param("/p?ab=1", "b") is None
    assert find_param("/b=1", "b") is None
    assert with_param("/p?a=1&a=2", "a", "x") == "/p?a=x&a=2"  # the first occurrence


def test_body_is_kept_byte_for_byte() -> None:
    request = make_request("POST", "/v1/x", body=b"\x00\r\n\r\nGET / HTTP/1.1\r\n\r\n")
    result = kept(
        request,
        set_header=("X-A: 1",),
        set_param=("k=v",),
        rewrite_url=("/v1:/v2",),
        rewrite_header=("X-A: 1,2",),
    )
    assert result.body == request.body
    assert (result.target, result.header("X-A")) == ("/v2/x?k=v", "2")


# --- Go replacement templates --------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "text", "expected"),
    [
        ("<$1>", "ab", "<a>"),
        ("<${1}x>", "ab", "<ax>"),
        ("<$1x>", "ab", "<>"),  # Go reads `$1x` as the group named "1x"
        ("<$name>", "ab", "<b>"),
        ("<${name}>", "ab", "<b>"),
        ("<$3>", "ab", "<>"),  # no such group
        ("<$01>", "ab", "<>"),  # a leading zero makes a name, not a number
        ("<$$1>", "ab", "<$1>"),
        ("<$>", "ab", "<$>"),
        ("<${1>", "ab", "<${1>"),
        ("<$0>", "ab", "<ab>"),
        (r"<\1\n>", "ab", r"<\1\n>"),  # backslashes are literal in Go
    ],
)
def test_go_templates(template: str, text: str, expected: str) -> None:
    pattern = re.compile("(a)(?P<name>b)")
    assert replace_all(pattern, python_template(template, pattern), text) == expected


def test_unmatched_group_expands_to_nothing() -> None:
    pattern = re.compile("(a)|(b)")
    assert replace_all(pattern, python_template("[$1$2]", pattern), "ab") == "[a][b]"


@pytest.mark.parametrize(
    ("regex", "text", "expected"),
    [
        ("x*", "abxd", "-a-b-d-"),  # Python's re.sub gives "-a-b--d-"
        ("a|", "baaac", "-b---c-"),  # re.sub: "-b----c-"
        ("(|a)", "a", "-a-"),
        ("^", "ab", "-ab"),
        ("b", "abcb", "a-c-"),
    ],
)
def test_replace_all_follows_go(regex: str, text: str, expected: str) -> None:
    assert replace_all(re.compile(regex), "-", text) == expected


def test_regexes_are_ascii_like_go() -> None:
    assert dropped(make_request(target="/%C3%A9"), allow_url=(r"^/\w$",))
    request = make_request(headers=[("X-Name", "é")])  # \w matches no Latin-1 letter in Go
    assert dropped(request, allow_header=(r"X-Name: ^\w$",))


# --- order of application ------------------------------------------------------------------


def test_allow_method_comes_before_set_header() -> None:
    assert dropped(make_request("POST"), allow_method=("GET",), set_header=("Host: x",)) == (
        "--http-allow-method: not GET"
    )


def test_allow_header_sees_the_value_set_header_wrote() -> None:
    flags = {"set_header": ("api-version: 1.05",), "allow_header": (r"api-version:^1\.0\d",)}
    assert kept(make_request(headers=[("api-version", "2.0")]), **flags).header("api-version") == (
        "1.05"
    )
    assert kept(make_request(), **flags)


def test_url_filters_and_param_limiter_see_what_set_param_wrote() -> None:
    assert kept(make_request(target="/p"), set_param=("v=2",), allow_url=("v=2",))
    assert dropped(make_request(target="/p?v=2"), set_param=("v=3",), allow_url=("v=2",))
    assert dropped(make_request(target="/p"), set_param=("k=1",), param_limiter="k: 0%")


def test_url_filters_see_the_target_before_rewrite_url() -> None:
    flags = {"allow_url": ("^/v1/",), "rewrite_url": ("^/v1/:/v2/",)}
    assert kept(make_request(target="/v1/x"), **flags).target == "/v2/x"
    flags = {"disallow_url": ("^/v2/",), "rewrite_url": ("^/v1/:/v2/",)}
    assert kept(make_request(target="/v1/x"), **flags).target == "/v2/x"


def test_header_filters_see_the_value_before_rewrite_header() -> None:
    flags = {"allow_header": ("X-Env: ^prod$",), "rewrite_header": ("X-Env: prod,staging",)}
    assert kept(make_request(headers=[("X-Env", "prod")]), **flags).header("X-Env") == "staging"


def test_first_filter_that_drops_gives_the_reason() -> None:
    request = make_request(target="/admin", headers=[("X-A", "1")])
    reason = dropped(request, disallow_url=("admin",), disallow_header=("X-A: 1",))
    assert reason == "--http-disallow-url: matched admin"


# --- byte-faithfulness ---------------------------------------------------------------------

_NAMES = st.from_regex(r"X-[A-Za-z0-9-]{1,10}", fullmatch=True)
_VALUES = st.from_regex(r"[!-~]([ !-~]{0,20}[!-~])?", fullmatch=True)
_FIELDS = st.lists(
    st.tuples(_NAMES, st.sampled_from(["", " ", "  ", "\t"]), _VALUES, st.sampled_from(["", " "])),
    min_size=1,
    max_size=8,
    unique_by=lambda field: field[0].lower(),
)


@st.composite
def recorded_requests(draw: st.DrawFn) -> tuple[Request, list[str], str]:
    """A request with varied spacing and line endings: (request, its head lines, its eol)."""
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    target = draw(st.from_regex(r"/[!-~]{0,20}", fullmatch=True))
    lines = [f"{draw(st.sampled_from(['GET', 'POST', 'PATCH']))} {target} HTTP/1.1", "Host: h"]
    lines += [f"{name}:{gap}{value}{tail}" for name, gap, value, tail in draw(_FIELDS)]
    body = draw(st.binary(max_size=40))
    lines.append(f"Content-Length: {len(body)}")
    return raw(*lines, body=body, eol=eol), lines, eol


@given(recorded_requests())
def test_empty_shaping_returns_the_request_itself(case: tuple[Request, list[str], str]) -> None:
    request, _, _ = case
    assert shape_request(request, Shaping()) is request


@given(recorded_requests(), st.data())
def test_set_header_changes_only_that_line(
    case: tuple[Request, list[str], str], data: st.DataObject
) -> None:
    request, lines, eol = case
    index = data.draw(st.integers(2, len(lines) - 2))  # one of the X- fields
    name = lines[index].partition(":")[0]
    new_value = data.draw(_VALUES)
    typed = data.draw(st.sampled_from([name, name.upper(), name.lower()]))
    result = kept(request, set_header=(f"{typed}: {new_value}",))
    field = re.fullmatch(r"([^:]+:[ \t]*)(.*?)([ \t]*)", lines[index])
    assert field is not None
    expected = [*lines]
    expected[index] = field[1] + new_value + field[3]
    assert result.to_bytes() == (eol.join(expected) + eol + eol).encode() + request.body
    assert result.header(name) == new_value


@given(recorded_requests())
def test_set_header_of_a_new_name_appends_one_line(case: tuple[Request, list[str], str]) -> None:
    request, lines, eol = case
    result = kept(request, set_header=("Y-New: v",))
    assert result.to_bytes() == (eol.join([*lines, "Y-New: v"]) + eol + eol).encode() + request.body


def test_with_header_on_a_head_without_fields() -> None:
    assert with_header(b"GET / HTTP/1.0\r\n\r\n", "X-A", "1") == b"GET / HTTP/1.0\r\nX-A: 1\r\n\r\n"
