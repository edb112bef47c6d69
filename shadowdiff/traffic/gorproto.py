"""GoReplay's middleware protocol, without I/O (research/goreplay.md §3).

A middleware reads one line per message, `hex(meta_line + "\\n" + payload)`, and writes
back, in the same form, what should go on: echoed continues, not echoed is dropped, extra lines
are new messages, and nothing about order is promised. `EchoPairer` turns the records
sent and the records echoed into exchanges again; the caller supplies the clock.
"""

from __future__ import annotations

import binascii
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from shadowdiff.exchange import Exchange, Request, Response
from shadowdiff.gorfile import REPLAYED, REQUEST, RESPONSE, GorRecord, parse_record

OnProblem = Callable[[str], None]
M = TypeVar("M", Request, Response)


def encode_line(record: GorRecord) -> bytes:
    """One message as GoReplay writes it to a middleware: lowercase hex and a newline."""
    return binascii.hexlify(record.meta_line() + b"\n" + record.payload) + b"\n"


def decode_line(line: bytes) -> GorRecord:
    """One line a middleware wrote (hex in either case, surrounding whitespace ignored).
    Raises ValueError saying why it is not a message."""
    try:
        data = binascii.unhexlify(line.strip())
    except ValueError as exc:
        raise ValueError(f"not hex: {exc}") from None
    return parse_record(data)


def wire_id(exchange_id: str) -> str:
    """The id in the meta line: one non-empty ASCII field (GoReplay splits it on spaces)."""
    joined = "_".join(exchange_id.split()) or "-"
    return joined.encode("ascii", "backslashreplace").decode("ascii")


def request_record(exchange: Exchange) -> GorRecord:
    """`1 <id> <timestamp> 0`: the request as it was recorded."""
    raw = exchange.request.to_bytes()
    return GorRecord(REQUEST, wire_id(exchange.id), exchange.timestamp, 0, raw)


def baseline_record(exchange: Exchange) -> GorRecord | None:
    """`2 <id> <timestamp + baseline latency> 0`: the baseline, when there is one."""
    if exchange.baseline is None:
        return None
    seen = exchange.timestamp + (exchange.baseline_latency or 0)
    return GorRecord(RESPONSE, wire_id(exchange.id), seen, 0, exchange.baseline.to_bytes())


def replayed_record(exchange_id: str, started_ns: int, latency_ns: int, raw: bytes) -> GorRecord:
    return GorRecord(REPLAYED, wire_id(exchange_id), started_ns, latency_ns, raw)


@dataclass(slots=True)
class MiddlewareStats:
    """What went through a middleware. `dropped`: requests sent whose echo never came back;
    `added`: requests echoed that were never sent; `baselines_dropped`: exchanges that went on
    without the baseline they were sent with; `unpaired`: echoed responses with no request."""

    sent: Counter[int] = field(default_factory=Counter)
    echoed: Counter[int] = field(default_factory=Counter)
    added: int = 0
    dropped: int = 0
    malformed: int = 0
    baselines_dropped: int = 0
    unpaired: int = 0


@dataclass(slots=True, eq=False)
class _Entry:
    """One exchange on its way through: sent (`original` set) or added by the middleware."""

    key: str
    original: Exchange | None
    timestamp: int
    request: Request | None = None
    request_back: bool = False
    baseline: Response | None = None
    baseline_seen: int | None = None
    awaits_baseline: bool = True
    broken: bool = False
    done: bool = False


