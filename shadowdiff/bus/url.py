"""`redis://HOST:PORT/DB?stream=NAME[&maxlen=N]`: where the bus is (pure parsing).

`maxlen` bounds the stream (XADD MAXLEN ~ N: Redis trims whole macro nodes, so the
stream holds at least N entries, a few more at times). Default 1,000,000; `maxlen=0`: no
trimming.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from shadowdiff.errors import InputError

DEFAULT_PORT = 6379
DEFAULT_MAXLEN = 1_000_000
KNOWN = frozenset({"stream", "maxlen"})
BadFn = Callable[[str], InputError]


@dataclass(frozen=True, slots=True)
class BusUrl:
    host: str
    port: int
    db: int
    stream: str
    maxlen: int | None = DEFAULT_MAXLEN  # None: the stream is never trimmed

    @property
    def address(self) -> str:
        """The URL without its query: what a Redis client connects to."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"redis://{host}:{self.port}/{self.db}"

    def __str__(self) -> str:
        return f"{self.address}?stream={self.stream}"


def parse_bus_url(value: str, flag: str) -> BusUrl:
    """Parse a bus URL; anything wrong is one line naming the flag and the value."""

    def bad(why: str) -> InputError:
        return InputError(f"{flag} {value!r}: {why} (expected redis://HOST:PORT/DB?stream=NAME)")

    parts = urlsplit(value)
    if parts.scheme != "redis":
        raise bad("not a redis:// URL")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise bad("the port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise bad("no host")
    query = parse_qs(parts.query, keep_blank_values=True)
    if unknown := sorted(set(query) - KNOWN):
        raise bad(f"unknown parameter {unknown[0]!r} (known: maxlen, stream)")
    stream = _single(query, "stream", bad)
    if not stream:
        raise bad("no stream name (?stream=NAME)")
    return BusUrl(parts.hostname, port, _db(parts.path, bad), stream, _maxlen(query, bad))


def _single(query: dict[str, list[str]], key: str, bad: BadFn) -> str | None:
    values = query.get(key)
    if values is None:
        return None
    if len(values) > 1:
        raise bad(f"{key} given {len(values)} times")
    return values[0]


def _db(path: str, bad: BadFn) -> int:
    number = path.strip("/") or "0"
    if not number.isdigit():
        raise bad(f"the database {number!r} is not a number")
    return int(number)


def _maxlen(query: dict[str, list[str]], bad: BadFn) -> int | None:
    text = _single(query, "maxlen", bad)
    if text is None:
        return DEFAULT_MAXLEN
    if not text.isdigit():
        raise bad(f"maxlen {text!r} is not a whole number")
    return int(text) or None
