"""A replay worker of a pool (`replay --from redis://... --group G --consumer C`).

Exactly once, end to end:
- the group hands each entry to one worker; a worker that dies leaves its entries pending,
  and the others claim them after `--claim-idle` seconds (consume.py);
- a result is stored with its stream entry id (`bus_entries`, in the same transaction as
  the exchange), and an entry is acknowledged (XACK) only after that transaction commits;
- an entry whose id the run already holds (its worker stored it, then died before the
  XACK; or a slow replay was claimed by another worker) is acknowledged without being
  stored again; two workers racing to store one entry are settled by the flush: the
  second finds it stored and drops its copy (store/writer.py).
So a killed worker costs at most a second replay of its unacknowledged entries, never a
lost or doubled exchange in the run. `--claim-idle` must exceed the time a replay can take
(the `--timeout`), or slow entries are replayed twice (still stored once).

All workers of a run share its SQLite file (runs.py). The worker stops at Ctrl-C or
SIGTERM (in-flight exchanges finish and are stored and acknowledged; queued ones stay
pending for the others), after `--exit-after`, or with `--idle-exit S` once nothing came
for S seconds and the group has nothing pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from shadowdiff.bus.consume import Entry, GroupReader
from shadowdiff.bus.entry import entry_exchange
from shadowdiff.bus.runs import mark_seen
from shadowdiff.bus.url import BusUrl
from shadowdiff.exchange import Exchange
from shadowdiff.gorfile import GorProblem
from shadowdiff.replay.runner import Distributor, Output, Producer, ReplaySettings, replay_from
from shadowdiff.rules import RuleSet
from shadowdiff.store import ExchangeResult, RunWriter

FLUSH_EVERY = 0.2  # seconds between two commits (and the acknowledgements after them)
SEEN_EVERY = 5.0
LAST_ACK = 30.0  # seconds the last acknowledgements wait for Redis at the end
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    url: BusUrl
    group: str
    consumer: str
    claim_idle: float = 30.0
    idle_exit: float | None = None


@dataclass(slots=True)
class WorkerState:
    """What a worker holds between reading an entry and acknowledging it, and its counts."""

    in_flight: dict[str, Exchange] = field(default_factory=dict)  # read, not yet replayed
    entry_of: dict[int, str] = field(default_factory=dict)  # id(exchange) -> entry id
    stored: list[str] = field(default_factory=list)  # added to the writer, not yet acked
    to_ack: list[str] = field(default_factory=list)  # committed (or nothing to store)
    verdicts: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    problems: int = 0


class PoolWorker:
    def __init__(
        self,
        config: WorkerConfig,
        reader: GroupReader,
        writer: RunWriter,
        settings: ReplaySettings,
        rules: RuleSet,
        on_verdict: Callable[[str], None] = lambda verdict: None,
    ) -> None:
        self.config, self.reader, self.writer = config, reader, writer
        self.settings, self.rules, self.on_verdict = settings, rules, on_verdict
        self.state = WorkerState()

    async def run(self, stop: asyncio.Event) -> None:
        """Replay entries until `stop` or idle; store and acknowledge everything replayed."""
        await self.reader.retrying(self.reader.ensure_group, stop)
        committer = asyncio.create_task(self._commit_loop(stop))
        try:
            output = Output(self.settings, self._sink)
            queue = 2 * self.settings.concurrency
            await replay_from(self._produce(stop), [output], self.rules, stop, queue)
        finally:
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer
            await self._last_commit()

    def _produce(self, stop: asyncio.Event) -> Producer:
        async def produce(distributor: Distributor) -> None:
            last_entry = time.monotonic()
            while not stop.is_set():
                entries = await self.reader.next_entries(stop)
                if entries is None:
                    return
                if entries:
                    last_entry = time.monotonic()
                    for entry in entries:
                        await self._hand(entry, distributor)
                elif await self._idle_done(time.monotonic() - last_entry, stop):
                    return

        return produce

    async def _hand(self, entry: Entry, distributor: Distributor) -> None:
        entry_id, data = entry
        state = self.state
        state.counts["entries"] += 1
        if entry_id in state.in_flight or entry_id in state.stored:
            return  # claimed back from ourselves while still replaying it
        if data is None or self._already_stored(entry_id):
            state.counts["duplicates" if data is not None else "deleted"] += 1
            state.to_ack.append(entry_id)
            return
        try:
            exchange = entry_exchange(data, f"{self.config.url} entry {entry_id}")
        except ValueError as exc:
            self._unreadable(entry_id, str(exc))
            return
        state.in_flight[entry_id] = exchange
        state.entry_of[id(exchange)] = entry_id
        await distributor.put(exchange)

    def _sink(self, result: ExchangeResult) -> None:
        state = self.state
        entry_id = state.entry_of.pop(id(result.exchange))
        state.in_flight.pop(entry_id, None)
        self.writer.add(result, entry_id)
        state.stored.append(entry_id)
        state.verdicts[result.comparison.verdict] += 1
        self.on_verdict(result.comparison.verdict)

    def _already_stored(self, entry_id: str) -> bool:
        found = self.writer.db.execute(
            "SELECT 1 FROM bus_entries WHERE run_id = ? AND entry_id = ?",
            [self.writer.run_id, entry_id],
        ).fetchone()
        return found is not None

    def _unreadable(self, entry_id: str, reason: str) -> None:
        log.warning("%s (skipped)", reason)
        self.state.problems += 1
        self.state.counts["unreadable"] += 1
        self.writer.add_problem(GorProblem(str(self.config.url), 0, reason))
        self.state.to_ack.append(entry_id)

    async def _idle_done(self, idle: float, stop: asyncio.Event) -> bool:
        """`--idle-exit`: idle long enough, nothing held here, nothing pending anywhere."""
        limit = self.config.idle_exit
        if limit is None or idle < limit or self.state.in_flight or self.state.stored:
            return False
        return await self.reader.pending(stop) == 0

    async def _commit_loop(self, stop: asyncio.Event) -> None:
        seen = time.monotonic()
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            await self._commit(stop)
            if time.monotonic() - seen > SEEN_EVERY:
                seen = time.monotonic()
                mark_seen(self.writer.db, self.writer.run_id, self.config.consumer)

    async def _last_commit(self) -> None:
        """Store the last results; acknowledge them, waiting up to LAST_ACK for Redis (not
        acknowledged, they are found stored by whoever claims them, and acknowledged)."""
        given_up = asyncio.Event()
        timer = asyncio.get_running_loop().call_later(LAST_ACK, given_up.set)
        try:
            await self._commit(given_up)
        finally:
            timer.cancel()
        if self.state.to_ack:
            log.warning(
                "%s: %d stored result(s) not acknowledged (Redis unreachable); the group "
                "delivers them again and they are recognised as stored",
                self.config.url,
                len(self.state.to_ack),
            )

    async def _commit(self, stop: asyncio.Event) -> None:
        """Commit what was stored, then acknowledge it (and what needed no storing)."""
        state = self.state
        self.writer.flush()
        state.to_ack += state.stored
        state.stored = []
        ids, state.to_ack = state.to_ack, []
        if not await self.reader.ack(ids, stop):
            state.to_ack = ids + state.to_ack  # Redis is down: acknowledged next time
            return
        state.counts["acknowledged"] += len(ids)
