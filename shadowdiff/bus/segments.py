"""Recording segments: named ranges of a stream's entry ids, replayable any time, many times.

A segment is kept in Redis itself, in the hash `shadowdiff:segments:{stream}` (field: the
name; value: JSON), so any machine can list, replay or export it. `start` notes the id of
the last entry in the stream then (entries from every publisher after it belong to the
segment: Redis gives entry ids in the order it adds them); `stop` notes the last entry id
then, and counts the entries in between. Replaying is XRANGE over the range (no consumer
group: the same segment replays again and again, each time a run of its own).

Trimming (MAXLEN ~ N) removes the oldest entries: a segment whose first entry is no longer
in the stream says so (`list`: trimmed), and `replay --segment` and `export` refuse it with
one line, instead of replaying part of it silently. An exchange its publisher sent twice
(under two entry ids, one uid) is replayed and exported once.

The keys are checked first (the stream a stream, the segments a hash: exit 2 if not), and
any error reply of Redis is one line and exit 3. A segment whose stored value is not a
segment is skipped by `list` (one warning line) and refused by the commands naming it.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import redis

from shadowdiff.bus.client import check_bus, refused, sync_client, text
from shadowdiff.bus.entry import BusEntry, entry_exchange, entry_records, read_entry
from shadowdiff.bus.url import BusUrl
from shadowdiff.errors import InputError
from shadowdiff.exchange import Exchange
from shadowdiff.gorfile import GorProblem, GorWriter

T = TypeVar("T")
PAGE = 500
NAME_LIMIT = 200
log = logging.getLogger(__name__)


def segments_key(stream: str) -> str:
    return f"shadowdiff:segments:{stream}"


def id_key(entry_id: str) -> tuple[int, int]:
    """An entry id as a pair of numbers, for comparing ("5-10" < "10-0")."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def id_time(entry_id: str) -> str:
    """When Redis added an entry (its id's milliseconds), ISO 8601, UTC."""
    return datetime.fromtimestamp(id_key(entry_id)[0] / 1000, UTC).isoformat(
        timespec="milliseconds"
    )


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    start_after: str  # entries after this id belong to the segment...
    started_at: float
    host: str
    stop_at: str | None = None  # ...up to this one (None: still recording)
    stopped_at: float | None = None
    first_id: str | None = None
    last_id: str | None = None
    count: int = 0
    intact: bool = True  # its first entry is still in the stream (worked out when read)

    def as_json(self) -> dict[str, Any]:
        span = self.span
        return {**asdict(self), "span_seconds": span}

    @property
    def span(self) -> float | None:
        if self.first_id is None or self.last_id is None:
            return None
        return (id_key(self.last_id)[0] - id_key(self.first_id)[0]) / 1000

    def describe(self) -> str:
        state = "recording" if self.stop_at is None else "stopped"
        if not self.intact:
            state = "TRIMMED (its first entries are gone from the stream)"
        if self.first_id is None or self.last_id is None:
            return f"{self.count} entries, {state}, host {self.host}"
        return (
            f"{self.count} entries, {id_time(self.first_id)} .. {id_time(self.last_id)} "
            f"(span {self.span:.3f} s), {state}, host {self.host}"
        )


def with_client(url: BusUrl, call: Callable[[redis.Redis], T], flag: str = "--bus") -> T:
    """`call` with a client of a checked bus; a Redis error is one line (exit 3)."""
    client = sync_client(url)
    try:
        check_bus(client, url, flag, (segments_key(url.stream), "hash"))
        return call(client)
    except redis.RedisError as exc:
        raise refused(url, flag, exc) from None
    finally:
        client.close()


def last_entry_id(client: redis.Redis, stream: str) -> str:
    """The id of the stream's last entry ("0-0" for an empty or absent stream)."""
    newest = _entries_of(client.xrevrange(stream, count=1))
    return newest[0].id if newest else "0-0"


def first_entry_id(client: redis.Redis, stream: str) -> str | None:
    oldest = _entries_of(client.xrange(stream, count=1))
    return oldest[0].id if oldest else None


def scan_range(client: redis.Redis, stream: str, after: str, until: str) -> Iterator[BusEntry]:
    """The entries with ids in (after, until], in pages."""
    while True:
        page = _entries_of(client.xrange(stream, min=f"({after}", max=until, count=PAGE))
        for entry in page:
            after = entry.id
            yield entry
        if len(page) < PAGE:
            return


def _entries_of(reply: object) -> list[BusEntry]:
    """XRANGE's reply: (id, fields) pairs."""
    if not isinstance(reply, list):
        return []
    return [read_entry(entry_id, fields) for entry_id, fields in reply]


def distinct(entries: Iterable[BusEntry]) -> Iterator[BusEntry]:
    """The entries without a second copy of an exchange (same uid: sent twice)."""
    seen: set[str] = set()
    for entry in entries:
        if entry.uid not in seen:
            seen.add(entry.uid)
            yield entry


def start_segment(client: redis.Redis, url: BusUrl, name: str) -> Segment:
    _check_name(name)
    if load_segment(client, url, name, must_exist=False) is not None:
        raise InputError(f"segment {name}: already exists on {url} (pick another name)")
    seg = Segment(name, last_entry_id(client, url.stream), time.time(), socket.gethostname())
    if not client.hsetnx(segments_key(url.stream), name, _dump(seg)):
        raise InputError(f"segment {name}: already exists on {url} (pick another name)")
    return seg


