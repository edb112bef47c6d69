"""An httpx transport that writes recorded requests byte for byte.

httpx's own transport (httpcore over h11) re-serialises a request: Host moves first, header
spacing is normalised, HTTP/1.0 becomes HTTP/1.1, a bodiless POST gains `Content-Length: 0`.
A shadow replay must send what the client sent, so this transport writes the planned bytes
(`request.extensions["shadowdiff.raw"]`) on a pooled keep-alive connection and reads the
answer with h11. Per target host, at most `limit` connections; latency is timed from when
the request holds a connection, so waiting for the pool does not count.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field

import h11
import httpx

READ_SIZE = 65536
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
    head: h11.Response
    body: bytes
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
        return httpx.Response(
            answer.head.status_code,
            headers=list(answer.head.headers.raw_items()),
            stream=httpx.ByteStream(answer.body),
            extensions={
                "http_version": b"HTTP/" + answer.head.http_version,
                "reason_phrase": answer.head.reason,
                "shadowdiff.elapsed_ms": elapsed_ms,
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
    parser = _parser_for(request)
    try:
        async with asyncio.timeout(timeout):
            conn.writer.write(raw)
            await conn.writer.drain()
            return await _read(conn.reader, parser)
    except TimeoutError:
        raise httpx.ReadTimeout(f"no complete answer within {timeout:g}s") from None
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc)) from exc
    except ConnectionError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
    except OSError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc


def _parser_for(request: httpx.Request) -> h11.Connection:
    """An h11 client that believes it sent this request: its method, and `Connection: close`
    when the recorded request closes (HTTP/1.0 included), so keep-alive is judged right."""
    parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
    headers = [(b"Host", b"replay")]
    if request.extensions.get("shadowdiff.closes"):
        headers.append((b"Connection", b"close"))
    parser.send(h11.Request(method=request.method, target=b"/", headers=headers))
    parser.send(h11.EndOfMessage())
    return parser


async def _read(reader: asyncio.StreamReader, parser: h11.Connection) -> _Answer:
    head: h11.Response | None = None
    parts: list[bytes] = []
    received = False
    while True:
        event = parser.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(READ_SIZE)
            if not data and not received:
                raise _Stale
            received = True
            parser.receive_data(data)
        elif isinstance(event, h11.Response):
            head = event
        elif isinstance(event, h11.Data):
            parts.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage) and head is not None:
            reusable = parser.our_state is h11.DONE and parser.their_state is h11.DONE
            return _Answer(head, b"".join(parts), reusable)
        elif event is h11.PAUSED:
            raise h11.RemoteProtocolError("the server switched protocols (101): not replayable")
        elif isinstance(event, h11.ConnectionClosed):
            raise h11.RemoteProtocolError("connection closed before the answer was complete")