class EchoPairer:
    """Pairs echoed records with the exchanges sent, FIFO per id (GoReplay ids repeat).

    An exchange is ready once its request is back and its baseline is back too, or it had
    none, or `hold` seconds passed since its request came back. A request not back after
    `forget_after` seconds is dropped; so is everything not back when `finish()` is called.
    An echoed request with an id never sent is a new exchange, paired with a response of
    that id echoed within `hold` seconds before or after it.
    """

    def __init__(
        self, stats: MiddlewareStats, hold: float, forget_after: float, on_problem: OnProblem
    ) -> None:
        self.stats, self.hold, self.forget_after = stats, hold, forget_after
        self._on_problem = on_problem
        self._waiting: dict[str, deque[_Entry]] = {}
        self._orphans: dict[str, deque[tuple[float, int, Response]]] = {}
        self._forget: deque[tuple[float, _Entry]] = deque()
        self._hold: deque[tuple[float, _Entry]] = deque()
        self._orphan_times: deque[tuple[float, str]] = deque()
        self.pending = 0

    def sent(self, exchange: Exchange, now: float, with_baseline: bool = True) -> None:
        """An exchange went to the middleware: its request, and its baseline unless
        `with_baseline` is False (then the baseline goes on as it was)."""
        entry = _Entry(wire_id(exchange.id), exchange, exchange.timestamp)
        entry.awaits_baseline = with_baseline and exchange.baseline is not None
        if not with_baseline:
            entry.baseline = exchange.baseline
        self._add(entry)
        self._forget.append((now + self.forget_after, entry))

    def echoed(self, record: GorRecord, now: float) -> list[Exchange]:
        """Take one echoed request or response; returns the exchanges it completes."""
        if record.type == REQUEST:
            return self._take_request(record, now)
        if record.type == RESPONSE:
            return self._take_response(record, now)
        self._problem(f"echoed message of type {record.type}, not 1, 2 or 3")
        return []

    def expire(self, now: float) -> list[Exchange]:
        ready: list[Exchange] = []
        while self._hold and self._hold[0][0] <= now:
            entry = self._hold.popleft()[1]
            if not entry.done:
                ready += self._finalize(entry)
        while self._forget and self._forget[0][0] <= now:
            entry = self._forget.popleft()[1]
            if not entry.done and not entry.request_back:
                self._discard(entry)
                self.stats.dropped += 1
        self._expire_orphans(now)
        return ready

    def finish(self) -> list[Exchange]:
        """The middleware's output ended: what came back goes on, the rest was dropped."""
        entries = [entry for queue in self._waiting.values() for entry in queue]
        ready = [done for entry in entries if entry.request_back for done in self._finalize(entry)]
        for entry in entries:
            if not entry.done:
                self._discard(entry)
                self.stats.dropped += 1
        self.stats.unpaired += sum(len(queue) for queue in self._orphans.values())
        self._orphans.clear()
        return ready

    def next_deadline(self) -> float | None:
        for queue in (self._hold, self._forget):
            while queue and queue[0][1].done:
                queue.popleft()
        heads = [queue[0][0] for queue in (self._hold, self._forget, self._orphan_times) if queue]
        return min(heads, default=None)

    def _take_request(self, record: GorRecord, now: float) -> list[Exchange]:
        entry = self._first(record.id, lambda entry: not entry.request_back)
        if entry is None:
            return self._take_added(record, now)
        original = entry.original.request if entry.original is not None else None
        entry.request = self._parse(Request.parse, record.payload, original)
        return self._request_back(entry, now)

    def _take_added(self, record: GorRecord, now: float) -> list[Exchange]:
        request = self._parse(Request.parse, record.payload, None)
        if request is None:
            return []
        entry = _Entry(record.id, None, record.timestamp, request)
        self.stats.added += 1
        self._add(entry)
        orphans = self._orphans.get(record.id)
        if orphans:
            _, seen, baseline = orphans.popleft()
            if not orphans:
                del self._orphans[record.id]
            entry.baseline, entry.baseline_seen, entry.awaits_baseline = baseline, seen, False
        return self._request_back(entry, now)

    def _request_back(self, entry: _Entry, now: float) -> list[Exchange]:
        entry.request_back = True
        entry.broken = entry.broken or entry.request is None
        if entry.awaits_baseline:
            self._hold.append((now + self.hold, entry))
            return []
        return self._finalize(entry)

    def _take_response(self, record: GorRecord, now: float) -> list[Exchange]:
        entry = self._first(record.id, lambda entry: entry.awaits_baseline)
        original = entry.original.baseline if entry and entry.original else None
        baseline = self._parse(Response.parse, record.payload, original)
        if entry is None:
            if baseline is not None:
                self._orphans.setdefault(record.id, deque()).append(
                    (now, record.timestamp, baseline)
                )
                self._orphan_times.append((now + self.hold, record.id))
            return []
        entry.baseline, entry.baseline_seen = baseline, record.timestamp
        entry.awaits_baseline = False
        entry.broken = entry.broken or baseline is None
        return self._finalize(entry) if entry.request_back else []

    def _expire_orphans(self, now: float) -> None:
        while self._orphan_times and self._orphan_times[0][0] <= now:
            key = self._orphan_times.popleft()[1]
            orphans = self._orphans.get(key)
            if orphans and orphans[0][0] + self.hold <= now:
                orphans.popleft()
                self.stats.unpaired += 1
                if not orphans:
                    del self._orphans[key]

    def _parse(self, parse: Callable[[bytes], M], payload: bytes, original: M | None) -> M | None:
        """The echoed message; the original object itself when the bytes did not change."""
        if original is not None and _has_bytes(original, payload):
            return original
        try:
            return parse(payload)
        except ValueError as exc:
            self._problem(f"echoed payload is not HTTP ({exc}); its exchange is dropped")
            return None

    def _finalize(self, entry: _Entry) -> list[Exchange]:
        ready = [] if entry.broken else self._rebuild(entry)
        self._discard(entry)
        return ready

    def _rebuild(self, entry: _Entry) -> list[Exchange]:
        original, request, baseline = entry.original, entry.request, entry.baseline
        if request is None:
            return []
        if original is None:
            seen = entry.baseline_seen
            latency = None if seen is None else seen - entry.timestamp
            return [Exchange(entry.key, request, baseline, entry.timestamp, latency)]
        if baseline is None and original.baseline is not None:
            self.stats.baselines_dropped += 1
        latency = original.baseline_latency if baseline is not None else None
        return [replace(original, request=request, baseline=baseline, baseline_latency=latency)]

    def _first(self, key: str, wanted: Callable[[_Entry], bool]) -> _Entry | None:
        return next((entry for entry in self._waiting.get(key, ()) if wanted(entry)), None)

    def _add(self, entry: _Entry) -> None:
        self._waiting.setdefault(entry.key, deque()).append(entry)
        self.pending += 1

    def _discard(self, entry: _Entry) -> None:
        """Done with it; it may stay in a deadline queue a while, so let go of its messages."""
        entry.done = True
        entry.original = entry.request = entry.baseline = None
        queue = self._waiting[entry.key]
        queue.remove(entry)
        if not queue:
            del self._waiting[entry.key]
        self.pending -= 1

    def _problem(self, message: str) -> None:
        self.stats.malformed += 1
        self._on_problem(message)


def _has_bytes(message: Request | Response, payload: bytes) -> bool:
    head = len(message.head)
    view = memoryview(payload)
    return view[:head] == message.head and view[head:] == message.body


class ReplayLedger:
    """Exchanges handed on whose replayed response (type 3) is still to be sent to the
    middleware; each is forgotten at its deadline (a failed replay sends none)."""

    def __init__(self) -> None:
        self._due: dict[str, deque[float]] = {}
        self._deadlines: deque[tuple[float, str]] = deque()

    def expect(self, key: str, deadline: float) -> None:
        self._due.setdefault(key, deque()).append(deadline)
        self._deadlines.append((deadline, key))
        while self._deadlines and self._deadlines[0][1] not in self._due:
            self._deadlines.popleft()  # settled already: memory stays bounded on a long run

    def settle(self, key: str) -> None:
        due = self._due.get(key)
        if due:
            due.popleft()
            if not due:
                del self._due[key]

    def outstanding(self, now: float) -> int:
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, key = self._deadlines.popleft()
            due = self._due.get(key)
            if due and due[0] <= deadline:
                self.settle(key)
        return sum(len(due) for due in self._due.values())
