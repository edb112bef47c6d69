"""Record realistic traffic of the baseline sample service into a GoReplay-compatible .gor file.

    python -m shadowdiff.samples.generate -o sample_traffic/sample.gor [--seed N]

Starts the baseline build on a free port and plays a seeded mix of requests over a few raw
keep-alive TCP connections, each one a different client (mobile apps, curl, a Python script)
with its own header order and case. The request bytes are written exactly as sent; each
response is read off the socket exactly as received (h11 finds where it ends, chunked or not).
`Host` is the recorded origin, `api.example.com`, as a capture in production would show it.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import h11

from shadowdiff.gorfile import REQUEST, RESPONSE, GorRecord, write_gor
from shadowdiff.samples.service import SampleService

ORIGIN = "api.example.com"
CONNECTIONS = 6
DEFAULT_SEED = 20240501
MIX = {
    "users": 60,
    "orders": 40,
    "products": 40,
    "search": 20,
    "config": 10,
    "export": 10,
    "cart": 20,
    "items": 30,
    "health": 10,
}
QUERIES = (
    "usb-c cable",
    "keyboard",
    "monitor 27",
    "headphones",
    "desk lamp",
    "ssd",
    "webcam",
    "laptop stand",
    "dock",
    "mouse wireless",
)

IOS_AGENT = "ShopApp/5.12.1 (com.example.shop; build:4512; iOS 17.4.1) Alamofire/5.9.0"
TOKEN_ALPHABET = "abcdefghijkmnopqrstuvwxyz0123456789"

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Client:
    """One kind of client: how it spells and orders its headers."""

    name: str
    headers: Callable[[random.Random, str], Headers]


def _ios(rng: random.Random, token: str) -> Headers:
    return [
        ("Host", ORIGIN),
        ("Accept", "application/json"),
        ("Authorization", f"Bearer {token}"),
        ("X-Trace-Id", _trace(rng)),
        ("Accept-Language", "en-GB;q=1.0, fr-GB;q=0.9"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("User-Agent", IOS_AGENT),
        ("Connection", "keep-alive"),
    ]


def _android(rng: random.Random, token: str) -> Headers:
    return [
        ("Authorization", f"Bearer {token}"),
        ("x-trace-id", _trace(rng)),
        ("Accept", "application/json"),
        ("Host", ORIGIN),
        ("Connection", "Keep-Alive"),
        ("Accept-Encoding", "gzip"),
        ("User-Agent", "okhttp/4.12.0"),
    ]


def _curl(rng: random.Random, token: str) -> Headers:
    return [
        ("Host", ORIGIN),
        ("User-Agent", "curl/8.5.0"),
        ("Accept", "*/*"),
        ("X-Trace-Id", _trace(rng)),
    ]


def _script(rng: random.Random, token: str) -> Headers:
    return [
        ("Host", ORIGIN),
        ("User-Agent", "python-requests/2.31.0"),
        ("Accept-Encoding", "gzip, deflate"),
        ("Accept", "*/*"),
        ("Connection", "keep-alive"),
        ("Authorization", f"Bearer {token}"),
        ("X-Trace-Id", _trace(rng)),
    ]


CLIENTS = (
    Client("ios", _ios),
    Client("android", _android),
    Client("curl", _curl),
    Client("script", _script),
    Client("ios", _ios),
    Client("android", _android),
)


def _trace(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def _token(rng: random.Random) -> str:
    return "eyJhbGciOiJIUzI1NiJ9." + "".join(rng.choices(TOKEN_ALPHABET, k=24))


def _target(family: str, rng: random.Random) -> str:
    """A request target of one endpoint family (ids in the ranges the service answers)."""
    if family in ("users", "orders", "products", "export"):
        top = {"users": 50, "orders": 5000, "products": 999, "export": 300}[family]
        return f"/api/{family}/{rng.randint(1, top)}"
    if family == "search":
        return "/api/search?" + urlencode({"q": rng.choice(QUERIES), "limit": rng.choice((5, 10))})
    if family == "items":
        return f"/api/items?page={rng.randint(1, 5)}"
    return f"/api/{family}"


def _cart_body(rng: random.Random) -> bytes:
    items = [
        {
            "sku": f"SKU-{rng.randint(10000, 99999)}",
            "qty": rng.randint(1, 3),
            "price": round(rng.uniform(2, 250), 2),
        }
        for _ in range(rng.randint(1, 3))
    ]
    return json.dumps({"items": items}, separators=(",", ":")).encode()


def build_request(family: str, client: Client, rng: random.Random, token: str) -> bytes:
    """The raw bytes one client sends for one request of `family`."""
    headers = client.headers(rng, token)
    method, body = "GET", b""
    if family == "cart":
        method, body = "POST", _cart_body(rng)
        headers += [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ]
    head = f"{method} {_target(family, rng)} HTTP/1.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("latin-1") + body


class _Connection:
    """One raw keep-alive TCP connection; h11 (as a client) finds where each response ends."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=10)
        self.h11 = h11.Connection(h11.CLIENT)

    def exchange(self, raw_request: bytes) -> bytes:
        self._track_request(raw_request)
        self.sock.sendall(raw_request)
        received = bytearray()
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                data = self.sock.recv(65536)
                received += data
                self.h11.receive_data(data)
            elif isinstance(event, h11.EndOfMessage):
                self.h11.start_next_cycle()
                return bytes(received)
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the service closed the connection mid-response")

    def _track_request(self, raw: bytes) -> None:
        """Tell h11 a request went out (its own bytes are discarded: we send `raw`)."""
        head, _, body = raw.partition(b"\r\n\r\n")
        start, *lines = head.split(b"\r\n")
        method, target, _ = start.split(b" ")
        headers = [(name, value) for name, _, value in (line.partition(b": ") for line in lines)]
        self.h11.send(h11.Request(method=method, target=target, headers=headers))
        if body:
            self.h11.send(h11.Data(data=body))
        self.h11.send(h11.EndOfMessage())

    def close(self) -> None:
        self.sock.close()


