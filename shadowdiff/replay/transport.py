"""An httpx transport that writes recorded requests byte for byte.

httpx's own transport (httpcore over h11) re-serialises a request: Host moves first, header
spacing is normalised, HTTP/1.0 becomes HTTP/1.1, a bodiless POST gains `Content-Length: 0`.
A shadow replay must send what the client sent, so this transport writes the planned bytes
(`request.extensions["shadowdiff.raw"]`) on a pooled keep-alive connection and cuts the
answer out of what comes back with the capture's `MessageCutter` (plain framing read from
the head, h11 for the rest), so the answer is kept byte for byte too, chunked framing and
all; the parsed `Response` travels in `extensions["shadowdiff.response"]`. Per target host,
at most `limit` connections; latency is timed from when the request holds a connection, so
waiting for the pool does not count.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field

import httpx

from shadowdiff.capture.framing import FramingError, MessageCutter
from shadowdiff.exchange import Response
from shadowdiff.http1 import HttpParseError

READ_SIZE = 65536
_EMPTY = httpx.ByteStream(b"")
MAX_HEAD = 1 << 20
Key = tuple[str, str, int]


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        self.writer.close()


@dataclass(slots=True)
class _Pool:
    slots: asyncio.Semaphore
    idle: list[_Connection] = field(default_factory=list)


class _Stale(Exception):
    """A reused keep-alive connection that the server had already closed."""


@dataclass(frozen=True, slots=True)
class _Answer:
    response: Response
    reusable: bool


class RawTransport(httpx.AsyncBaseTransport):
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._pools: dict[Key, _Pool] = {}
        self._tls: ssl.SSLContext | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raw = request.extensions.get("shadowdiff.raw")
        if not isinstance(raw, bytes):
            raise httpx.UnsupportedProtocol("RawTransport sends planned requests only")
        url = request.url
        key = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        pool = self._pools.setdefault(key, _Pool(asyncio.Semaphore(self._limit)))
        timeout = float(request.extensions.get("timeout", {}).get("read") or 30.0)
        async with pool.slots:
            start = time.perf_counter()
            answer = await self._exchange(request, key, pool, raw, timeout)
            elapsed_ms = (time.perf_counter() - start) * 1000
        response = answer.response
        # httpx sees the status only: headers and body travel parsed, byte for byte, in the
        # extension, so they are not parsed twice, and the client's cookie jar (which a
        # replay must not use) never reads a Set-Cookie.
        return httpx.Response(
            response.status,
            stream=_EMPTY,
            extensions={
                "http_version": b"HTTP/" + response.version.encode(),
                "reason_phrase": response.reason.encode("latin-1"),
                "shadowdiff.elapsed_ms": elapsed_ms,
                "shadowdiff.response": response,
            },
            request=request,
        )

    async def _exchange(
        self, request: httpx.Request, key: Key, pool: _Pool, raw: bytes, timeout: float
    ) -> _Answer:
        reused = bool(pool.idle)
        conn = pool.idle.pop() if reused else await self._open(key, timeout)
        try:
            answer = await _send(conn, request, raw, timeout)
        except _Stale:
            conn.close()
            if not reused:
                raise httpx.RemoteProtocolError(
                    "server closed the connection without answering"
                ) from None
            conn = await self._open(key, timeout)
            answer = await _send(conn, request, raw, timeout)
        except BaseException:
            conn.close()
            raise
        if answer.reusable:
            pool.idle.append(conn)
        else:
            conn.close()
        return answer

    async def _open(self, key: Key, timeout: float) -> _Connection:
        scheme, host, port = key
        tls = self._tls_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=host if tls else None, limit=MAX_HEAD
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"no connection to {host}:{port} within {timeout:g}s"
            ) from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        return _Connection(reader, writer)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    async def aclose(self) -> None:
        for pool in self._pools.values():
            while pool.idle:
                pool.idle.pop().close()


async def _send(conn: _Connection, request: httpx.Request, raw: bytes, timeout: float) -> _Answer:
    method = request.method.encode("ascii")
    cutter = MessageCutter(is_response=True, method_for_next=lambda: method)
    try:
        async with asyncio.timeout(timeout):
            conn.writer.write(raw)
            await conn.writer.drain()
            message, closed = await _read(conn.reader, cutter)
    except TimeoutError:
        raise httpx.ReadTimeout(f"no complete answer within {timeout:g}s") from None
    except (FramingError, HttpParseError) as exc:
        raise httpx.RemoteProtocolError(str(exc)) from exc
    except ConnectionError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
    except OSError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
    try:
        response = Response.parse(message)
    except HttpParseError as exc:
        raise httpx.RemoteProtocolError(str(exc)) from exc
    closes = bool(request.extensions.get("shadowdiff.closes"))
    return _Answer(response, not (closed or closes) and keeps_alive(response))


async def _read(reader: asyncio.StreamReader, cutter: MessageCutter) -> tuple[bytes, bool]:
    """The answer's bytes, and whether the server closed the connection to end it."""
    received = False
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            if not received:
                raise _Stale
            ended = cutter.finish(0)  # an answer that ends when the connection closes
            if ended is None:
                raise FramingError("connection closed before the answer was complete")
            return ended.raw, True
        received = True
        if messages := cutter.feed(data, 0):
            if messages[0].switched:
                raise FramingError("the server switched protocols (101): not replayable")
            return messages[0].raw, cutter.pending_bytes > 0  # more bytes: do not reuse


def keeps_alive(response: Response) -> bool:
    """Whether the connection may carry another request after this answer (HTTP/1.1
    without `Connection: close`; h11, like most clients, does not keep HTTP/1.0 alive)."""
    connection = (response.header("Connection") or "").lower()
    return response.version == "1.1" and "close" not in connection
