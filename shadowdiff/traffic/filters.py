"""GoReplay's HTTP filters, pure: why a request is dropped, as a short stable reason, or None.

Header values and request targets are Latin-1 text (one character per byte), as
`Request` keeps them; regular expressions search them (Go's `Match` is unanchored), and a
header with an empty value counts as missing, as GoReplay's byte search has it.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from shadowdiff.exchange import Request
from shadowdiff.traffic.rewrites import param_value

if TYPE_CHECKING:
    from shadowdiff.traffic.shaping import Shaping

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv1a32(data: bytes) -> int:
    """The 32-bit FNV-1a hash (Go's `hash/fnv.New32a`), which GoReplay's limiters use."""
    value = _FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value


def is_sampled(value: str, percent: int) -> bool:
    """Whether a limiter keeps a request with this header or parameter value: the same value
    always gets the same answer, and about `percent` in 100 distinct values are kept."""
    return fnv1a32(value.encode("latin-1")) % 100 < percent


def basic_credentials(authorization: str | None) -> str | None:
    """The decoded `user:password` of an `Authorization: Basic ...` value, or None when there is
    no such value. Base64 that does not decode gives "" (GoReplay ignores the error too)."""
    if not authorization or not authorization.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(authorization.removeprefix("Basic "), validate=True)
    except binascii.Error:
        decoded = b""
    return decoded.decode("utf-8", "replace")


def method_reason(request: Request, shaping: Shaping) -> str | None:
    """--http-allow-method, which GoReplay checks before it sets anything."""
    if shaping.allow_methods and request.method not in shaping.allow_methods:
        return f"--http-allow-method: not {' or '.join(shaping.allow_methods)}"
    return None


def drop_reason(request: Request, shaping: Shaping) -> str | None:
    """The filters after --http-set-header and --http-set-param, in GoReplay's order: URLs,
    headers, Basic credentials, limiters. The first that drops the request says why."""
    for reason_of in (_url_reason, _header_reason, _basic_auth_reason, _limiter_reason):
        if (reason := reason_of(request, shaping)) is not None:
            return reason
    return None


def _url_reason(request: Request, shaping: Shaping) -> str | None:
    target = request.target
    if shaping.allow_urls and not any(pattern.search(target) for pattern in shaping.allow_urls):
        return "--http-allow-url: no pattern matched"
    for pattern in shaping.disallow_urls:
        if pattern.search(target):
            return f"--http-disallow-url: matched {pattern.pattern}"
    return None


def _header_reason(request: Request, shaping: Shaping) -> str | None:
    for name, pattern in shaping.allow_headers:  # every one must match
        value = request.header(name)
        if not value:
            return f"--http-allow-header {name}: missing"
        if not pattern.search(value):
            return f"--http-allow-header {name}: no match for {pattern.pattern}"
    for name, pattern in shaping.disallow_headers:
        value = request.header(name)
        if value and pattern.search(value):
            return f"--http-disallow-header {name}: matched {pattern.pattern}"
    return None


def _basic_auth_reason(request: Request, shaping: Shaping) -> str | None:
    # As in GoReplay, a request without Basic credentials (no Authorization header, or another
    # scheme) passes: the filter only judges the credentials there are.
    if not shaping.basic_auth_filters:
        return None
    credentials = basic_credentials(request.header("Authorization"))
    if credentials is None:
        return None
    for pattern in shaping.basic_auth_filters:
        if not pattern.search(credentials):
            return f"--http-basic-auth-filter: no match for {pattern.pattern}"
    return None


def _limiter_reason(request: Request, shaping: Shaping) -> str | None:
    # Requests without the header (or with it empty), or without the parameter, pass.
    if shaping.header_limiter is not None:
        name, percent = shaping.header_limiter
        value = request.header(name)
        if value and not is_sampled(value, percent):
            return f"--http-header-limiter {name}: {percent}%"
    if shaping.param_limiter is not None:
        name, percent = shaping.param_limiter
        value = param_value(request.target, name)
        if value is not None and not is_sampled(value, percent):
            return f"--http-param-limiter {name}: {percent}%"
    return None
