"""A small JSON API with injected noise and, in its candidate build, injected regressions.

Noise (on every answer, both builds): a fresh uuid (`$.request_id`) and timestamp
(`$.generated_at`), a shuffled array of strings (`$.tags`), a shuffled array of objects
whose elements carry a timestamp of their own (`$.friends`, `$.friends[*].seen_at`), float
jitter (`$.score`), a fresh nonce header (`X-Shop-Nonce`); and with `structural_noise`, a
field present in half the answers (`$.promo`, which no rule may hide).

Regressions (candidate only), each a kind a shadow diff must report:
- `GET /api/users/{id}`: `$.profile.nickname` is missing;
- `GET /api/orders/{id}`: `$.total` is 1 more, `$.count` is a string;
- `GET /api/search`: status 500.
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

REGRESSIONS = {
    ("GET /api/users/{id}", "$.profile.nickname", "missing"),
    ("GET /api/orders/{id}", "$.total", "value_changed"),
    ("GET /api/orders/{id}", "$.count", "type_changed"),
    ("GET /api/search", "status", "status_changed"),
}
NOISE_FIELDS = {
    "$.request_id",
    "$.generated_at",
    "$.tags",
    "$.score",
    "headers.x-shop-nonce",
    "$.friends",
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _shuffled(items: list[Any]) -> list[Any]:
    items = list(items)
    random.shuffle(items)
    return items


def user(n: int, candidate: bool, structural_noise: bool = False) -> dict[str, Any]:
    profile = {"nickname": f"nick{n}", "age": 20 + n % 50}
    if candidate:
        del profile["nickname"]
    friends = [{"id": n * 10 + k, "name": f"friend{k}", "seen_at": _now()} for k in range(4)]
    promo = {"promo": "spring"} if structural_noise and random.random() < 0.5 else {}
    return {
        "id": n,
        "name": f"user{n}",
        **promo,
        "request_id": str(uuid.uuid4()),
        "generated_at": _now(),
        "tags": _shuffled(["admin", "beta", "buyer", "seller", "staff"]),
        "score": round(n * 1.5 + random.uniform(-0.0004, 0.0004), 6),
        "profile": profile,
        "friends": _shuffled(friends),
    }


def order(n: int, candidate: bool) -> dict[str, Any]:
    total, count = n * 10.0, n % 7 + 1
    return {
        "id": n,
        "total": total + 1 if candidate else total,
        "count": str(count) if candidate else count,
        "request_id": str(uuid.uuid4()),
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        candidate = getattr(self.server, "candidate", False)
        path = self.path.partition("?")[0]
        if match := re.fullmatch(r"/api/users/(\d+)", path):
            structural = getattr(self.server, "structural_noise", False)
            self._json(200, user(int(match.group(1)), candidate, structural))
        elif match := re.fullmatch(r"/api/orders/(\d+)", path):
            self._json(200, order(int(match.group(1)), candidate))
        elif path == "/api/search":
            self._json(500 if candidate else 200, {"results": [1, 2, 3]})
        else:
            self._json(404, {"error": "not found"})

    def _json(self, status: int, value: Any) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Shop-Nonce", uuid.uuid4().hex)
        self.end_headers()
        self.wfile.write(body)


class NoisyService:
    """`with NoisyService(candidate=True) as service:` serves on 127.0.0.1, a free port."""

    def __init__(self, candidate: bool, structural_noise: bool = False) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.candidate = candidate  # type: ignore[attr-defined]
        self._server.structural_noise = structural_noise  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> NoisyService:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def requests() -> list[str]:
    """The traffic: 40 users, 30 orders, 10 searches."""
    targets = [f"/api/users/{n}" for n in range(1, 41)]
    targets += [f"/api/orders/{n}" for n in range(1, 31)]
    targets += [f"/api/search?q=w{n}" for n in range(10)]
    return targets
