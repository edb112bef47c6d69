"""Real TCP servers on 127.0.0.1 (port 0) for replay tests: they record the exact bytes
each request arrived as and answer with whatever the test scripts, including nothing,
garbage, a reset, or a slow answer."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType

import h11

Handler = Callable[[bytes, socket.socket], None]


class RequestReader:
    """Reads whole requests off a connection, one at a time (h11 finds each end), keeping
    what a pipelining client sent beyond the current request. A request with
    `Expect: 100-continue` gets `100 Continue` once its head is in."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.leftover = conn, b""

    def next(self) -> bytes | None:
        """The next request's exact bytes; None when the peer closed."""
        parser = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 22)
        raw, data = b"", self.leftover
        while True:
            if data:
                raw += data
                parser.receive_data(data)
                data = b""
            event = parser.next_event()
            if isinstance(event, h11.Request) and parser.they_are_waiting_for_100_continue:
                self.conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            elif event is h11.NEED_DATA:
                data = self.conn.recv(65536)
                if not data:
                    return None
            elif isinstance(event, h11.EndOfMessage):
                self.leftover = bytes(parser.trailing_data[0])
                return raw[: len(raw) - len(self.leftover)]


def read_request(conn: socket.socket) -> bytes | None:
    """One whole request (see RequestReader)."""
    return RequestReader(conn).next()


def answer(
    body: bytes = b'{"ok": true}', status: int = 200, content_type: str = "application/json"
) -> Handler:
    def handle(_raw: bytes, conn: socket.socket) -> None:
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        conn.sendall(head + body)

    return handle


def reset(_raw: bytes, conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raise ConnectionAbortedError


def garbage(_raw: bytes, conn: socket.socket) -> None:
    conn.sendall(b"THIS IS NOT HTTP\r\n\r\n")
    raise ConnectionAbortedError


def silent(_raw: bytes, _conn: socket.socket) -> None:
    time.sleep(2)
    raise ConnectionAbortedError


class RawServer:
    """Threaded keep-alive server; `received` holds each request's raw bytes."""

    def __init__(self, handler: Handler, delay: float = 0.0) -> None:
        self.handler, self.delay = handler, delay
        self.received: list[bytes] = []
        self.arrived: list[float] = []  # time.monotonic() when each request was whole
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping = False
        self.connections = 0

    def __enter__(self) -> RawServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._sock.close()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            reader = RequestReader(conn)
            try:
                while (raw := reader.next()) is not None:
                    self.arrived.append(time.monotonic())
                    self.received.append(raw)
                    time.sleep(self.delay)
                    self.handler(raw, conn)
            except (OSError, h11.ProtocolError):
                pass