def _plan(rng: random.Random) -> list[str]:
    families = [family for family, count in MIX.items() for _ in range(count)]
    rng.shuffle(families)
    return families


def record(address: tuple[str, int], seed: int = DEFAULT_SEED) -> list[GorRecord]:
    """Play the seeded mix against `address`; a request record and a response record each."""
    rng = random.Random(seed)
    connections = [_Connection(address) for _ in range(CONNECTIONS)]
    tokens = [_token(rng) for _ in connections]
    records: list[GorRecord] = []
    try:
        for family in _plan(rng):
            index = rng.randrange(CONNECTIONS)
            raw = build_request(family, CLIENTS[index], rng, tokens[index])
            exchange_id = uuid.UUID(int=rng.getrandbits(128)).hex[:24]
            sent = time.time_ns()
            response = connections[index].exchange(raw)
            done = time.time_ns()
            records += [
                GorRecord(REQUEST, exchange_id, sent, 0, raw),
                GorRecord(RESPONSE, exchange_id, done, 0, response),
            ]
    finally:
        for connection in connections:
            connection.close()
    return records


def generate(output: Path, seed: int = DEFAULT_SEED) -> Counter[str]:
    """Record the mix from a fresh baseline service into `output`; counts per family."""
    with SampleService("baseline") as service:
        records = record(("127.0.0.1", service.port), seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_gor(output, records)
    return Counter(_family(r.payload) for r in records if r.type == REQUEST)


def _family(raw_request: bytes) -> str:
    path = raw_request.split(b" ", 2)[1].decode().split("?")[0]
    return path.split("/")[2]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m shadowdiff.samples.generate",
        description="Record traffic of the baseline sample service into a .gor file.",
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("sample_traffic/sample.gor"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    counts = generate(args.output, args.seed)
    size = args.output.stat().st_size
    summary = ", ".join(f"{family} {count}" for family, count in sorted(counts.items()))
    print(f"{args.output}: {sum(counts.values())} exchanges ({summary}), {size} bytes")


if __name__ == "__main__":
    main()
