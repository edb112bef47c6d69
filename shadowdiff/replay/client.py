"""The HTTP client shell: one httpx transport with pooled connections, a planned request
in, a Response or an error reason out (failures of one exchange are data, not exceptions)."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import httpx

from shadowdiff.exchange import Response
from shadowdiff.replay.plan import PlannedRequest
from shadowdiff.replay.transport import RawTransport


@dataclass(frozen=True, slots=True)
class Answer:
    """What a target gave: a response, or why there is none; latency in ms."""

    response: Response | None
    error: str | None
    latency_ms: float


class ReplayClient:
    """httpx's transport layer, driven directly: a replay sends each planned request on
    the `RawTransport` as an `httpx.Request` and gets an `httpx.Response` back.

    `httpx.AsyncClient.send` is not in the way: its layers (auth, redirects, the cookie
    jar, default headers) are ones a replay must switch off, and profiling a replay
    (py-spy, README) showed them taking a fifth of its CPU even when switched off."""

    def __init__(self, concurrency: int) -> None:
        self.transport = RawTransport(concurrency)

    async def __aenter__(self) -> ReplayClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.transport.aclose()


def make_client(concurrency: int) -> ReplayClient:
    """A client with at most `concurrency` connections per target host."""
    return ReplayClient(concurrency)


async def send(client: ReplayClient, planned: PlannedRequest, timeout: float) -> Answer:
    if planned.problem is not None:
        return Answer(None, f"recorded request not sent: {planned.problem}", 0.0)
    request = httpx.Request(
        planned.method,
        connection_url(planned.origin or planned.url),
        extensions={
            "shadowdiff.raw": planned.raw,
            "shadowdiff.closes": planned.closes,
            "timeout": _timeouts(timeout),
        },
    )
    start = time.perf_counter()
    try:
        response = await client.transport.handle_async_request(request)
    except httpx.HTTPError as exc:
        return Answer(None, describe_error(exc, timeout), _ms(start))
    elapsed = response.extensions["shadowdiff.elapsed_ms"]
    parsed = response.extensions["shadowdiff.response"]
    return Answer(parsed, None, round(elapsed, 3))


@functools.lru_cache(maxsize=16)
def _timeouts(timeout: float) -> dict[str, float | None]:
    return httpx.Timeout(timeout).as_dict()


@functools.lru_cache(maxsize=64)
def connection_url(origin: str) -> httpx.URL:
    """The URL httpx is given: the connection's end only, parsed once per target. The
    request's own target is in the planned bytes, which are what is sent; parsing every
    recorded URL again for httpx cost a fifth of a replay's CPU."""
    return httpx.URL(origin.rstrip("/") + "/") if "://" in origin else httpx.URL(origin)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def describe_error(exc: httpx.HTTPError, timeout: float) -> str:
    detail = _first_message(exc)
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout: {detail}"
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {detail}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"connection closed or malformed answer: {detail}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return f"connection reset: {detail}"
    return f"{type(exc).__name__}: {detail}"


def _first_message(exc: BaseException) -> str:
    """The first non-empty message down the exception chain (httpx wraps httpcore wraps OSError)."""
    current: BaseException | None = exc
    for _ in range(5):
        if current is None:
            break
        if text := str(current):
            return text
        current = current.__cause__ or current.__context__
    return type(exc).__name__
