"""HAR 1.2 (browsers, proxies, API tools) -> .gor records.

A HAR keeps decoded bodies and header lists, not wire bytes, so each message is rebuilt as
HTTP/1.1: pseudo-headers (`:authority`...) dropped, Host added from the URL when missing,
Content-Encoding and Transfer-Encoding removed (the body is already decoded) and
Content-Length set to the body's length.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shadowdiff.errors import InputError
from shadowdiff.gorfile import REQUEST, RESPONSE, GorRecord

_DROPPED = {"content-encoding", "transfer-encoding", "content-length", "connection"}


def read_har(path: Path) -> Iterator[tuple[GorRecord, GorRecord | None]]:
    """(request record, response record or None) per HAR entry, in file order."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        entries = data["log"]["entries"]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not a HAR file: {exc.msg}") from None
    except (KeyError, TypeError):
        raise InputError(f"{path}: not a HAR file (no log.entries)") from None
    for index, entry in enumerate(entries):
        try:
            yield _records(entry)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: entry {index}: invalid HAR entry ({exc!r})") from None


def _records(entry: dict[str, Any]) -> tuple[GorRecord, GorRecord | None]:
    gor_id = secrets.token_hex(12)
    started = _ns(entry["startedDateTime"])
    request = _request_bytes(entry["request"])
    response = entry.get("response") or {}
    if not response.get("status"):  # 0: the browser got no answer
        return GorRecord(REQUEST, gor_id, started, 0, request), None
    waited = int(float(entry.get("time") or 0) * 1_000_000)
    answer = GorRecord(RESPONSE, gor_id, started + waited, 0, _response_bytes(response))
    return GorRecord(REQUEST, gor_id, started, 0, request), answer


def _request_bytes(request: dict[str, Any]) -> bytes:
    url = urlsplit(request["url"])
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    body = _text(request.get("postData") or {})
    headers = _headers(request.get("headers") or [], body)
    if not any(name.lower() == "host" for name, _ in headers):
        headers.insert(0, ("Host", url.netloc))
    return _message(f"{request['method']} {target} HTTP/1.1", headers, body)


def _response_bytes(response: dict[str, Any]) -> bytes:
    body = _content(response.get("content") or {})
    reason = response.get("statusText") or ""
    headers = _headers(response.get("headers") or [], body)
    return _message(f"HTTP/1.1 {int(response['status'])} {reason}".rstrip(), headers, body)


def _headers(pairs: list[dict[str, Any]], body: bytes) -> list[tuple[str, str]]:
    headers = [
        (str(h["name"]), str(h["value"]))
        for h in pairs
        if not str(h["name"]).startswith(":") and str(h["name"]).lower() not in _DROPPED
    ]
    if body:
        headers.append(("Content-Length", str(len(body))))
    return headers


def _message(start: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [start, *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def _text(post: dict[str, Any]) -> bytes:
    return str(post.get("text") or "").encode("utf-8")


def _content(content: dict[str, Any]) -> bytes:
    text = str(content.get("text") or "")
    if content.get("encoding") == "base64":
        return base64.b64decode(text)
    return text.encode("utf-8")


def _ns(stamp: str) -> int:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def is_har(path: Path) -> bool:
    """A HAR file by name, or by a JSON object at its start."""
    if path.suffix.lower() == ".har":
        return True
    try:
        with open(path, "rb") as stream:
            return stream.read(64).lstrip().startswith(b"{")
    except OSError:
        return False
