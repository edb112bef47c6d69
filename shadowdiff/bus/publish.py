"""Publishing exchanges to the stream: a bounded buffer, one sender thread, counted losses.

`send` never blocks (live capture: the capture must not wait for Redis): the entry goes in
a bounded buffer, or is dropped and counted, as `dropped_full` while Redis is up (it takes
entries slower than they come) or `dropped_unreachable` while it is down. `put` waits for
room instead (publishing a file: back-pressure, nothing dropped while Redis is up). The
sender thread XADDs batches in one pipeline, `MAXLEN ~ N`; when Redis goes away it keeps
the batch, logs one line, and retries with backoff (0.1 s doubling to 2 s). An entry in
flight when the connection broke can be added twice (the reply was lost, not the write):
each entry carries a `uid` (this publisher's uuid and a sequence number) that stays the
same when it is sent again, the workers store each uid once, and `sent` counts it once.

When Redis refuses a batch (an error reply: the key changed type, out of memory...), the
publisher fails: the batch and everything after it is counted as `dropped_refused`, `put`
and `send` stop taking entries, and `failure` says why (the commands exit 3 with it).

A thread, not a task: `record` captures synchronously, `tee` in an event loop; both just
hand bytes to `send`. Many publishers on many hosts simply XADD to one stream.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from itertools import count

import redis
from redis.typing import EncodableT, FieldT

from shadowdiff.bus.client import DOWN, check_bus, reason, sync_client
from shadowdiff.bus.entry import FIELD, UID, EntryGrouper, entry_bytes, group_records
from shadowdiff.bus.url import BusUrl
from shadowdiff.gorfile import GorRecord

BATCH = 256
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 2.0
log = logging.getLogger(__name__)


@dataclass(slots=True)
class PublishStats:
    sent: int = 0
    dropped_full: int = 0  # the buffer was full while Redis was up (too slow)
    dropped_unreachable: int = 0  # full while Redis was down, or unsent at close
    outages: int = 0  # times Redis went away
    dropped_refused: int = 0  # Redis answered with an error: the publisher stopped

    @property
    def dropped(self) -> int:
        return self.dropped_full + self.dropped_unreachable + self.dropped_refused

    def as_json(self) -> dict[str, int]:
        return asdict(self)

    def summary(self, url: BusUrl) -> str:
        return (
            f"published {self.sent} exchanges to {url}; not sent: {self.dropped} "
            f"(buffer full {self.dropped_full}, Redis unreachable {self.dropped_unreachable}"
            + (f", refused {self.dropped_refused}" if self.dropped_refused else "")
            + f"); outages {self.outages}"
        )


class Publisher:
    """XADD entries to the stream of `url` from a background thread."""

    def __init__(self, url: BusUrl, buffer: int = 10_000, flag: str = "--to") -> None:
        self.url, self.flag = url, flag
        self.stats = PublishStats()
        self._client = sync_client(url)
        self.failure: str | None = None  # why Redis refused a batch (then nothing more is sent)
        self._queue: queue.Queue[tuple[bytes, bytes]] = queue.Queue(buffer)  # (uid, entry)
        self._uid = uuid.uuid4().hex
        self._seq = count(1)
        self._lock = threading.Lock()  # the counters change in two threads
        self._up = True
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name=f"publish {url}", daemon=True)

    def start(self) -> None:
        """Check that Redis answers (exit 3 if not) and that the stream's key is a stream
        (exit 2 if not), then start sending."""
        try:
            check_bus(self._client, self.url, self.flag)
        except BaseException:
            self._client.close()  # the command ends here: no socket left to the collector
            raise
        self._thread.start()

    def send(self, data: bytes) -> bool:
        """Buffer an entry without waiting; False (and counted) when the buffer is full
        or the publisher failed."""
        if self.failure is None:
            try:
                self._queue.put_nowait(self._stamped(data))
                return True
            except queue.Full:
                pass
        with self._lock:
            if self.failure is not None:
                self.stats.dropped_refused += 1
            elif self._up:
                self.stats.dropped_full += 1
            else:
                self.stats.dropped_unreachable += 1
        return False

    def put(self, data: bytes) -> bool:
        """Buffer an entry, waiting for room (a file: Redis sets the pace); False (and
        counted) once the publisher failed."""
        stamped = self._stamped(data)
        while self.failure is None and self._thread.is_alive():
            try:
                self._queue.put(stamped, timeout=0.1)
                return True
            except queue.Full:
                continue
        with self._lock:
            self.stats.dropped_refused += 1
        return False

    def _stamped(self, data: bytes) -> tuple[bytes, bytes]:
        return f"{self._uid}:{next(self._seq)}".encode(), data

    def close(self, timeout: float = 5.0) -> PublishStats:
        """Send what is buffered (up to `timeout` seconds while Redis is down), then stop;
        what is left is counted as `dropped_unreachable`."""
        self._deadline = time.monotonic() + timeout
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join()
        left = self._queue.qsize()
        with self._lock:
            if self.failure is not None:
                self.stats.dropped_refused += left
            else:
                self.stats.dropped_unreachable += left
        self._client.close()
        if self.stats.dropped and self.failure is None:
            log.warning("%s: %d exchange(s) not published", self.url, self.stats.dropped)
        return self.stats

    def _run(self) -> None:
        while self.failure is None:
            batch = self._take()
            if batch:
                self._deliver(batch)
            elif self._closing.is_set():
                return
            if self._closing.is_set() and time.monotonic() > self._deadline:
                return

    def _take(self) -> list[tuple[bytes, bytes]]:
        try:
            batch = [self._queue.get(timeout=0.1)]
        except queue.Empty:
            return []
        while len(batch) < BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _deliver(self, batch: list[tuple[bytes, bytes]]) -> None:
        delay = BACKOFF_FIRST
        while True:
            try:
                self._xadd(batch)
            except DOWN as exc:
                self._went_down(exc)
            except redis.RedisError as exc:  # an error reply: sending again would not help
                self._refused(batch, exc)
                return
            else:
                self._came_back()
                with self._lock:
                    self.stats.sent += len(batch)
                return
            if self._closing.is_set() and time.monotonic() > self._deadline:
                with self._lock:
                    self.stats.dropped_unreachable += len(batch)
                return
            time.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    def _xadd(self, batch: list[tuple[bytes, bytes]]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for uid, data in batch:
            fields: dict[FieldT, EncodableT] = {FIELD: data, UID: uid}
            pipe.xadd(self.url.stream, fields, maxlen=self.url.maxlen, approximate=True)
        pipe.execute()

    def _refused(self, batch: list[tuple[bytes, bytes]], exc: redis.RedisError) -> None:
        """Count the batch as refused and stop: `failure` says why."""
        with self._lock:
            self.stats.dropped_refused += len(batch)
            self.failure = f"{self.flag} {self.url}: Redis refused the entries: {reason(exc)}"

    def _went_down(self, exc: redis.RedisError) -> None:
        if self._up:
            log.warning("%s: Redis unreachable (%s); buffering and retrying", self.url, exc)
            with self._lock:
                self._up = False
                self.stats.outages += 1

    def _came_back(self) -> None:
        if not self._up:
            log.warning("%s: Redis reachable again; publishing", self.url)
            with self._lock:
                self._up = True


def publish_records(records: Iterable[GorRecord], publisher: Publisher) -> int:
    """A recording's records, one entry per exchange (bytes unchanged), waiting for room
    in the buffer; how many entries were handed over."""
    handed = 0
    for group in group_records(records):
        if not publisher.put(entry_bytes(group)):
            break
        handed += 1
    return handed


class BusWriter:
    """A GorWriter's interface onto the stream (`record --to`): records written one by one,
    one entry per exchange (a request starts the next; `flush` ends the current one)."""

    def __init__(self, url: BusUrl, buffer: int = 10_000) -> None:
        self.url = url
        self.publisher = Publisher(url, buffer)
        self.count = 0
        self._grouper = EntryGrouper()

    def __enter__(self) -> BusWriter:
        self.publisher.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def stats(self) -> PublishStats:
        return self.publisher.stats

    def write(self, record: GorRecord) -> None:
        self._send(self._grouper.add(record))

    def flush(self) -> None:
        self._send(self._grouper.end())

    def close(self) -> PublishStats:
        self.flush()
        return self.publisher.close()

    def _send(self, data: bytes | None) -> None:
        if data is not None:
            self.publisher.send(data)
            self.count += 1
