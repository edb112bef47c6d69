"""Redis clients for the bus, the checks made at start (Redis answers: exit 3 if not; the
bus's keys hold what the bus puts there: exit 2 if not), and what Redis replies, decoded.

Clients do not retry on their own (redis-py retries 3 times by default): the publisher and
the workers have their own backoff, log one line when Redis goes away and count the cost.
Anything else Redis says (an error reply, a reply that cannot be read) is one line naming
the URL (`refused`), never a traceback.
"""

from __future__ import annotations

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from shadowdiff.bus.url import BusUrl
from shadowdiff.errors import EnvironmentProblem, InputError

CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 10.0  # longer than any blocking read (XREADGROUP BLOCK)
DOWN = (redis.ConnectionError, redis.TimeoutError)  # Redis unreachable: wait, retry
PIPELINE_ERROR = "of pipeline caused error: "  # redis-py: "Command # 1 (XADD ...) " before it


def sync_client(url: BusUrl) -> redis.Redis:
    return redis.Redis(
        host=url.host,
        port=url.port,
        db=url.db,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )


def async_client(url: BusUrl) -> redis.asyncio.Redis:
    return redis.asyncio.Redis(
        host=url.host,
        port=url.port,
        db=url.db,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
    )


def check_reachable(client: redis.Redis, url: BusUrl, flag: str) -> None:
    """An environment problem (exit 3), one line naming the URL, if Redis does not answer."""
    try:
        client.ping()
    except DOWN as exc:
        raise EnvironmentProblem(f"{flag} {url}: Redis unreachable ({reason(exc)})") from None
    except redis.RedisError as exc:  # e.g. NOAUTH, or a database number out of range
        raise EnvironmentProblem(f"{flag} {url}: Redis refused: {reason(exc)}") from None


def check_bus(client: redis.Redis, url: BusUrl, flag: str, *extra: tuple[str, str]) -> None:
    """Redis answers (exit 3 if not) and the stream's key is a stream or absent (exit 2 if
    it holds something else); `extra`: other keys and the one type each may have."""
    check_reachable(client, url, flag)
    for key, kind in ((url.stream, "stream"), *extra):
        try:
            found = text(client.type(key))
        except redis.RedisError as exc:
            raise refused(url, flag, exc) from None
        if found not in ("none", kind):
            raise InputError(
                f"{flag} {url}: the key {key!r} holds a {found}, not a {kind} "
                "(pick another name, or delete that key)"
            )


def refused(url: BusUrl, flag: str, exc: redis.RedisError) -> EnvironmentProblem:
    """What a Redis error other than a lost connection becomes: exit 3, one line."""
    if isinstance(exc, DOWN):
        return EnvironmentProblem(f"{flag} {url}: Redis unreachable ({reason(exc)})")
    return EnvironmentProblem(f"{flag} {url}: Redis refused: {reason(exc)}")


def reason(exc: BaseException) -> str:
    """An exception's first line, short enough for a log line (a pipeline's error without
    the command it quotes: that holds the entry's bytes)."""
    message = str(exc).strip().partition(PIPELINE_ERROR)[2] or str(exc).strip()
    return (message or type(exc).__name__).splitlines()[0][:200]


def text(value: object) -> str:
    """A Redis reply's bytes (an id, a name, a type) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)
