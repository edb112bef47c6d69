"""Redis clients for the bus, and the check that Redis answers at start (exit 3 if not).

Clients do not retry on their own (redis-py retries 3 times by default): the publisher and
the workers have their own backoff, log one line when Redis goes away and count the cost.
"""

from __future__ import annotations

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from shadowdiff.bus.url import BusUrl
from shadowdiff.errors import EnvironmentProblem

CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 10.0  # longer than any blocking read (XREADGROUP BLOCK)
DOWN = (redis.ConnectionError, redis.TimeoutError)  # Redis unreachable: wait, retry


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
        raise EnvironmentProblem(f"{flag} {url}: Redis unreachable ({_reason(exc)})") from None
    except redis.ResponseError as exc:  # e.g. NOAUTH, or a database number out of range
        raise EnvironmentProblem(f"{flag} {url}: Redis refused: {exc}") from None


async def check_reachable_async(client: redis.asyncio.Redis, url: BusUrl, flag: str) -> None:
    try:
        await client.ping()
    except DOWN as exc:
        raise EnvironmentProblem(f"{flag} {url}: Redis unreachable ({_reason(exc)})") from None
    except redis.ResponseError as exc:
        raise EnvironmentProblem(f"{flag} {url}: Redis refused: {exc}") from None


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
