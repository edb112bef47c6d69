"""Redaction before storage: headers, cookies, JSON paths, results; nothing secret is left."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowdiff.compare import compare_responses
from shadowdiff.compare.model import DIFFERS, ERROR, SAME, Comparison, Difference
from shadowdiff.errors import InputError
from shadowdiff.exchange import Request, Response
from shadowdiff.http1 import encode_chunked
from shadowdiff.redact import Redaction, redact_request, redact_response, redact_result
from shadowdiff.rules.model import Assertion, EndpointRule
from shadowdiff.store.writer import ExchangeResult
from shadowdiff.testing import make_exchange, make_request, make_response

KEY = b"k" * 32
REDACTION = Redaction(KEY, frozenset({"X-Api-Key"}), ("$.items[*].token", "$..password", "$.card"))
SECRETS = ("s3cret-bearer", "sess10n-id", "api-key-123", "tok-abcdef", "hunter2-pw", "4111-card")
PLAIN = EndpointRule("GET /x")


def tok(value: str) -> str:
    return REDACTION.token(value)


def response(body: Any, *headers: tuple[str, str]) -> Response:
    return make_response(json=body, headers=headers)


def assert_hidden(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text)


def result_of(baseline: Response, candidate: Response, rule: EndpointRule) -> ExchangeResult:
    request = make_request(headers=[("Authorization", "Bearer s3cret-bearer")])
    comparison = compare_responses(baseline, candidate, rule)
    return ExchangeResult(
        make_exchange(request, baseline), rule.match, comparison, baseline, candidate
    )


# --- tokens and configuration ------------------------------------------------------------------


def test_tokens_are_keyed_deterministic_hashes() -> None:
    assert tok("abc") == REDACTION.token(b"abc") == tok("abc")
    assert tok("abc").startswith("redacted:") and len(tok("abc")) == len("redacted:") + 16
    assert tok("abc") != tok("abd")
    assert Redaction(b"other key").token("abc") != tok("abc")


def test_default_headers_always_apply_and_the_key_stays_out_of_repr() -> None:
    assert {"authorization", "cookie", "set-cookie", "x-api-key"} <= REDACTION.headers
    assert repr(KEY) not in repr(REDACTION)


@pytest.mark.parametrize("options", [{"key": b""}, {"key": KEY, "json_paths": ("$.[",)}])
def test_bad_configuration_is_one_clear_error(options: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="redaction"):
        Redaction(**options)


# --- headers -----------------------------------------------------------------------------------


def test_request_headers_are_replaced_in_place_byte_for_byte() -> None:
    raw = (
        b"POST /login HTTP/1.1\r\nHost: a\r\nauthorization:   Bearer s3cret-bearer  \r\n"
        b"Cookie: session=sess10n-id;theme=dark; flag\r\nX-API-KEY: api-key-123\r\n"
        b"Accept: */*\r\nContent-Length: 2\r\n\r\n{}"
    )
    redacted = redact_request(Request.parse(raw), REDACTION)
    expected = (
        raw.replace(b"Bearer s3cret-bearer", tok("Bearer s3cret-bearer").encode())
        .replace(b"sess10n-id", tok("sess10n-id").encode())
        .replace(b"=dark", b"=" + tok("dark").encode())
        .replace(b"flag", tok("flag").encode())
        .replace(b"api-key-123", tok("api-key-123").encode())
    )
    assert redacted.to_bytes() == expected
    assert redacted == Request.parse(expected)
    assert_hidden(repr(redacted), redacted.to_bytes())


def test_set_cookie_keeps_names_and_attributes_of_every_field() -> None:
    baseline = make_response(
        headers=[("Set-Cookie", "sid=sess10n-id; Path=/; HttpOnly"), ("set-cookie", "theme=dark")]
    )
    redacted = redact_response(baseline, REDACTION)
    assert redacted.headers[:2] == (
        ("Set-Cookie", f"sid={tok('sess10n-id')}; Path=/; HttpOnly"),
        ("set-cookie", f"theme={tok('dark')}"),
    )
    assert Response.parse(redacted.to_bytes()) == redacted


def test_folded_and_informational_heads_are_redacted_too() -> None:
    raw = (
        b"HTTP/1.1 100 Continue\r\nSet-Cookie: a=sess10n-id\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nX-Api-Key: api-key-123\r\n  more\r\nContent-Length: 0\r\n\r\n"
    )
    redacted = redact_response(Response.parse(raw), REDACTION)
    assert redacted.header("X-Api-Key") == tok("api-key-123 more")
    assert b"more" not in redacted.head and b"HTTP/1.1 100 Continue\r\n" in redacted.head
    assert Response.parse(redacted.to_bytes()) == redacted
    assert_hidden(redacted.to_bytes())


def test_equal_secrets_get_equal_tokens_so_the_comparison_stays_the_same() -> None:
    def redacted(cookie: str, token: str) -> Response:
        body = {"items": [{"token": token}]}
        return redact_response(response(body, ("Set-Cookie", f"sid={cookie}")), REDACTION)

    one = redacted("sess10n-id", "tok-abcdef")
    assert compare_responses(one, redacted("sess10n-id", "tok-abcdef"), PLAIN).verdict == SAME
    assert compare_responses(one, redacted("sess10n-id", "tok-other"), PLAIN).verdict == DIFFERS
    assert compare_responses(one, redacted("other", "tok-abcdef"), PLAIN).verdict == DIFFERS


# --- JSON bodies -------------------------------------------------------------------------------

BODY = {
    "items": [{"id": 1, "token": "tok-abcdef"}, {"id": 2, "token": None}],
    "user": {"name": "ann", "auth": {"password": "hunter2-pw"}},
    "card": {"number": "4111-card", "cvc": 123},
}
REDACTED_BODY = {
    "items": [{"id": 1, "token": tok("tok-abcdef")}, {"id": 2, "token": None}],
    "user": {"name": "ann", "auth": {"password": tok("hunter2-pw")}},
    "card": tok('{"cvc":123,"number":"4111-card"}'),  # an object: its canonical JSON
}


@pytest.mark.parametrize(
    ("headers", "wire"),
    [
        ([], json.dumps(BODY).encode()),
        ([("Content-Encoding", "gzip")], gzip.compress(json.dumps(BODY).encode())),
        ([("Transfer-Encoding", "chunked")], encode_chunked(json.dumps(BODY, indent=2).encode())),
    ],
)
def test_json_paths_are_redacted_at_depth_and_in_arrays(
    headers: list[tuple[str, str]], wire: bytes
) -> None:
    original = make_response(body=wire, content_type="application/json", headers=headers)
    redacted = redact_response(original, REDACTION)
    assert redacted.json() == REDACTED_BODY
    assert redacted.header("Content-Encoding") is redacted.header("Transfer-Encoding") is None
    assert redacted.header("Content-Length") == str(len(redacted.body))
    assert Response.parse(redacted.to_bytes()) == redacted
    assert_hidden(repr(redacted), redacted.to_bytes())


def test_a_request_body_is_redacted_too() -> None:
    request = make_request("POST", "/login", json={"user": "ann", "password": "hunter2-pw"})
    redacted = redact_request(request, REDACTION)
    assert json.loads(redacted.content) == {"user": "ann", "password": tok("hunter2-pw")}


@pytest.mark.parametrize(
    "original",
    [
        make_response(json={"items": [], "other": "x"}, headers=[("Content-Encoding", "identity")]),
        make_response(body=b"password=hunter2", content_type="text/plain"),
        make_response(body=b"{not json", content_type="application/json"),
        make_response(body=b"\x1f\x8bbroken", headers=[("Content-Encoding", "gzip")]),
        make_response(body=b"zz\r\n", headers=[("Transfer-Encoding", "chunked")]),
    ],
)
def test_bodies_without_a_match_or_unreadable_stay_as_they_were(original: Response) -> None:
    assert redact_response(original, REDACTION).to_bytes() == original.to_bytes()


# --- results -----------------------------------------------------------------------------------


def test_a_result_keeps_its_verdict_and_its_differences_carry_tokens() -> None:
    changed = {**BODY, "items": [{"id": 1, "token": "tok-other"}], "card": {"number": "4111-cart"}}
    baseline = response(BODY, ("Set-Cookie", "sid=sess10n-id"))
    candidate = response(changed, ("Set-Cookie", "sid=sess10n-id2"))
    result = redact_result(result_of(baseline, candidate, PLAIN), REDACTION)
    found = {d.path: d for d in result.comparison.differences}
    assert found["headers.set-cookie"].baseline == f"sid={tok('sess10n-id')}"
    assert found["$.items[0].token"] == Difference(
        "$.items[0].token", "value_changed", tok("tok-abcdef"), tok("tok-other")
    )
    assert found["$.card.number"].baseline == tok("4111-card")  # under a redacted object
    assert found["$.items"].baseline == 2 and result.comparison.verdict == DIFFERS
    messages = (result.exchange.request, result.exchange.baseline, result.candidate)
    assert_hidden(repr(result), *(m.to_bytes() for m in messages if m is not None))


def test_differences_at_keyed_quoted_and_indexed_paths_are_redacted() -> None:
    baseline = response({"items": [{"id": "a", "token": "tok-abcdef"}], "x-y": {"password": "p1"}})
    candidate = response({"items": [{"id": "b", "token": "tok-abcdef"}], "x-y": {"password": "p2"}})
    keyed = EndpointRule("GET /x", array_keys=(("$.items", "token"),))
    result = redact_result(result_of(baseline, candidate, keyed), REDACTION)
    paths = {d.path: d for d in result.comparison.differences}
    assert f"$.items[token={tok('tok-abcdef')}].id" in paths
    assert paths["$['x-y'].password"].candidate == tok("p2")
    by_index = Redaction(KEY, json_paths=("$.list[1]",))
    result = result_of(response({"list": [1, "a", 3]}), response({"list": [2, "b", 3]}), PLAIN)
    values = {d.path: d.baseline for d in redact_result(result, by_index).comparison.differences}
    assert values == {"$.list[0]": 1, "$.list[1]": by_index.token("a")}


def test_body_snippets_messages_and_errors_lose_their_secrets() -> None:
    long_secret = "tok-abcdef" + "x" * 100
    baseline = response({"items": [{"token": long_secret}]})
    html = make_response(body=b"<html>oops</html>", content_type="text/html")
    rule = EndpointRule("GET /x", assertions=(Assertion("equals", "y", "$.items[0].token"),))
    failed = result_of(baseline, baseline, rule)
    assert "tok-abcdef" in failed.comparison.assertions[0].message  # quoted, cut at 80
    result = redact_result(failed, REDACTION)
    assert result.comparison.assertions[0].message.endswith(tok(long_secret))
    snippet = redact_result(result_of(baseline, html, PLAIN), REDACTION)
    body = next(d for d in snippet.comparison.differences if d.path == "body")
    assert body.baseline.startswith('{"items":[{"token":"redacted:')
    error = Comparison(ERROR, error=f"internal error: KeyError({long_secret!r})")
    errored = redact_result(ExchangeResult(failed.exchange, "x", error, baseline), REDACTION)
    assert errored.comparison.error == f"internal error: KeyError('{tok(long_secret)}')"
    assert_hidden(repr(result), repr(snippet), repr(errored))


# --- idempotence -------------------------------------------------------------------------------

texts = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=";,"))
leaves = st.none() | st.integers() | texts | st.lists(texts, max_size=2)
documents = st.recursive(
    st.dictionaries(st.sampled_from(["token", "password", "card", "id"]), leaves, max_size=4),
    lambda inner: (
        st.dictionaries(st.sampled_from(["items", "user", "card"]), inner, max_size=3)
        | st.lists(inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def messages(draw: st.DrawFn) -> Response:
    cookies = "; ".join(f"{n}={v}" for n, v in draw(st.lists(st.tuples(texts, texts), max_size=3)))
    headers = [("Set-Cookie", cookies), ("X-Api-Key", draw(texts)), ("X-Other", draw(texts))]
    body = json.dumps(draw(documents)).encode()
    if draw(st.booleans()):
        headers.append(("Content-Encoding", "gzip"))
        body = gzip.compress(body)
    return make_response(body=body, content_type="application/json", headers=headers)


@settings(max_examples=60, deadline=None)
@given(messages(), messages())
def test_redacting_twice_is_redacting_once(baseline: Response, candidate: Response) -> None:
    once = redact_response(baseline, REDACTION)
    assert redact_response(once, REDACTION) == once
    result = redact_result(result_of(baseline, candidate, PLAIN), REDACTION)
    assert redact_result(result, REDACTION) == result
