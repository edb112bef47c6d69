"""A replay worker of a pool (`replay --from redis://... --group G --consumer C`).

Exactly once, end to end:
- the group hands each entry to one worker; a worker that dies leaves its entries pending,
  and the others claim them after `--claim-idle` seconds (consume.py). A worker resets
  the idle time of every entry it holds (read, not yet acknowledged) every claim_idle/3
  seconds, so an entry waiting in a busy worker's queue is not claimed;
- a result is stored with its entry's uid (the publisher's name for the exchange, the
  same when a batch was sent twice) and entry id (`bus_entries`, in the same transaction
  as the exchange), and an entry is acknowledged (XACK) only after that transaction commits;
- an entry whose uid the run already holds (its worker stored it, then died before the
  XACK; or a slow replay was claimed by another worker; or its publisher sent it twice)
  is acknowledged without being stored again; two workers racing to store one entry are
  settled by the flush: the second finds it stored and drops its copy (store/writer.py).
So a killed worker costs at most a second replay of its unacknowledged entries, never a
lost or doubled exchange in the run. An entry trimmed away (MAXLEN) before it was replayed
is a problem of the run (`gate` shows it) and counted (`trimmed`).

All workers of a run share its SQLite file (runs.py); a worker's SQLite work runs in its
store thread (storethread.py), never in the event loop. A commit that fails is logged and
tried again; one that keeps failing for FAIL_AFTER seconds ends the worker (`failure`).
The worker stops at Ctrl-C or SIGTERM (in-flight exchanges finish and are stored and
acknowledged; queued ones stay pending for the others), after `--exit-after`, or with
`--idle-exit S` once nothing came for S seconds and the group has nothing pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from shadowdiff.bus.client import reason
from shadowdiff.bus.consume import GroupReader
from shadowdiff.bus.entry import BusEntry, entry_exchange
from shadowdiff.bus.runs import SEEN_EVERY, mark_seen
from shadowdiff.bus.storethread import StoreThread
from shadowdiff.bus.url import BusUrl
from shadowdiff.errors import ShadowdiffError
from shadowdiff.gorfile import GorProblem
from shadowdiff.replay.runner import Distributor, Output, Producer, ReplaySettings, replay_from
from shadowdiff.rules import RuleSet
from shadowdiff.store import ExchangeResult, RunWriter

FLUSH_EVERY = 0.2  # seconds between two commits (and the acknowledgements after them)
FAIL_AFTER = 60.0  # seconds of failing commits after which the worker gives up
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

    held: set[str] = field(default_factory=set)  # read, not yet acknowledged (entry ids)
    entry_of: dict[int, BusEntry] = field(default_factory=dict)  # id(exchange) -> its entry
    results: list[tuple[ExchangeResult, BusEntry]] = field(default_factory=list)  # to store
    unstored: dict[str, str] = field(default_factory=dict)  # handed to the writer: id -> verdict
    uids: set[str] = field(default_factory=set)  # of the entries replayed, not yet committed
    problems_due: list[GorProblem] = field(default_factory=list)  # to store
    to_ack: list[str] = field(default_factory=list)  # committed (or nothing to store)
    verdicts: Counter[str] = field(default_factory=Counter)  # of the results stored
    counts: Counter[str] = field(default_factory=Counter)
    problems: int = 0


class PoolWorker:
    def __init__(
        self,
        config: WorkerConfig,
        reader: GroupReader,
        writer: RunWriter,
        store: StoreThread,
        settings: ReplaySettings,
        rules: RuleSet,
        on_verdict: Callable[[str], None] = lambda verdict: None,
    ) -> None:
        self.config, self.reader, self.writer, self.store = config, reader, writer, store
        self.settings, self.rules, self.on_verdict = settings, rules, on_verdict
        self.state = WorkerState()
        self.failure: str | None = None  # why the worker gave up (its commits kept failing)

    async def run(self, stop: asyncio.Event) -> None:
        """Replay entries until `stop` or idle; store and acknowledge everything replayed."""
        await self.reader.retrying(self.reader.ensure_group, stop)
        done = asyncio.Event()
        committer = asyncio.create_task(self._commit_loop(stop, done))
        try:
            output = Output(self.settings, self._sink)
            queue = 2 * self.settings.concurrency
            await replay_from(self._produce(stop), [output], self.rules, stop, queue)
        finally:
            done.set()
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
                    await self._hand_all(entries, distributor)
                elif await self._idle_done(time.monotonic() - last_entry, stop):
                    return

        return produce

    async def _hand_all(self, entries: list[BusEntry], distributor: Distributor) -> None:
        """Hand the new entries to the replay; the ones already held here (claimed back,
        or its acknowledgement in flight) are skipped, the ones the run holds acknowledged."""
        state = self.state
        fresh = []
        for entry in entries:
            state.counts["entries"] += 1
            if entry.id in state.held:
                continue
            state.held.add(entry.id)
            state.counts["reclaimed"] += entry.claimed
            fresh.append(entry)
        uids = [entry.uid for entry in fresh if entry.data is not None]
        stored = await self.store.run(self.writer.stored_uids, uids) if uids else set()
        for entry in fresh:
            if entry.data is None:
                self._trimmed(entry)
            elif entry.uid in stored or entry.uid in state.uids:
                state.counts["duplicates"] += 1
                state.to_ack.append(entry.id)
            else:
                await self._hand(entry, entry.data, distributor)

    async def _hand(self, entry: BusEntry, data: bytes, distributor: Distributor) -> None:
        try:
            exchange = entry_exchange(data, f"{self.config.url} entry {entry.id}")
        except ValueError as exc:
            self._problem(entry, "unreadable", f"{exc} (skipped)")
            return
        self.state.entry_of[id(exchange)] = entry
        self.state.uids.add(entry.uid)
        await distributor.put(exchange)

    def _sink(self, result: ExchangeResult) -> None:
        entry = self.state.entry_of.pop(id(result.exchange))
        self.state.results.append((result, entry))
        self.on_verdict(result.comparison.verdict)

    def _trimmed(self, entry: BusEntry) -> None:
        self._problem(
            entry,
            "trimmed",
            f"entry {entry.id}: trimmed from the stream (MAXLEN) or deleted before it was "
            "replayed (not replayed)",
        )

    def _problem(self, entry: BusEntry, kind: str, message: str) -> None:
        log.warning("%s: %s", self.config.url, message)
        self.state.problems += 1
        self.state.counts[kind] += 1
        self.state.problems_due.append(GorProblem(str(self.config.url), 0, message))
        self.state.to_ack.append(entry.id)

    async def _idle_done(self, idle: float, stop: asyncio.Event) -> bool:
        """`--idle-exit`: idle long enough, nothing held here, nothing pending anywhere."""
        limit = self.config.idle_exit
        if limit is None or idle < limit or self.state.held:
            return False
        return await self.reader.pending(stop) == 0

    async def _commit_loop(self, stop: asyncio.Event, done: asyncio.Event) -> None:
        """Commit and acknowledge every FLUSH_EVERY, refresh this worker's row every
        SEEN_EVERY and the held entries' idle time every claim_idle/3, until `done`."""
        seen = refreshed = time.monotonic()
        failing_since: float | None = None
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), FLUSH_EVERY)
            try:
                await self._commit(stop)
                if time.monotonic() - seen >= SEEN_EVERY:
                    seen = time.monotonic()
                    await self.store.run(
                        mark_seen, self.writer.db, self.writer.run_id, self.config.consumer
                    )
            except sqlite3.Error as exc:
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > FAIL_AFTER:
                    return self._give_up(stop, f"the store keeps failing: {reason(exc)}")
                log.warning("the store: %s; trying again", reason(exc))
                continue
            except ShadowdiffError as exc:  # Redis refused the acknowledgements
                return self._give_up(stop, str(exc))
            except Exception as exc:  # a bug: never stop acknowledging without a word
                return self._give_up(stop, f"{type(exc).__name__}: {reason(exc)}")
            failing_since = None
            if time.monotonic() - refreshed >= self.config.claim_idle / 3:
                refreshed = time.monotonic()
                try:
                    await self.reader.refresh(set(self.state.held), stop)
                except ShadowdiffError as exc:
                    return self._give_up(stop, str(exc))

    def _give_up(self, stop: asyncio.Event, why: str) -> None:
        """End the worker (`failure`: why); what is held stays pending for the others."""
        self.failure = why
        stop.set()

    async def _last_commit(self) -> None:
        """Store the last results; acknowledge them, waiting up to LAST_ACK for Redis (not
        acknowledged, they are found stored by whoever claims them, and acknowledged)."""
        given_up = asyncio.Event()
        timer = asyncio.get_running_loop().call_later(LAST_ACK, given_up.set)
        try:
            await self._commit(given_up)
        except sqlite3.Error as exc:
            self.failure = self.failure or f"the store: {reason(exc)}"
            log.warning("the store: %s; the last results are not stored", reason(exc))
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
        """Commit what was replayed (in the store thread), then acknowledge it (and what
        needed no storing). A failed commit keeps everything for the next one."""
        state = self.state
        results, state.results = state.results, []
        problems, state.problems_due = state.problems_due, []
        for result, entry in results:
            state.unstored[entry.id] = result.comparison.verdict
        try:
            dropped = await self.store.run(self._store, results, problems)
        except BaseException:
            state.problems_due = problems + state.problems_due
            raise
        for entry_id, verdict in state.unstored.items():
            state.verdicts[verdict] += entry_id not in dropped
        state.uids.difference_update(entry.uid for _, entry in results)
        state.to_ack += list(state.unstored)
        state.unstored = {}
        ids, state.to_ack = state.to_ack, []
        if not await self.reader.ack(ids, stop):
            state.to_ack = ids + state.to_ack  # Redis is down: acknowledged next time
            return
        state.held.difference_update(ids)
        state.counts["acknowledged"] += len(ids)

    def _store(
        self, results: list[tuple[ExchangeResult, BusEntry]], problems: list[GorProblem]
    ) -> set[str]:
        """(Store thread.) Add the results and commit them with what a failed commit left;
        the entry ids not stored because the run holds their uid already."""
        self.writer.add_entries((result, (entry.uid, entry.id)) for result, entry in results)
        self.writer.flush()
        for problem in problems:
            self.writer.add_problem(problem)
        return self.writer.take_dropped()
