"""GoReplay's rates, pure: the `|N` and `|N%` suffixes of an address, what they decide, and
the pacing of a recording replayed at a speed.

On an output (`--target "URL|10"`, `--output-http "URL|10%"`), `|N` caps it at N requests a
second (the excess is dropped: the count starts again each second, as GoReplay does) and `|N%`
keeps each request with probability N/100. On a file input (`"FILE.gor|200%"`), `|N%` is a
speed: the gaps between recorded requests are divided by N/100. No clock and no randomness
here: callers pass the time and the random draw.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shadowdiff.errors import InputError

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SUFFIX = re.compile(r"^(?P<address>.*)\|(?P<value>[0-9]+(?:\.[0-9]+)?)(?P<percent>%?)$")


def parse_duration(value: str, flag: str) -> float:
    """Seconds from a Go duration (`5s`, `100ms`, `1h30m`, GoReplay's syntax) or a plain
    number of seconds."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise InputError(
                f"{flag} {value!r}: expected a duration like 30s, 5m, 1h30m or 100ms"
            ) from None
        seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise InputError(f"{flag} {value!r}: the duration must be above 0")
    return seconds


@dataclass(frozen=True, slots=True)
class Rate:
    """`per_second`: a hard cap (`|N`); `percent`: a share or a speed (`|N%`)."""

    per_second: int | None = None
    percent: float | None = None

    def describe(self) -> str:
        return f"|{self.per_second}" if self.per_second is not None else f"|{self.percent:g}%"


def split_rate(value: str, flag: str) -> tuple[str, Rate | None]:
    """`"http://staging|10%"` -> ("http://staging", Rate(percent=10)); no suffix -> None."""
    found = _SUFFIX.match(value)
    if found is None:
        if "|" in value:
            raise InputError(
                f"{flag} {value!r}: after '|' expected N (a cap per second) or N% (a share)"
            )
        return value, None
    number, address = float(found["value"]), found["address"]
    if found["percent"]:
        if number <= 0:
            raise InputError(f"{flag} {value!r}: the percentage must be above 0")
        return address, Rate(percent=number)
    if number != int(number) or number < 1:
        raise InputError(f"{flag} {value!r}: a cap is a whole number of requests a second")
    return address, Rate(per_second=int(number))


def speed_of(rate: Rate | None, flag: str) -> float:
    """The speed factor of a file input (`|200%` -> 2.0); 1.0 without a suffix."""
    if rate is None:
        return 1.0
    if rate.percent is None:
        raise InputError(
            f"{flag}: on a file, '|N%' sets the speed ('|200%' = twice as fast); "
            "a cap '|N' belongs on the target"
        )
    return rate.percent / 100


class OutputLimit:
    """Which requests an output takes, under its `|N` cap or `|N%` share."""

    def __init__(self, rate: Rate | None) -> None:
        self.rate = rate
        self._second = -math.inf
        self._taken = 0
        self.refused = 0

    def admits(self, now: float, draw: float) -> bool:
        """`now` in seconds (monotonic), `draw` uniform in [0, 1)."""
        admitted = self._admits(now, draw)
        self.refused += not admitted
        return admitted

    def _admits(self, now: float, draw: float) -> bool:
        if self.rate is None:
            return True
        if self.rate.percent is not None:
            return draw * 100 < self.rate.percent
        if now - self._second >= 1.0:
            self._second, self._taken = now, 0
        self._taken += 1
        return self._taken <= (self.rate.per_second or 0)


class Pacer:
    """When each recorded request is due, at a speed: seconds after the first one, keeping
    the recorded gaps divided by the speed (a request recorded before the previous one is
    due at once, never in the past); `max_wait` caps each gap."""

    def __init__(self, speed: float, max_wait: float | None = None) -> None:
        self._speed = speed
        self._max_wait = max_wait
        self._previous: int | None = None
        self._due = 0.0

    def due(self, timestamp_ns: int) -> float:
        if self._previous is not None:
            gap = max(0, timestamp_ns - self._previous) / 1e9 / self._speed
            self._due += gap if self._max_wait is None else min(gap, self._max_wait)
        self._previous = (
            timestamp_ns if self._previous is None else max(self._previous, timestamp_ns)
        )
        return self._due


def recordings_at_speed(files: Sequence[str]) -> tuple[list[Path], float | None]:
    """The recordings, and the speed their `|N%` suffixes ask for (one speed for all)."""
    paths, speeds = [], set()
    for value in files:
        name, rate = split_rate(value, "FILE")
        paths.append(Path(name))
        speeds.add(None if rate is None else speed_of(rate, value))
    if len(speeds) > 1:
        raise InputError(f"{' '.join(files)}: give every recording the same |N% speed")
    return paths, speeds.pop()
