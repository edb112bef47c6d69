"""GoReplay's `--output-tcp` / `--input-tcp` pair: .gor records over a plain TCP stream.

The framing is the file framing (record bytes + SEPARATOR), so a GoReplay `--output-tcp` can
feed a GorTcpListener and a GorTcpSender can feed GoReplay's `--input-tcp`.

Addresses (`parse_address`): `:28020`, `host:28020`, `[::1]:28020`. An empty host means, as in
Go, all interfaces when listening (here all IPv4 interfaces, `0.0.0.0`; use `[::]:PORT` for
IPv6) and the local machine (`localhost`) when sending.

Delivery is what TCP gives: a record written into a connection the peer is about to close can
be lost, and one written just before a connection breaks can arrive twice after the resend.
Everything else is counted: `sent`, `dropped` (queue full, or still queued at close),
`not_forwarded` (type 3, which GoReplay does not forward either), `reconnects`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator

from shadowdiff.errors import EnvironmentProblem, InputError
from shadowdiff.gorfile import REQUEST, RESPONSE, SEPARATOR, GorRecord, RecordSplitter, parse_record

log = logging.getLogger(__name__)

FORWARDED = (REQUEST, RESPONSE)
READ_BLOCK = 1 << 16
MAX_RECORD = 64 << 20  # a peer sending this much without a separator is not speaking .gor
LISTENER_QUEUE = 1024  # records received but not yet consumed; beyond, senders are slowed
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 2.0
ADDRESS = re.compile(r"(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})")


def parse_address(value: str, flag: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` or `[IPv6]:PORT` -> (host, port); the host may be ""."""
    match = ADDRESS.fullmatch(value.strip())
    if match is None or int(match["port"]) > 65535:
        raise InputError(f"{flag} {value!r}: expected HOST:PORT, :PORT or [IPv6]:PORT")
    host = match["v6"] if match["v6"] is not None else match["host"]
    return host, int(match["port"])


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reason(exc: OSError) -> str:
    """Why, in a few words (asyncio rewrites a bind error's text as 'error while attempting
    to bind on address ...'; the errno says it shorter)."""
    if exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


class GorTcpSender:
    """`--output-tcp`: forward records to a listener over `workers` connections.

    `send` never blocks: it queues the record (False and `dropped` when the queue is full).
    Workers connect, reconnect with backoff (0.1 s doubling to 2 s) while the peer is down,
    and resend the record that was in flight when a connection broke. Call `send` from the
    event loop's thread (from another thread: `loop.call_soon_threadsafe(sender.send, r)`).
    """

    def __init__(self, host: str, port: int, queue_limit: int = 10_000, workers: int = 1) -> None:
        if queue_limit < 1 or workers < 1:
            raise ValueError("queue_limit and workers must be at least 1")
        self.host, self.port = host or "localhost", port
        self.sent = self.dropped = self.reconnects = self.not_forwarded = 0
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(queue_limit)
        self._worker_count = workers
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight: list[bytes | None] = [None] * workers
        self._closed = False

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    async def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(n), name=f"gor-tcp-out-{self.address}-{n}")
            for n in range(self._worker_count)
        ]

    def send(self, record: GorRecord) -> bool:
        """Queue a request or origin response; True when queued."""
        if record.type not in FORWARDED:
            self.not_forwarded += 1
            return False
        if self._closed:
            self.dropped += 1
            return False
        try:
            self._queue.put_nowait(record.to_bytes())
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        return True

    async def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (up to `timeout` seconds), then close; the rest is dropped."""
        self._closed = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        unsent = [data for data in self._in_flight if data is not None]
        self._in_flight = [None] * len(self._in_flight)
        while not self._queue.empty():
            unsent.append(self._queue.get_nowait())
            self._queue.task_done()
        self.dropped += len(unsent)
        if self.dropped:
            log.warning(
                "%s: %d record(s) not sent (queue full or closed)", self.address, self.dropped
            )

    async def _work(self, n: int) -> None:
        while True:
            reader, writer = await self._connect()
            try:
                await self._pump(n, reader, writer)
            except OSError as exc:
                log.warning("%s: connection lost: %s; reconnecting", self.address, exc)
            finally:
                await _close_writer(writer)
            self.reconnects += 1
            await asyncio.sleep(BACKOFF_FIRST)  # a peer that accepts and hangs up is no spin

    async def _pump(
        self, n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Write queued records until the peer closes; the record in flight stays in
        `_in_flight[n]` until it is written, so the next connection resends it."""
        while not reader.at_eof():
            data = self._in_flight[n]
            if data is None:
                data = self._in_flight[n] = await self._queue.get()
            if reader.at_eof():  # the peer closed while we waited for a record
                return
            writer.write(data)
            await writer.drain()
            self._in_flight[n] = None
            self.sent += 1
            self._queue.task_done()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        delay, failures = BACKOFF_FIRST, 0
        while True:
            try:
                connection = await asyncio.open_connection(self.host, self.port)
            except (OSError, UnicodeError) as exc:  # UnicodeError: a host name IDNA refuses
                level = logging.WARNING if failures == 0 else logging.DEBUG
                log.log(level, "%s: cannot connect (%s); retrying", self.address, exc)
            else:
                if failures:
                    log.info("%s: connected after %d retries", self.address, failures)
                return connection
            failures += 1
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)


