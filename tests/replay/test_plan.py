import pytest

from shadowdiff.errors import InputError
from shadowdiff.exchange import Request
from shadowdiff.replay.plan import parse_target, plan_request, rewrite_head
from shadowdiff.testing import make_request

TARGET = parse_target("http://staging:8080")


def test_only_the_host_value_changes_in_place() -> None:
    raw = (
        b"POST /a/b?x=1&y=%20 HTTP/1.1\r\nX-CaSe:  v \r\naccept: */*\r\n"
        b"hOsT:   api.example.com  \r\nContent-Length: 2\r\n\r\n{}"
    )
    planned = plan_request(Request.parse(raw), TARGET)
    assert planned.raw == raw.replace(b"api.example.com", b"staging:8080")
    assert planned.method == "POST" and planned.problem is None
    assert planned.url == "http://staging:8080/a/b?x=1&y=%20"


def test_keep_host_sends_the_recorded_bytes() -> None:
    request = make_request()
    assert plan_request(request, TARGET, keep_host=True).raw == request.to_bytes()


def test_http10_without_host_is_sent_as_recorded() -> None:
    raw = b"GET /old HTTP/1.0\r\nUser-Agent: x\r\n\r\n"
    planned = plan_request(Request.parse(raw), TARGET)
    assert planned.raw == raw and planned.closes and planned.version == "1.0"


def test_default_port_is_not_shown_and_prefix_is_prepended() -> None:
    target = parse_target("https://staging.example/v2/")
    planned = plan_request(make_request(target="/users"), target)
    assert planned.raw.startswith(b"GET /v2/users HTTP/1.1\r\nHost: staging.example\r\n")


def test_chunked_body_goes_out_with_its_recorded_framing() -> None:
    raw = (
        b"PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    planned = plan_request(Request.parse(raw), TARGET)
    assert planned.raw.endswith(b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n")
    assert planned.problem is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc", "Content-Length 10"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", "chunked"),
        (b"POST / HTTP/1.1\r\nHost: h\r\n\r\nbody", "without Content-Length"),
    ],
)
def test_bodies_that_disagree_with_their_framing_are_not_sent(raw: bytes, problem: str) -> None:
    planned = plan_request(Request.parse(raw), TARGET)
    assert planned.problem is not None and problem in planned.problem


def test_absolute_form_target_replays_as_origin_form() -> None:
    request = make_request(target="http://origin.test/x?y=1")
    assert plan_request(request, TARGET).raw.startswith(b"GET /x?y=1 HTTP/1.1\r\n")


def test_rewrite_head_leaves_an_unchanged_request_line_alone() -> None:
    head = b"GET  /odd  HTTP/1.1\r\nHost: a\r\n\r\n"
    assert rewrite_head(head, None, None) == head
    assert rewrite_head(head, b"/new", b"b") == b"GET /new HTTP/1.1\r\nHost: b\r\n\r\n"


@pytest.mark.parametrize(
    "url", ["staging:8080", "ftp://x", "http://", "http://h:99999", "http://u:p@h", "http://h/?q=1"]
)
def test_bad_target_urls_are_input_errors(url: str) -> None:
    with pytest.raises(InputError, match="--target"):
        parse_target(url)
