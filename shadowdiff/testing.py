"""Factories for tests (like mitmproxy's `tflow`): small valid messages with sensible headers.

    make_exchange(baseline=make_response(json={"id": 1}))

The messages are well formed: `Request.parse(make_request().to_bytes()) == make_request()`.
"""

from __future__ import annotations

import itertools
import json as jsonlib
from collections.abc import Iterable
from http import HTTPStatus

from shadowdiff.exchange import Exchange, Request, Response, get_header
from shadowdiff.gorfile import REQUEST, RESPONSE, GorRecord

HOST = "origin.test"
_ids = itertools.count(1)


def make_request(
    method: str = "GET",
    target: str = "/",
    headers: Iterable[tuple[str, str]] | None = None,
    body: bytes = b"",
    json: object = None,
) -> Request:
    """A request; adds Host, and Content-Length (plus Content-Type for `json`) when missing."""
    pairs = list(headers or ())
    if json is not None:
        body = _json_bytes(json)
        _add_missing(pairs, "Content-Type", "application/json")
    _add_missing(pairs, "Host", HOST, first=True)
    if body or method in ("POST", "PUT", "PATCH"):
        _add_content_length(pairs, body)
    return Request(method, target, headers=tuple(pairs), body=body)


def make_response(
    status: int = 200,
    body: bytes = b"",
    json: object = None,
    headers: Iterable[tuple[str, str]] | None = None,
    content_type: str | None = None,
    reason: str | None = None,
) -> Response:
    """A response with Content-Type (application/json for `json`) and Content-Length."""
    pairs = list(headers or ())
    if json is not None:
        body = _json_bytes(json)
        content_type = content_type or "application/json"
    if content_type is not None:
        _add_missing(pairs, "Content-Type", content_type)
    if status >= 200 and status not in (204, 304):
        _add_content_length(pairs, body)
    reason = _phrase(status) if reason is None else reason
    return Response(status, reason, headers=tuple(pairs), body=body)


def make_exchange(
    request: Request | None = None,
    baseline: Response | None = None,
    id: str | None = None,
    timestamp: int = 0,
    baseline_latency: int | None = None,
) -> Exchange:
    """An exchange (without a baseline unless one is given); ids are unique 24-hex strings."""
    return Exchange(
        id if id is not None else f"{next(_ids):024x}",
        request if request is not None else make_request(),
        baseline,
        timestamp,
        baseline_latency,
    )


def gor_records_for(exchanges: Iterable[Exchange]) -> list[GorRecord]:
    """The .gor records GoReplay would write: a request, then its baseline response if any.

    The response's timestamp is the request's plus `baseline_latency` (0 when unknown), so
    pairing the records gives the exchanges back.
    """
    records: list[GorRecord] = []
    for exchange in exchanges:
        records.append(
            GorRecord(REQUEST, exchange.id, exchange.timestamp, 0, exchange.request.to_bytes())
        )
        if exchange.baseline is not None:
            seen = exchange.timestamp + (exchange.baseline_latency or 0)
            records.append(GorRecord(RESPONSE, exchange.id, seen, 0, exchange.baseline.to_bytes()))
    return records


def _json_bytes(value: object) -> bytes:
    return jsonlib.dumps(value, separators=(",", ":")).encode()


def _add_missing(pairs: list[tuple[str, str]], name: str, value: str, first: bool = False) -> None:
    if get_header(tuple(pairs), name) is None:
        pairs.insert(0 if first else len(pairs), (name, value))


def _add_content_length(pairs: list[tuple[str, str]], body: bytes) -> None:
    if get_header(tuple(pairs), "Transfer-Encoding") is None:
        _add_missing(pairs, "Content-Length", str(len(body)))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
