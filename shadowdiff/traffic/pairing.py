"""Pair .gor records (type 1 request, type 2 origin response, same id) into exchanges.

Pure: records in, exchanges out, with counts of everything that could not be paired.
IDs are not globally unique (GoReplay reuses them), so a request is paired with the first
response carrying its id after it, and a second request with a pending id ends the first.
GoReplay does not guarantee order, so a response that comes before its request waits for it,
and is paired when the request arrives, unless the request was seen later than the response
(then the response belonged to an earlier request that was not recorded).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from shadowdiff.exchange import Exchange, Request, Response
from shadowdiff.gorfile import REPLAYED, REQUEST, RESPONSE, GorProblem, GorRecord, OnProblem
from shadowdiff.http1 import HttpParseError

PENDING_WINDOW = 10_000


@dataclass(slots=True)
class TrafficStats:
    """What reading the traffic found; stored with the run so nothing is lost silently."""

    requests: int = 0
    responses: int = 0
    replayed_responses_ignored: int = 0
    unreadable: int = 0
    responses_without_request: int = 0
    requests_without_response: int = 0


@dataclass(slots=True)
class _Pending:
    record: GorRecord
    request: Request


@dataclass(slots=True)
class _Waiting:
    """Requests waiting for their response, and responses that came before their request."""

    requests: OrderedDict[str, _Pending] = field(default_factory=OrderedDict)
    responses: OrderedDict[str, tuple[GorRecord, Response]] = field(default_factory=OrderedDict)


def pair_records(
    records: Iterable[GorRecord], stats: TrafficStats, on_problem: OnProblem
) -> Iterator[Exchange]:
    waiting = _Waiting()
    for record in records:
        if record.type == REQUEST:
            yield from _add_request(record, waiting, stats, on_problem)
        elif record.type == RESPONSE:
            yield from _add_response(record, waiting, stats, on_problem)
        elif record.type == REPLAYED:
            stats.replayed_responses_ignored += 1
        else:
            _report(on_problem, record, f"unknown record type {record.type}", stats)
    while waiting.requests:
        yield _without_baseline(waiting.requests.popitem(last=False)[1], stats)
    stats.responses_without_request += len(waiting.responses)


def _add_request(
    record: GorRecord, waiting: _Waiting, stats: TrafficStats, on_problem: OnProblem
) -> Iterator[Exchange]:
    try:
        request = Request.parse(record.payload)
    except HttpParseError as exc:
        _report(on_problem, record, f"unreadable request: {exc}", stats)
        return
    stats.requests += 1
    pending = waiting.requests
    if record.id in pending:
        yield _without_baseline(pending.pop(record.id), stats)
    early = waiting.responses.pop(record.id, None)
    if early is not None and early[0].timestamp >= record.timestamp:
        yield _paired(_Pending(record, request), *early)
        return
    if early is not None:
        stats.responses_without_request += 1
    pending[record.id] = _Pending(record, request)
    if len(pending) > PENDING_WINDOW:
        yield _without_baseline(pending.popitem(last=False)[1], stats)


def _add_response(
    record: GorRecord, waiting: _Waiting, stats: TrafficStats, on_problem: OnProblem
) -> Iterator[Exchange]:
    try:
        response = Response.parse(record.payload)
    except HttpParseError as exc:
        _report(on_problem, record, f"unreadable response: {exc}", stats)
        return
    stats.responses += 1
    entry = waiting.requests.pop(record.id, None)
    if entry is not None:
        yield _paired(entry, record, response)
        return
    early = waiting.responses
    if early.pop(record.id, None) is not None:
        stats.responses_without_request += 1
    early[record.id] = (record, response)
    if len(early) > PENDING_WINDOW:
        early.popitem(last=False)
        stats.responses_without_request += 1


def _paired(entry: _Pending, record: GorRecord, response: Response) -> Exchange:
    latency = record.timestamp - entry.record.timestamp
    return Exchange(
        entry.record.id,
        entry.request,
        response,
        entry.record.timestamp,
        latency if latency >= 0 else None,
        entry.record.where,
    )


def _without_baseline(entry: _Pending, stats: TrafficStats) -> Exchange:
    stats.requests_without_response += 1
    record = entry.record
    return Exchange(record.id, entry.request, None, record.timestamp, None, record.where)


def _report(on_problem: OnProblem, record: GorRecord, message: str, stats: TrafficStats) -> None:
    stats.unreadable += 1
    path, byte, offset = record.where.rpartition(": byte ")
    if not (byte and offset.isdigit()):
        path, offset = record.where, "-1"
    on_problem(GorProblem(path, int(offset), message))
