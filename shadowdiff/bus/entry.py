"""One stream entry = one exchange, as its .gor records in the file framing (pure).

The field `gor` holds the request record, then the recorded response record when there is
one, each `meta line \\n payload SEPARATOR`: exactly the bytes `record -o` writes, so that
`segment export` concatenates entries into a .gor file that is byte for byte a recording.
The field `uid` (`<publisher uuid>:<sequence number>`) names the exchange: a batch sent
again after its reply was lost (the connection broke) puts the same exchange in the stream
under new entry ids, with the same uid, and the run stores each uid once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from shadowdiff.exchange import Exchange
from shadowdiff.gorfile import REQUEST, RESPONSE, GorProblem, GorRecord, RecordSplitter
from shadowdiff.gorfile import parse_record as parse_gor_record
from shadowdiff.traffic.gorproto import baseline_record, request_record
from shadowdiff.traffic.pairing import TrafficStats, pair_records

FIELD = b"gor"
UID = b"uid"
PENDING_LIMIT = 10_000  # requests waiting for their response while grouping a file


@dataclass(frozen=True, slots=True)
class BusEntry:
    """A stream entry as read: its id, its records (None: deleted or trimmed away), the
    uid its publisher gave it (its entry id when it has none), and whether it was claimed
    from another consumer (XAUTOCLAIM) rather than delivered."""

    id: str
    data: bytes | None
    uid: str
    claimed: bool = False


def read_entry(entry_id: object, fields: object, claimed: bool = False) -> BusEntry:
    """An entry from its id and fields as Redis replies them (fields None: deleted)."""
    name = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    found: Mapping[object, object] = fields if isinstance(fields, Mapping) else {}
    data, uid = found.get(FIELD), found.get(UID)
    return BusEntry(
        name,
        data if isinstance(data, bytes) else None,
        uid.decode(errors="replace") if isinstance(uid, bytes) and uid else name,
        claimed,
    )


def entry_bytes(records: Sequence[GorRecord]) -> bytes:
    return b"".join(record.to_bytes() for record in records)


def exchange_records(exchange: Exchange) -> list[GorRecord]:
    """An exchange's records, as GoReplay's outputs write them (latency fields 0)."""
    baseline = baseline_record(exchange)
    return [request_record(exchange)] + ([baseline] if baseline is not None else [])


def entry_records(data: bytes, where: str) -> list[GorRecord]:
    """The records of an entry; ValueError when its bytes are not .gor records."""
    splitter = RecordSplitter()
    chunks = splitter.feed(data)
    offset, rest = splitter.rest()
    if rest.strip():
        raise ValueError(f"{where}: byte {offset}: truncated record (no separator)")
    return [parse_gor_record(chunk, f"{where}: byte {start}") for start, chunk in chunks]


def entry_exchange(data: bytes, where: str) -> Exchange:
    """The exchange an entry holds; ValueError (with the reason) when it holds none."""
    problems: list[GorProblem] = []
    exchanges = list(pair_records(entry_records(data, where), TrafficStats(), problems.append))
    if problems:
        raise ValueError(str(problems[0]))
    if len(exchanges) != 1:
        raise ValueError(f"{where}: holds {len(exchanges)} exchanges, not one")
    return exchanges[0]


def group_records(records: Iterable[GorRecord]) -> Iterator[list[GorRecord]]:
    """A recording's records grouped per exchange, unchanged: a request with the first
    response of its id after it (a response with no request before it, and type 3
    answers, are left out; a request whose response never comes goes alone)."""
    waiting: dict[str, GorRecord] = {}
    for record in records:
        if record.type == REQUEST:
            if (earlier := waiting.pop(record.id, None)) is not None:
                yield [earlier]
            waiting[record.id] = record
            if len(waiting) > PENDING_LIMIT:
                yield [waiting.pop(next(iter(waiting)))]
        elif record.type == RESPONSE and (request := waiting.pop(record.id, None)) is not None:
            yield [request, record]
    yield from ([request] for request in waiting.values())


class EntryGrouper:
    """Records written one by one (a GorWriter's `write`) into entries: a request starts
    a new entry, the records after it join it until the next request or `end`."""

    def __init__(self) -> None:
        self._records: list[GorRecord] = []

    def add(self, record: GorRecord) -> bytes | None:
        """The entry this record completes (a request ends the previous one), if any."""
        done = self.end() if record.type == REQUEST else None
        self._records.append(record)
        return done

    def end(self) -> bytes | None:
        if not self._records:
            return None
        data, self._records = entry_bytes(self._records), []
        return data
