"""Plan a replayed request (pure): the recorded request, aimed at a target.

The bytes sent are the recorded ones: request line, header order, case and spacing, body and
its framing (chunk sizes, extensions, trailers). Only the Host value changes, in place, to
the target's (unless keep_host), and a target URL path is prefixed to the request target.
A recorded request whose body disagrees with its framing is not sent: `problem` says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from shadowdiff import http1
from shadowdiff.errors import InputError
from shadowdiff.exchange import Request

_HOST_LINE = re.compile(rb"^(host[ \t]*:[ \t]*)(.*?)([ \t]*)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Target:
    """A base URL to replay to: scheme, host, port and an optional path prefix."""

    url: str
    scheme: str
    host: str
    port: int
    prefix: str = ""
    exact: str | None = None  # every request to this path?query (GoReplay's URL with a path)

    @property
    def netloc(self) -> str:
        default = (self.scheme == "http" and self.port == 80) or (
            self.scheme == "https" and self.port == 443
        )
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if default else f"{host}:{self.port}"


def exact_target(url: str, flag: str) -> Target:
    """GoReplay's `--output-http URL` with a path or a query: every request goes to exactly
    that path and query (the recorded ones are dropped), as GoReplay does."""
    parts = urlsplit(url)
    if not parts.path.strip("/") and not parts.query:
        return parse_target(url, flag)
    bare = parse_target(f"{parts.scheme}://{parts.netloc}", flag)
    exact = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url, bare.scheme, bare.host, bare.port, "", exact)


def parse_target(url: str, flag: str = "--target") -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{flag} {url}: expected a URL like http://staging:8080")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InputError(f"{flag} {url}: only scheme, host, port and a path prefix are allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InputError(f"{flag} {url}: invalid port") from None
    return Target(url, parts.scheme, parts.hostname, port, parts.path.rstrip("/"))


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    method: str
    version: str
    url: str  # where it goes (scheme://host:port/target), for logs and errors
    raw: bytes  # exactly what is written to the connection
    closes: bool  # the request asks the server to close the connection after it
    problem: str | None = None
    origin: str = ""  # scheme://host:port: the connection it goes on


def plan_request(request: Request, target: Target, keep_host: bool = False) -> PlannedRequest:
    request_target = target.exact or target.prefix + _origin_form(request.target)
    host = None if keep_host else target.netloc.encode("latin-1")
    new_target = None if request_target == request.target else request_target.encode("latin-1")
    head = rewrite_head(request.head, new_target, host)
    closes = "close" in (request.header("Connection") or "").lower() or request.version == "1.0"
    origin = f"{target.scheme}://{target.netloc}"
    return PlannedRequest(
        request.method,
        request.version,
        origin + request_target,
        head + request.body,
        closes,
        framing_problem(request),
        origin,
    )


def rewrite_head(head: bytes, request_target: bytes | None, host: bytes | None) -> bytes:
    """The head with its request target and its Host value replaced (each unless None), in
    place: every other byte, header order, case and spacing stays as recorded."""
    lines = head.split(b"\n")
    if request_target is not None:
        method, _, rest = lines[0].partition(b" ")
        _, _, version = rest.rpartition(b" ")
        lines[0] = b" ".join((method, request_target, version))
    if host is not None:
        for i, line in enumerate(lines[1:], start=1):
            ending = b"\r" if line.endswith(b"\r") else b""
            match = _HOST_LINE.match(line.removesuffix(b"\r"))
            if match:
                lines[i] = match.group(1) + host + match.group(3) + ending
                break
    return b"\n".join(lines)


def framing_problem(request: Request) -> str | None:
    """Why the recorded body cannot be sent as framed, or None."""
    if "chunked" in (request.header("Transfer-Encoding") or "").lower():
        return None if http1.is_complete_chunked(request.body) else "incomplete chunked body"
    length = request.header("Content-Length")
    if length is None:
        return f"a {len(request.body)}-byte body without Content-Length" if request.body else None
    if not length.strip().isdigit():
        return f"invalid Content-Length {length!r}"
    if int(length) != len(request.body):
        return (
            f"Content-Length {length.strip()} but the recorded body has {len(request.body)} bytes"
        )
    return None


def _origin_form(target: str) -> str:
    """`http://host/p?q` (absolute form, as sent to proxies) -> `/p?q`."""
    if target.startswith("/") or target == "*":
        return target
    parts = urlsplit(target)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
