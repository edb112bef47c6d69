"""Plan a replayed request (pure): the recorded request, aimed at a target.

Method, target, header order and case, and body are as recorded. Only Host changes (to the
target's) unless keep_host is set; a chunked body is re-framed by the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from shadowdiff.errors import InputError
from shadowdiff.exchange import Request


@dataclass(frozen=True, slots=True)
class Target:
    """A base URL to replay to: scheme, host, port and an optional path prefix."""

    url: str
    scheme: str
    host: str
    port: int
    prefix: str = ""

    @property
    def netloc(self) -> str:
        default = (self.scheme == "http" and self.port == 80) or (
            self.scheme == "https" and self.port == 443
        )
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if default else f"{host}:{self.port}"


def parse_target(url: str, flag: str = "--target") -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{flag} {url}: expected a URL like http://staging:8080")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InputError(f"{flag} {url}: invalid port") from None
    return Target(url, parts.scheme, parts.hostname, port, parts.path.rstrip("/"))


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    method: str
    url: str
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    content: bytes
    chunked: bool


def plan_request(request: Request, target: Target, keep_host: bool = False) -> PlannedRequest:
    raw_target = (target.prefix + _origin_form(request.target)).encode("latin-1")
    headers = tuple(
        (name.encode("latin-1"), _header_value(name, value, target, keep_host).encode("latin-1"))
        for name, value in request.headers
    )
    chunked = "chunked" in (request.header("Transfer-Encoding") or "").lower()
    content = request.content if chunked else request.body
    url = f"{target.scheme}://{target.netloc}{target.prefix}/"
    return PlannedRequest(request.method, url, raw_target, headers, content, chunked)


def _origin_form(target: str) -> str:
    """`http://host/p?q` (absolute form, as sent to proxies) -> `/p?q`."""
    if target.startswith("/") or target == "*":
        return target
    parts = urlsplit(target)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _header_value(name: str, value: str, target: Target, keep_host: bool) -> str:
    return target.netloc if name.lower() == "host" and not keep_host else value
