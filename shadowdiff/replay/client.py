"""The HTTP client shell: one httpx.AsyncClient, a planned request in, a Response or an
error reason out (failures of one exchange are data, not exceptions)."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from shadowdiff.exchange import Response
from shadowdiff.http1 import encode_chunked, header_pairs
from shadowdiff.replay.plan import PlannedRequest
from shadowdiff.replay.transport import RawTransport


@dataclass(frozen=True, slots=True)
class Answer:
    """What a target gave: a response, or why there is none; latency in ms."""

    response: Response | None
    error: str | None
    latency_ms: float


def make_client(concurrency: int, timeout: float) -> httpx.AsyncClient:
    """An httpx client whose transport writes planned requests byte for byte; at most
    `concurrency` connections per target host."""
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(
        transport=RawTransport(concurrency),
        timeout=timeout,
        follow_redirects=False,
        cookies=no_cookies,
        trust_env=False,
    )


async def send(client: httpx.AsyncClient, planned: PlannedRequest, timeout: float) -> Answer:
    if planned.problem is not None:
        return Answer(None, f"recorded request not sent: {planned.problem}", 0.0)
    request = httpx.Request(
        planned.method,
        connection_url(planned.origin or planned.url),
        extensions={
            "shadowdiff.raw": planned.raw,
            "shadowdiff.closes": planned.closes,
            "timeout": httpx.Timeout(timeout).as_dict(),
        },
    )
    start = time.perf_counter()
    try:
        response = await client.send(request, stream=True)
        try:  # the raw bytes: httpx's .content would undo the Content-Encoding
            body = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        return Answer(None, describe_error(exc, timeout), _ms(start))
    elapsed = response.extensions.get("shadowdiff.elapsed_ms")
    latency = round(elapsed, 3) if isinstance(elapsed, float) else _ms(start)
    parsed = response.extensions.get("shadowdiff.response")
    if not isinstance(parsed, Response):  # another transport: rebuilt from httpx's view
        parsed = to_response(response, body)
    return Answer(parsed, None, latency)


@functools.lru_cache(maxsize=64)
def connection_url(origin: str) -> httpx.URL:
    """The URL httpx is given: the connection's end only, parsed once per target. The
    request's own target is in the planned bytes, which are what is sent; parsing every
    recorded URL again for httpx cost a fifth of a replay's CPU."""
    return httpx.URL(origin.rstrip("/") + "/") if "://" in origin else httpx.URL(origin)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def to_response(response: httpx.Response, body: bytes) -> Response:
    headers = header_pairs(response.headers.raw)
    if "chunked" in (response.headers.get("Transfer-Encoding") or "").lower():
        body = encode_chunked(body)
    version = response.http_version.removeprefix("HTTP/")
    return Response(response.status_code, response.reason_phrase, version, headers, body)


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
