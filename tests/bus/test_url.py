"""Bus URLs: what parses, and one clear line for what does not."""

from __future__ import annotations

import pytest

from shadowdiff.bus.url import DEFAULT_MAXLEN, BusUrl, parse_bus_url
from shadowdiff.errors import InputError
from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("redis://h:7000/2?stream=s", BusUrl("h", 7000, 2, "s", DEFAULT_MAXLEN)),
        ("redis://h?stream=s", BusUrl("h", 6379, 0, "s", DEFAULT_MAXLEN)),
        ("redis://h/?stream=s&maxlen=500", BusUrl("h", 6379, 0, "s", 500)),
        ("redis://h/0?stream=s&maxlen=0", BusUrl("h", 6379, 0, "s", None)),
        ("redis://[::1]:7000/1?stream=a:b", BusUrl("::1", 7000, 1, "a:b", DEFAULT_MAXLEN)),
    ],
)
def test_bus_urls_parse(value: str, expected: BusUrl) -> None:
    assert parse_bus_url(value, "--to") == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("http://h:1/0?stream=s", "not a redis:// URL"),
        ("redis://h:1/0", "no stream name"),
        ("redis://h:1/0?stream=", "no stream name"),
        ("redis://h:99999/0?stream=s", "port"),
        ("redis://:1/0?stream=s", "no host"),
        ("redis://h:1/x?stream=s", "database 'x' is not a number"),
        ("redis://h:1/0?stream=s&maxlen=-3", "maxlen '-3'"),
        ("redis://h:1/0?stream=s&stream=t", "stream given 2 times"),
        ("redis://h:1/0?stream=s&group=g", "unknown parameter 'group'"),
    ],
)
def test_bad_bus_urls_say_what_and_where(value: str, why: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_bus_url(value, "--to")
    message = str(caught.value)
    assert message.startswith(f"--to {value!r}: ") and why in message and "\n" not in message


def test_the_url_prints_without_its_query_for_clients() -> None:
    url = parse_bus_url("redis://h:7000/2?stream=s&maxlen=10", "--to")
    assert url.address == "redis://h:7000/2" and str(url) == "redis://h:7000/2?stream=s"


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("publish", "x.gor", "--to", "redis://h/0"), "--to 'redis://h/0': no stream name", 2),
        (("publish", "missing.gor", "--to", "redis://127.0.0.1:1/0?stream=s"),
         "missing.gor: no such file", 2),
        (("replay", "--from", "redis://127.0.0.1:1/0?stream=s", "--target", "http://x"),
         "--from: give --group G (a worker pool) or --segment NAME", 2),
        (("replay", "a.gor", "--group", "g", "--target", "http://x"), "need --from URL", 2),
        (("replay", "--from", "redis://127.0.0.1:1/0?stream=s", "--group", "g",
          "--target", "http://x"), "--from redis://127.0.0.1:1/0?stream=s: Redis unreachable", 3),
        (("segment", "list", "--bus", "redis://127.0.0.1:1/0?stream=s"),
         "--bus redis://127.0.0.1:1/0?stream=s: Redis unreachable", 3),
    ],
)  # fmt: skip
def test_command_line_mistakes_are_one_line(args: tuple[str, ...], message: str, code: int) -> None:
    done = run_cli(*args)
    assert done.returncode == code, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
