"""Publishing exchanges to the stream: a bounded buffer, one sender thread, counted losses.

`send` never blocks (live capture: the capture must not wait for Redis): the entry goes in
a bounded buffer, or is dropped and counted, as `dropped_full` while Redis is up (it takes
entries slower than they come) or `dropped_unreachable` while it is down. `put` waits for
room instead (publishing a file: back-pressure, nothing dropped while Redis is up). The
sender thread XADDs batches in one pipeline, `MAXLEN ~ N`; when Redis goes away it keeps
the batch, logs one line, and retries with backoff (0.1 s doubling to 2 s). An entry in
flight when the connection broke can be added twice (the reply was lost, not the write):
the workers store each entry id once, and a publisher's `sent` counts it once.

A thread, not a task: `record` captures synchronously, `tee` in an event loop; both just
hand bytes to `send`. Many publishers on many hosts simply XADD to one stream.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import redis

from shadowdiff.bus.client import DOWN, check_reachable, sync_client
from shadowdiff.bus.entry import FIELD, EntryGrouper, entry_bytes, group_records
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

    @property
    def dropped(self) -> int:
        return self.dropped_full + self.dropped_unreachable

    def as_json(self) -> dict[str, int]:
        return asdict(self)

    def summary(self, url: BusUrl) -> str:
        return (
            f"published {self.sent} exchanges to {url}; not sent: {self.dropped} "
            f"(buffer full {self.dropped_full}, Redis unreachable {self.dropped_unreachable}); "
            f"outages {self.outages}"
        )


class Publisher:
    """XADD entries to the stream of `url` from a background thread."""

    def __init__(self, url: BusUrl, buffer: int = 10_000, flag: str = "--to") -> None:
        self.url, self.flag = url, flag
        self.stats = PublishStats()
        self._client = sync_client(url)
        self._queue: queue.Queue[bytes] = queue.Queue(buffer)
        self._lock = threading.Lock()  # the counters change in two threads
        self._up = True
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name=f"publish {url}", daemon=True)

    def start(self) -> None:
        """Check that Redis answers (exit 3 if not), then start sending."""
        check_reachable(self._client, self.url, self.flag)
        self._thread.start()

    def send(self, data: bytes) -> bool:
        """Buffer an entry without waiting; False (and counted) when the buffer is full."""
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            with self._lock:
                if self._up:
                    self.stats.dropped_full += 1
                else:
                    self.stats.dropped_unreachable += 1
            return False
        return True

    def put(self, data: bytes) -> None:
        """Buffer an entry, waiting for room (a file: Redis sets the pace)."""
        self._queue.put(data)

    def close(self, timeout: float = 5.0) -> PublishStats:
        """Send what is buffered (up to `timeout` seconds while Redis is down), then stop;
        what is left is counted as `dropped_unreachable`."""
        self._deadline = time.monotonic() + timeout
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join()
        left = self._queue.qsize()
        with self._lock:
            self.stats.dropped_unreachable += left
        self._client.close()
        if self.stats.dropped:
            log.warning("%s: %d exchange(s) not published", self.url, self.stats.dropped)
        return self.stats

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch:
                self._deliver(batch)
            elif self._closing.is_set():
                return
            if self._closing.is_set() and time.monotonic() > self._deadline:
                return

    def _take(self) -> list[bytes]:
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

    def _deliver(self, batch: list[bytes]) -> None:
        delay = BACKOFF_FIRST
        while True:
            try:
                self._xadd(batch)
            except DOWN as exc:
                self._went_down(exc)
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

    def _xadd(self, batch: list[bytes]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for data in batch:
            pipe.xadd(self.url.stream, {FIELD: data}, maxlen=self.url.maxlen, approximate=True)
        pipe.execute()

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
    count = 0
    for group in group_records(records):
        publisher.put(entry_bytes(group))
        count += 1
    return count


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