class GorTcpListener:
    """`--input-tcp`: accept any number of senders and merge their records into one stream.

    Each connection is split with RecordSplitter; a malformed record is logged with the
    peer's address and skipped, and that connection goes on. `records()` ends after `close()`,
    once what was already received has been handed out.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self._port = host or "0.0.0.0", port
        self.received = self.malformed = self.connections = 0
        self._queue: asyncio.Queue[GorRecord | None] = asyncio.Queue(LISTENER_QUEUE)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[object]] = set()
        self._closed = False

    @property
    def port(self) -> int:
        """The bound port once started (the real one when 0 was asked for)."""
        return self._port

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self._port)
        except OSError as exc:
            where = format_address(self.host, self._port)
            raise EnvironmentProblem(
                f"--input-tcp {where}: cannot listen: {_reason(exc)}"
            ) from None
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def records(self) -> AsyncIterator[GorRecord]:
        while not (self._closed and self._queue.empty()):
            record = await self._queue.get()
            if record is None:
                return
            yield record

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._closed:  # accepted just before close()
            await _close_writer(writer)
            return
        self._handlers.add(task)
        self.connections += 1
        peer = format_address(*writer.get_extra_info("peername")[:2])
        try:
            await self._receive(reader, peer)
        except OSError as exc:
            log.warning("%s: connection lost: %s", peer, exc)
        except asyncio.CancelledError:
            pass  # close() ends the connection; asyncio (3.11) logs a handler that ends cancelled
        finally:
            self._handlers.discard(task)
            await _close_writer(writer)

    async def _receive(self, reader: asyncio.StreamReader, peer: str) -> None:
        splitter, fed, parsed_to = RecordSplitter(), 0, 0
        while block := await reader.read(READ_BLOCK):
            fed += len(block)
            for offset, chunk in splitter.feed(block):
                parsed_to = offset + len(chunk) + len(SEPARATOR)
                await self._accept(chunk, f"{peer}: byte {offset}")
            if fed - parsed_to > MAX_RECORD:
                self._skip(f"{peer}: byte {parsed_to}: no separator in {MAX_RECORD} bytes; closed")
                return
        offset, rest = splitter.rest()
        if rest.strip():
            self._skip(f"{peer}: byte {offset}: connection ended inside a record")

    async def _accept(self, chunk: bytes, where: str) -> None:
        try:
            record = parse_record(chunk, where)
        except ValueError as exc:
            self._skip(f"{where}: {exc}")
            return
        self.received += 1
        await self._queue.put(record)

    def _skip(self, message: str) -> None:
        self.malformed += 1
        log.warning("%s; skipped", message)
