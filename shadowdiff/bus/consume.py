"""Reading the stream as one consumer of a group, through Redis going away and back.

Each call waits out an outage: one warning line when Redis goes away, retries with
backoff (0.1 s doubling to 2 s), one line when it is back; `None` only when `stop` is set
meanwhile. A group that vanished (Redis restarted without persistence) is created again.
Any other error reply is one line and exit 3 (`client.refused`), never a traceback.

What a consumer reads, in order: the entries already delivered to its name and not yet
acknowledged (a worker restarted under the same name picks up its own: read once, from
the start of its history to its end), then, at most every `claim_idle / 2` seconds,
entries another consumer has held for `claim_idle` seconds without acknowledging them
(XAUTOCLAIM: that worker died or hangs), then new entries (XREADGROUP `>`). A deleted or
trimmed entry comes back without fields (`data` None). `refresh` resets the idle time of
the entries a worker holds (read, not yet acknowledged: queued, in flight, being stored),
so the others never claim an entry only because it waited in this worker's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TypeVar

import redis
import redis.asyncio
from redis.typing import StreamIdT

from shadowdiff.bus.client import DOWN, refused, text
from shadowdiff.bus.entry import BusEntry, read_entry
from shadowdiff.bus.segments import id_key
from shadowdiff.bus.url import BusUrl

T = TypeVar("T")
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 2.0
BLOCK_MS = 500
log = logging.getLogger(__name__)


class GroupReader:
    def __init__(
        self,
        client: redis.asyncio.Redis,
        url: BusUrl,
        group: str,
        consumer: str,
        claim_idle: float,
        count: int = 100,
    ) -> None:
        self.client, self.url, self.group, self.consumer = client, url, group, consumer
        self.claim_idle, self.count = claim_idle, count
        self._history: str | None = "0"  # where the own pending entries go on (None: done)
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        self._up = True

    async def ensure_group(self) -> None:
        """The group, reading the stream from its start (created with the stream if none)."""
        try:
            await self.client.xgroup_create(self.url.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def next_entries(self, stop: asyncio.Event) -> list[BusEntry] | None:
        """The next entries for this consumer ([] after BLOCK_MS without any)."""
        return await self.retrying(self._next_entries, stop)

    async def ack(self, ids: Sequence[str], stop: asyncio.Event) -> bool:
        """Acknowledge entries (their results are stored); False if stopped while down."""
        if not ids:
            return True
        return (
            await self.retrying(lambda: self.client.xack(self.url.stream, self.group, *ids), stop)
            is not None
        )

    async def pending(self, stop: asyncio.Event) -> int | None:
        """Entries the group delivered and nobody acknowledged yet."""

        async def count() -> int:
            summary: object = await self.client.xpending(self.url.stream, self.group)
            return int(summary["pending"]) if isinstance(summary, dict) else 0

        return await self.retrying(count, stop)

    async def refresh(self, held: Collection[str], stop: asyncio.Event) -> int | None:
        """Reset the idle time of the held entries this consumer still owns (XCLAIM JUSTID
        to itself; one another consumer claimed meanwhile is left to it); how many."""
        if not held:
            return 0
        return await self.retrying(lambda: self._refresh(held), stop)

    async def _refresh(self, held: Collection[str]) -> int:
        ordered = sorted(held, key=id_key)
        owned: object = await self.client.xpending_range(
            self.url.stream, self.group, min=ordered[0], max=ordered[-1],
            count=len(ordered) + 1000, consumername=self.consumer,
        )  # fmt: skip
        listed = owned if isinstance(owned, list) else []
        ids: list[StreamIdT] = [i for i in (text(p.get("message_id")) for p in listed) if i in held]
        if ids:
            await self.client.xclaim(
                self.url.stream, self.group, self.consumer, 0, ids, justid=True
            )
        return len(ids)

    async def _next_entries(self) -> list[BusEntry]:
        if self._history is not None:
            entries = await self._read(self._history, block=None)
            if entries:
                self._history = entries[-1].id
                return entries
            self._history = None
        if time.monotonic() >= self._next_claim:
            claimed = await self._claim()
            if claimed:
                return claimed
        return await self._read(">", block=BLOCK_MS)

    async def _read(self, since: str, block: int | None) -> list[BusEntry]:
        answer: object = await self.client.xreadgroup(
            self.group, self.consumer, {self.url.stream: since}, count=self.count, block=block
        )
        if not isinstance(answer, list) or not answer:
            return []
        return [read_entry(entry_id, fields) for entry_id, fields in answer[0][1]]

    async def _claim(self) -> list[BusEntry]:
        answer: object = await self.client.xautoclaim(
            self.url.stream,
            self.group,
            self.consumer,
            min_idle_time=int(self.claim_idle * 1000),
            start_id=self._claim_cursor,
            count=self.count,
        )
        if not isinstance(answer, list | tuple) or len(answer) < 2:
            return []
        self._claim_cursor = text(answer[0])
        if self._claim_cursor == "0-0":  # scanned the whole pending list: rest a while
            self._next_claim = time.monotonic() + max(self.claim_idle / 2, 0.2)
        deleted = answer[2] if len(answer) > 2 else []
        return [read_entry(entry_id, fields, claimed=True) for entry_id, fields in answer[1]] + [
            read_entry(entry_id, None, claimed=True) for entry_id in deleted
        ]

    async def retrying(self, call: Callable[[], Awaitable[T]], stop: asyncio.Event) -> T | None:
        delay = BACKOFF_FIRST
        while True:
            try:
                result = await call()
            except DOWN as exc:
                self._went_down(exc)
            except redis.ResponseError as exc:
                if not str(exc).startswith(("NOGROUP", "UNBLOCKED")):  # UNBLOCKED: key deleted
                    raise refused(self.url, "--from", exc) from None
                await self.retrying(self.ensure_group, stop)
                log.warning("%s: group %s was gone; created it again", self.url, self.group)
                continue
            except redis.RedisError as exc:
                raise refused(self.url, "--from", exc) from None
            else:
                self._came_back()
                return result
            if stop.is_set():
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, BACKOFF_MAX)

    def _went_down(self, exc: Exception) -> None:
        if self._up:
            log.warning("%s: Redis unreachable (%s); waiting for it", self.url, exc)
            self._up = False

    def _came_back(self) -> None:
        if not self._up:
            log.warning("%s: Redis reachable again; resuming", self.url)
            self._up = True
