"""The values everything else passes around: Request, Response, Exchange.

Messages keep the bytes they were recorded with (head and wire body) and decode on access,
so a replay sends exactly what the client sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shadowdiff import http1
from shadowdiff.http1 import HeaderPairs


def get_header(headers: HeaderPairs, name: str) -> str | None:
    """The first value of a header, by case-insensitive name."""
    lowered = name.lower()
    return next((value for key, value in headers if key.lower() == lowered), None)


def _content(headers: HeaderPairs, body: bytes) -> bytes:
    if "chunked" in (get_header(headers, "Transfer-Encoding") or "").lower():
        body = http1.dechunk(body)
    return http1.decode_content(get_header(headers, "Content-Encoding") or "", body)


def _is_json(headers: HeaderPairs, content: bytes) -> bool:
    """JSON by media type (`application/json`, `text/json`, `*/*+json`), or, without a
    Content-Type, by a leading `{` or `[`. NDJSON and JSON-seq are not one JSON document."""
    ctype = (get_header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    if ctype:
        return ctype in ("application/json", "text/json") or ctype.endswith("+json")
    return content.lstrip()[:1] in (b"{", b"[")


class _Message:
    """What requests and responses share: raw head + wire body, decoded on access."""

    __slots__ = ()
    headers: HeaderPairs
    body: bytes
    head: bytes

    def _fill_head(self, start_line: str) -> None:
        if not self.head:
            object.__setattr__(self, "head", http1.build_head(start_line, self.headers))

    def to_bytes(self) -> bytes:
        return self.head + self.body

    def header(self, name: str) -> str | None:
        return get_header(self.headers, name)

    @property
    def content(self) -> bytes:
        """The body with transfer and content encodings undone (raises http1.DecodeError)."""
        return _content(self.headers, self.body)


@dataclass(frozen=True, slots=True)
class Request(_Message):
    """A request as the client sent it. `head` is the raw start line and headers."""

    method: str
    target: str
    version: str = "1.1"
    headers: HeaderPairs = ()
    body: bytes = b""
    head: bytes = b""

    def __post_init__(self) -> None:
        self._fill_head(f"{self.method} {self.target} HTTP/{self.version}")

    @classmethod
    def parse(cls, raw: bytes) -> Request:
        method, target, version, headers, head, body = http1.parse_request_head(raw)
        return cls(method, target, version, headers, body, head)

    @property
    def path(self) -> str:
        if self.target.startswith("/"):  # origin-form: in "//a/b", "a" is no host
            return self.target.partition("?")[0].partition("#")[0]
        return urlsplit(self.target).path or "/"


@dataclass(frozen=True, slots=True)
class Response(_Message):
    """A response: recorded from origin (baseline) or received on replay (candidate)."""

    status: int
    reason: str = ""
    version: str = "1.1"
    headers: HeaderPairs = ()
    body: bytes = b""
    head: bytes = b""

    def __post_init__(self) -> None:
        self._fill_head(f"HTTP/{self.version} {self.status} {self.reason}".rstrip())

    @classmethod
    def parse(cls, raw: bytes) -> Response:
        version, status, reason, headers, head, body = http1.parse_response_head(raw)
        return cls(status, reason, version, headers, body, head)

    @property
    def is_json(self) -> bool:
        return _is_json(self.headers, self.content)

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request with the origin's recorded response (the baseline), if there is one.

    `timestamp` is when the request was seen (ns since the epoch); `baseline_latency` the
    origin's response time in ns (response seen - request seen), when known.
    """

    id: str
    request: Request
    baseline: Response | None = None
    timestamp: int = 0
    baseline_latency: int | None = None
    source: str = field(default="", compare=False)