def stop_segment(client: redis.Redis, url: BusUrl, name: str) -> Segment:
    seg = load_segment(client, url, name)
    assert seg is not None
    if seg.stop_at is not None:
        raise InputError(f"segment {name}: already stopped ({seg.describe()})")
    seg = measured(client, url, replace(seg, stop_at=last_entry_id(client, url.stream)))
    client.hset(segments_key(url.stream), name, _dump(replace(seg, stopped_at=time.time())))
    return replace(seg, stopped_at=time.time())


def measured(client: redis.Redis, url: BusUrl, seg: Segment) -> Segment:
    """The segment with its entries counted (each exchange once), first and last (up to
    now if recording)."""
    until = seg.stop_at or "+"
    first = last = None
    count = 0
    for entry in distinct(scan_range(client, url.stream, seg.start_after, until)):
        first, last, count = first or entry.id, entry.id, count + 1
    return replace(seg, first_id=first, last_id=last, count=count)


def load_segment(
    client: redis.Redis, url: BusUrl, name: str, must_exist: bool = True
) -> Segment | None:
    raw: object = client.hget(segments_key(url.stream), name)
    if raw is None:
        if must_exist:
            raise InputError(f"segment {name}: no such segment on {url}")
        return None
    seg = parse_segment(raw)
    if isinstance(seg, str):
        raise InputError(f"segment {name}: {seg} (in {segments_key(url.stream)} on {url})")
    return with_intact(client, url, seg)


def parse_segment(raw: object) -> Segment | str:
    """A stored segment, or why the stored value is not one."""
    try:
        data = json.loads(raw if isinstance(raw, bytes | str) else b"")
        seg = Segment(**data) if isinstance(data, dict) else None
    except (ValueError, TypeError) as exc:
        return f"not a segment ({type(exc).__name__}: {str(exc)[:100]})"
    if seg is None:
        return "not a segment (not a JSON object)"
    if not all(isinstance(value, str) for value in (seg.name, seg.start_after, seg.host)):
        return "not a segment (its name, start or host is not text)"
    try:
        id_key(seg.start_after)
    except ValueError:
        return f"not a segment (its start {seg.start_after!r} is not an entry id)"
    return seg


def with_intact(client: redis.Redis, url: BusUrl, seg: Segment) -> Segment:
    oldest = first_entry_id(client, url.stream)
    intact = seg.first_id is None or (oldest is not None and id_key(oldest) <= id_key(seg.first_id))
    return replace(seg, intact=intact)


def list_segments(client: redis.Redis, url: BusUrl) -> list[Segment]:
    stored: object = client.hgetall(segments_key(url.stream))
    listed = []
    for name, raw in stored.items() if isinstance(stored, dict) else []:
        seg = parse_segment(raw)
        if isinstance(seg, str):
            log.warning("segment %s: %s (skipped)", text(name), seg)
            continue
        if seg.stop_at is None:
            seg = measured(client, url, seg)
        listed.append(with_intact(client, url, seg))
    return sorted(listed, key=lambda seg: id_key(seg.start_after))


def replayable(client: redis.Redis, url: BusUrl, name: str) -> Segment:
    """A stopped, intact segment; anything else is one line and exit 2."""
    seg = load_segment(client, url, name)
    assert seg is not None
    if seg.stop_at is None:
        raise InputError(f"segment {name}: still recording (shadowdiff segment stop {name})")
    if not seg.intact:
        oldest = first_entry_id(client, url.stream)
        raise InputError(
            f"segment {name}: trimmed: its first entry {seg.first_id} is gone from {url} "
            f"(the stream now starts at {oldest}); raise maxlen, or export segments to .gor"
        )
    return seg


def segment_entries(client: redis.Redis, url: BusUrl, seg: Segment) -> Iterator[BusEntry]:
    """The segment's entries, each exchange once; a Redis error is one line (exit 3)."""
    assert seg.stop_at is not None
    try:
        yield from distinct(scan_range(client, url.stream, seg.start_after, seg.stop_at))
    except redis.RedisError as exc:
        raise refused(url, "--from", exc) from None


def segment_exchanges(
    entries: Iterable[BusEntry], url: BusUrl, on_problem: Callable[[GorProblem], None]
) -> Iterator[Exchange]:
    """The entries' exchanges; a deleted or unreadable entry is a problem, skipped."""
    for entry in entries:
        if entry.data is None:
            on_problem(GorProblem(str(url), 0, f"entry {entry.id}: deleted"))
            continue
        try:
            yield entry_exchange(entry.data, f"{url} entry {entry.id}")
        except ValueError as exc:
            on_problem(GorProblem(str(url), 0, str(exc)))


def export_segment(client: redis.Redis, url: BusUrl, name: str, output: Path) -> int:
    """Write the segment's records to a .gor file (in place only once complete); an entry
    that does not hold .gor records is one line (exit 2), and no file is written."""
    seg = replayable(client, url, name)
    count = 0
    with GorWriter(output, atomic=True) as writer:
        for entry in segment_entries(client, url, seg):
            if entry.data is None:
                continue
            try:
                records = entry_records(entry.data, f"{url} entry {entry.id}")
            except ValueError as exc:
                raise InputError(f"segment {name}: {exc}; nothing exported") from None
            for record in records:
                writer.write(record)
            count += 1
    return count


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > NAME_LIMIT:
        raise InputError(f"segment {name!r}: a name of 1 to {NAME_LIMIT} characters, please")


def _dump(seg: Segment) -> str:
    data = asdict(seg)
    del data["intact"]
    return json.dumps(data)
