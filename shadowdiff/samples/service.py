"""The bundled sample service: a "baseline" build and a "candidate" build of one small JSON API.

The candidate carries realistic noise (reordered arrays, jitter, fresh ids and timestamps) that
the bundled rules cancel, and these deliberate regressions, which a shadow diff must report:

- A. `GET /api/users/{id}`: `$.profile.nickname` is missing;
- B. `GET /api/orders/{id}`: `$.items[1].price` is wrong (`total` is unchanged);
- C. `GET /api/products/{id}`: `$.stock` is a string;
- D. `GET /api/search`: status 500 instead of 200;
- E. `GET /api/config`: the same bytes, but `Content-Type: text/plain`;
- F. `GET /api/export/{id}`: the connection is reset, no answer at all.

Standard library only: `python -m shadowdiff.samples.service --build candidate --port 8081`.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import re
import socket
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from shadowdiff.samples import data
from shadowdiff.samples.data import Build

ITEMS_CHUNK = 256


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # replays open many connections at once

    def __init__(self, address: tuple[str, int], build: Build) -> None:
        super().__init__(address, _Handler)
        self.build: Build = build
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()

    def disconnect_all(self) -> None:
        """Wake idle keep-alive handlers so their threads end when the service stops."""
        with self.lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sample-service/2.3"
    timeout = 60  # an idle keep-alive connection is closed after a minute
    disable_nagle_algorithm = True  # head and body go out in separate writes

    @property
    def build(self) -> Build:
        return cast(_Server, self.server).build

    def setup(self) -> None:
        super().setup()
        server = cast(_Server, self.server)
        with server.lock:
            server.connections.add(self.connection)

    def finish(self) -> None:
        server = cast(_Server, self.server)
        with server.lock:
            server.connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the peer went away, or we reset on purpose
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no access log on stderr."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        for pattern, handler in _GET_ROUTES:
            if match := pattern.fullmatch(url.path):
                handler(self, match.group(1) if pattern.groups else "", query)
                return
        self.send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if urlsplit(self.path).path != "/api/cart":
            self.send_json(404, {"error": "not found"})
            return
        try:
            created = data.cart(json.loads(body))
        except ValueError:
            created = None
        if created is None:
            self.send_json(400, {"error": 'body must be {"items": [{sku, qty, price}]}'})
        else:
            self.send_json(201, created)

    # -- responses ---------------------------------------------------------------------------

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def send_bytes(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_chunked_json(self, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if "gzip" in (self.headers.get("Accept-Encoding") or "").lower():
            body = gzip.compress(body, mtime=0)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(body), ITEMS_CHUNK):
            chunk = body[start : start + ITEMS_CHUNK]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def reset_connection(self) -> None:
        """Abort with a TCP RST (SO_LINGER on, 0 s) and no answer at all."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drop the makefile reference so close() really closes now
        self.connection.close()


# -- endpoints ---------------------------------------------------------------------------------

Query = dict[str, str]


def _users(handler: _Handler, user_id: str, _query: Query) -> None:
    payload = data.user(int(user_id), handler.build)
    if payload is None:
        handler.send_json(404, {"error": "not found"})
    else:
        handler.send_json(200, payload, {"X-Request-Id": data.request_id()})


def _orders(handler: _Handler, order_id: str, _query: Query) -> None:
    handler.send_json(200, data.order(int(order_id), handler.build))


def _products(handler: _Handler, product_id: str, _query: Query) -> None:
    handler.send_json(200, data.product(int(product_id), handler.build))


def _search(handler: _Handler, _unused: str, query: Query) -> None:
    if handler.build == "candidate":
        handler.send_json(500, {"error": "internal"})  # REGRESSION D
        return
    limit = query.get("limit", "10")
    handler.send_json(200, data.search(query.get("q", ""), int(limit) if limit.isdigit() else 10))


def _config(handler: _Handler, _unused: str, _query: Query) -> None:
    ctype = "text/plain" if handler.build == "candidate" else "application/json"  # REGRESSION E
    handler.send_bytes(200, data.CONFIG_BODY, ctype)


def _export(handler: _Handler, export_id: str, _query: Query) -> None:
    if handler.build == "candidate":
        handler.reset_connection()  # REGRESSION F
        return
    handler.send_json(200, data.export(int(export_id)))


def _items(handler: _Handler, _unused: str, query: Query) -> None:
    page = query.get("page", "1")
    handler.send_chunked_json(data.items_page(int(page) if page.isdigit() else 1))


def _health(handler: _Handler, _unused: str, _query: Query) -> None:
    handler.send_json(200, {"status": "ok"})


Route = Callable[[_Handler, str, Query], None]
_GET_ROUTES: list[tuple[re.Pattern[str], Route]] = [
    (re.compile(r"/api/users/(\d+)"), _users),
    (re.compile(r"/api/orders/(\d+)"), _orders),
    (re.compile(r"/api/products/(\d+)"), _products),
    (re.compile(r"/api/search"), _search),
    (re.compile(r"/api/config"), _config),
    (re.compile(r"/api/export/(\d+)"), _export),
    (re.compile(r"/api/items"), _items),
    (re.compile(r"/api/health"), _health),
]


# -- the service -------------------------------------------------------------------------------


class SampleService:
    """One build of the sample service, served from a background daemon thread."""

    def __init__(self, build: Build, host: str = "127.0.0.1", port: int = 0) -> None:
        if build not in ("baseline", "candidate"):
            raise ValueError(f"build must be 'baseline' or 'candidate', not {build!r}")
        self.build: Build = build
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SampleService:
        if self._server is None:
            self._server = _Server((self.host, self.port), self.build)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sample-{self.build}-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.disconnect_all()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> SampleService:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m shadowdiff.samples.service",
        description="Serve one build of the bundled sample service until Ctrl-C.",
    )
    parser.add_argument("--build", choices=("baseline", "candidate"), default="baseline")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    service = SampleService(args.build, args.host, args.port).start()
    print(f"sample service ({args.build}) on {service.url} - Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()


if __name__ == "__main__":
    main()
