"""GoReplay's `|N` / `|N%` suffixes, output limits and the pacing of a file at a speed."""

from __future__ import annotations

import random

import pytest

from shadowdiff.errors import InputError
from shadowdiff.traffic.rates import (
    OutputLimit,
    Pacer,
    Rate,
    parse_duration,
    speed_of,
    split_rate,
)


@pytest.mark.parametrize(
    ("value", "address", "rate"),
    [
        ("http://staging.com|10", "http://staging.com", Rate(per_second=10)),
        ("http://staging.com|10%", "http://staging.com", Rate(percent=10)),
        ("http://127.0.0.1:8082|50%", "http://127.0.0.1:8082", Rate(percent=50)),
        ("requests.gor|200%", "requests.gor", Rate(percent=200)),
        ("requests_0.gor|1000%", "requests_0.gor", Rate(percent=1000)),
        ("x.gor|12.5%", "x.gor", Rate(percent=12.5)),
        ("http://staging.com", "http://staging.com", None),
    ],
)
def test_suffixes_as_goreplay_writes_them(value: str, address: str, rate: Rate | None) -> None:
    assert split_rate(value, "--target") == (address, rate)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://a|ten", "--target 'http://a|ten': after '|' expected N"),
        ("http://a|0%", "--target 'http://a|0%': the percentage must be above 0"),
        ("http://a|0", "--target 'http://a|0': a cap is a whole number"),
        ("http://a|2.5", "--target 'http://a|2.5': a cap is a whole number"),
    ],
)
def test_bad_suffixes_name_the_flag(value: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        split_rate(value, "--target")
    assert str(caught.value).startswith(message)


def test_a_file_takes_a_speed_not_a_cap() -> None:
    assert speed_of(None, "x") == 1.0
    assert speed_of(Rate(percent=200), "x") == 2.0
    assert speed_of(Rate(percent=10), "x") == 0.1
    with pytest.raises(InputError, match=r"a cap '\|N' belongs on the target"):
        speed_of(Rate(per_second=10), "requests.gor|10")


def test_a_cap_takes_n_a_second_and_starts_again_each_second() -> None:
    limit = OutputLimit(Rate(per_second=3))
    taken = [limit.admits(now, 0.5) for now in (0.0, 0.1, 0.2, 0.3, 0.9, 1.0, 1.1, 1.2, 1.5)]
    assert taken == [True, True, True, False, False, True, True, True, False]
    assert limit.refused == 3


def test_a_share_keeps_about_that_share() -> None:
    draws = random.Random(7)
    limit = OutputLimit(Rate(percent=10))
    kept = sum(limit.admits(0.0, draws.random()) for _ in range(20_000))
    assert 1_800 < kept < 2_200
    assert limit.refused == 20_000 - kept


def test_no_rate_takes_everything() -> None:
    limit = OutputLimit(None)
    assert all(limit.admits(0.0, 0.99) for _ in range(100)) and limit.refused == 0


def test_pacing_keeps_the_recorded_gaps_divided_by_the_speed() -> None:
    second = 1_000_000_000
    stamps = [5 * second, 5 * second + second // 2, 7 * second, 7 * second]
    assert [Pacer(1.0).due(t) for t in stamps[:1]] == [0.0]
    pacer = Pacer(2.0)
    assert [pacer.due(t) for t in stamps] == [0.0, 0.25, 1.0, 1.0]
    slow = Pacer(0.5)
    assert [slow.due(t) for t in stamps] == [0.0, 1.0, 4.0, 4.0]


def test_out_of_order_requests_are_due_at_once_and_max_wait_caps_a_gap() -> None:
    second = 1_000_000_000
    pacer = Pacer(1.0)
    assert [pacer.due(t) for t in (10 * second, 9 * second, 11 * second)] == [0.0, 0.0, 1.0]
    capped = Pacer(1.0, max_wait=0.5)
    assert [capped.due(t) for t in (0, 10 * second, 10 * second + second // 4)] == [
        0.0,
        0.5,
        0.75,
    ]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5s", 5.0), ("100ms", 0.1), ("1h30m", 5400.0), ("2m", 120.0), ("1.5s", 1.5), ("30", 30.0)],
)
def test_durations_in_go_syntax(value: str, seconds: float) -> None:
    assert parse_duration(value, "--exit-after") == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "5x", "s", "5 s", "-5s", "0", "1h 30m"])
def test_bad_durations_name_the_flag(value: str) -> None:
    with pytest.raises(InputError, match=r"^--exit-after "):
        parse_duration(value, "--exit-after")
