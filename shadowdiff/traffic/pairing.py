"""Pair .gor records (type 1 request, type 2 origin response, same id) into exchanges.

Pure: records in, exchanges out, with counts of everything that could not be paired.
IDs are not globally unique (GoReplay reuses them), so a request is paired with the first
response carrying its id after it, and a second request with a pending id ends the first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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


def pair_records(
    records: Iterable[GorRecord], stats: TrafficStats, on_problem: OnProblem
) -> Iterator[Exchange]:
    pending: OrderedDict[str, _Pending] = OrderedDict()
    for record in records:
        if record.type == REQUEST:
            yield from _add_request(record, pending, stats, on_problem)
        elif record.type == RESPONSE:
            yield from _add_response(record, pending, stats, on_problem)
        elif record.type == REPLAYED:
            stats.replayed_responses_ignored += 1
        else:
            _report(on_problem, record, f"unknown record type {record.type}", stats)
    while pending:
        yield _without_baseline(pending.popitem(last=False)[1], stats)


def _add_request(
    record: GorRecord, pending: OrderedDict[str, _Pending], stats: TrafficStats, on_problem: OnProblem
) -> Iterator[Exchange]:
    try:
        request = Request.parse(record.payload)
    except HttpParseError as exc:
        _report(on_problem, record, f"unreadable request: {exc}", stats)
        return
    stats.requests += 1
    if record.id in pending:
        yield _without_baseline(pending.pop(record.id), stats)
    pending[record.id] = _Pending(record, request)
    if len(pending) > PENDING_WINDOW:
        yield _without_baseline(pending.popitem(last=False)[1], stats)


def _add_response(
    record: GorRecord, pending: OrderedDict[str, _Pending], stats: TrafficStats, on_problem: OnProblem
) -> Iterator[Exchange]:
    try:
        response = Response.parse(record.payload)
    except HttpParseError as exc:
        _report(on_problem, record, f"unreadable response: {exc}", stats)
        return
    stats.responses += 1
    entry = pending.pop(record.id, None)
    if entry is None:
        stats.responses_without_request += 1
        return
    latency = record.timestamp - entry.record.timestamp
    yield Exchange(
        entry.record.id, entry.request, response, entry.record.timestamp,
        latency if latency >= 0 else None, entry.record.where,
    )


def _without_baseline(entry: _Pending, stats: TrafficStats) -> Exchange:
    stats.requests_without_response += 1
    record = entry.record
    return Exchange(record.id, entry.request, None, record.timestamp, None, record.where)


def _report(on_problem: OnProblem, record: GorRecord, message: str, stats: TrafficStats) -> None:
    stats.unreadable += 1
    path, _, offset = record.where.partition(": byte ")
    on_problem(GorProblem(path, int(offset) if offset.isdigit() else -1, message))
