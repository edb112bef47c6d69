import pytest

from shadowdiff.errors import InputError
from shadowdiff.replay.plan import parse_target, plan_request
from shadowdiff.testing import make_request


def test_host_is_rewritten_to_the_target_and_everything_else_kept() -> None:
    request = make_request(
        "POST", "/a/b?x=1&y=%20", headers=[("X-CaSe", "v"), ("accept", "*/*")], body=b"{}"
    )
    planned = plan_request(request, parse_target("http://staging:8080"))
    assert planned.method == "POST"
    assert planned.target == b"/a/b?x=1&y=%20"
    assert planned.headers[0] == (b"Host", b"staging:8080")
    assert [h for h, _ in planned.headers] == [b"Host", b"X-CaSe", b"accept", b"Content-Length"]
    assert planned.content == b"{}" and not planned.chunked


def test_keep_host_sends_the_recorded_host() -> None:
    planned = plan_request(make_request(), parse_target("http://staging"), keep_host=True)
    assert planned.headers[0] == (b"Host", b"origin.test")


def test_default_port_is_not_shown_and_prefix_is_prepended() -> None:
    target = parse_target("https://staging.example/v2/")
    planned = plan_request(make_request(target="/users"), target)
    assert planned.headers[0] == (b"Host", b"staging.example")
    assert planned.target == b"/v2/users"


def test_chunked_body_is_dechunked_for_the_client_to_reframe() -> None:
    request = make_request("POST", "/", headers=[("Transfer-Encoding", "chunked")])
    request = type(request)(
        "POST",
        "/",
        headers=(("Host", "h"), ("Transfer-Encoding", "chunked")),
        body=b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    planned = plan_request(request, parse_target("http://t"))
    assert planned.chunked and planned.content == b"abcde"


def test_absolute_form_target_replays_its_path() -> None:
    request = make_request(target="http://origin.test/x?y=1")
    assert plan_request(request, parse_target("http://t")).target == b"/x?y=1"


@pytest.mark.parametrize("url", ["staging:8080", "ftp://x", "http://", "http://h:99999"])
def test_bad_target_urls_are_input_errors(url: str) -> None:
    with pytest.raises(InputError, match="--target"):
        parse_target(url)
