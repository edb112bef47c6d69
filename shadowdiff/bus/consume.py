"""Reading the stream as one consumer of a group, through Redis going away and back.

Each call waits out an outage: one warning line when Redis goes away, retries with
backoff (0.1 s doubling to 2 s), one line when it is back; `None` only when `stop` is set
meanwhile. A group that vanished (Redis restarted without persistence) is created again.

What a consumer reads, in order: the entries already delivered to its name and not yet
acknowledged (a worker restarted under the same name picks up its own), then, at most
every `claim_idle / 2` seconds, entries another consumer has held for `claim_idle`
seconds without acknowledging them (XAUTOCLAIM: that worker died or hangs), then new
entries (XREADGROUP `>`). A deleted or trimmed entry comes back without fields: `None`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis
import redis.asyncio

from shadowdiff.bus.client import DOWN
from shadowdiff.bus.entry import FIELD
from shadowdiff.bus.url import BusUrl

T = TypeVar("T")
Entry = tuple[str, bytes | None]  # stream entry id, its `gor` bytes (None: deleted)
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
        self.reclaimed = 0
        self._own_pending = True  # first read what this name was given before
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

    async def next_entries(self, stop: asyncio.Event) -> list[Entry] | None:
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
            summary = await self.client.xpending(self.url.stream, self.group)
            return int(summary["pending"])

        return await self.retrying(count, stop)

    async def _next_entries(self) -> list[Entry]:
        if self._own_pending:
            entries = await self._read("0", block=None)
            if entries:
                return entries
            self._own_pending = False
        if time.monotonic() >= self._next_claim:
            claimed = await self._claim()
            if claimed:
                self.reclaimed += len(claimed)
                return claimed
        return await self._read(">", block=BLOCK_MS)

    async def _read(self, since: str, block: int | None) -> list[Entry]:
        answer: Any = await self.client.xreadgroup(
            self.group, self.consumer, {self.url.stream: since}, count=self.count, block=block
        )
        if not answer:
            return []
        return [_entry(entry_id, fields) for entry_id, fields in answer[0][1]]

    async def _claim(self) -> list[Entry]:
        answer: Any = await self.client.xautoclaim(
            self.url.stream,
            self.group,
            self.consumer,
            min_idle_time=int(self.claim_idle * 1000),
            start_id=self._claim_cursor,
            count=self.count,
        )
        cursor, entries = answer[0], answer[1]
        self._claim_cursor = _text(cursor)
        if self._claim_cursor == "0-0":  # scanned the whole pending list: rest a while
            self._next_claim = time.monotonic() + max(self.claim_idle / 2, 0.2)
        deleted = [(_text(entry_id), None) for entry_id in (answer[2] if len(answer) > 2 else [])]
        return [_entry(entry_id, fields) for entry_id, fields in entries] + deleted

    async def retrying(self, call: Callable[[], Awaitable[T]], stop: asyncio.Event) -> T | None:
        delay = BACKOFF_FIRST
        while True:
            try:
                result = await call()
            except DOWN as exc:
                self._went_down(exc)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("%s: group %s is gone; creating it again", self.url, self.group)
                await self.retrying(self.ensure_group, stop)
                continue
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


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(entry_id: Any, fields: dict[bytes, bytes] | None) -> Entry:
    return _text(entry_id), (fields or {}).get(FIELD)
