"""`replay --from redis://... --group G --consumer C`: one worker of a pool, end to end.

Checks Redis and the target (exit 3 when either does not answer) and the stream's key (a
stream or nothing: exit 2 if not), joins the run (named `--run`, default the group's name:
every worker of the group lands in one run; runs.py refuses a run that is not this pool's
or is closed), replays until stopped (worker.py), leaves the run (the last worker alive
closes it). Its SQLite work runs in a thread of its own (storethread.py). A worker that
gave up (Redis refused it, the store kept failing) leaves the run `failed` and exits 3.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import Counter
from pathlib import Path

import redis

from shadowdiff.bus.client import async_client, check_bus, sync_client, text
from shadowdiff.bus.consume import GroupReader
from shadowdiff.bus.runs import join_run, leave_run
from shadowdiff.bus.storethread import StoreThread
from shadowdiff.bus.worker import PoolWorker, WorkerConfig
from shadowdiff.errors import EnvironmentProblem, InputError
from shadowdiff.replay.progress import ReplayProgress
from shadowdiff.replay.runner import ReplaySettings
from shadowdiff.replay.session import (
    PLAIN,
    SessionOutcome,
    check_targets,
    handle_signals,
    remove_signals,
    run_row,
)
from shadowdiff.replay.session import exit_after as exit_after_timer
from shadowdiff.rules import RuleSet
from shadowdiff.store import RunWriter, open_store
from shadowdiff.store.secrets import redaction_for
from shadowdiff.traffic.pairing import TrafficStats
from shadowdiff.traffic.stages import TrafficOptions


def default_consumer() -> str:
    """`HOST-PID`: unique per process (a restarted worker under a new name leaves its old
    name's pending entries to be claimed after --claim-idle)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def refuse_traffic_flags(traffic: TrafficOptions) -> None:
    """A pool worker replays to one target, entries as they come (no pacing, no shaping)."""
    if traffic != PLAIN and (
        len(traffic.targets) > 1
        or traffic.middleware
        or traffic.speed is not None
        or traffic.loop
        or not traffic.shaping.is_empty
        or any(rate for _, rate in traffic.targets)
    ):
        raise InputError(
            "--group: a pool worker replays to one --target, without --middleware, filters, "
            "rewrites, rates, a speed or --loop (a --segment replay takes them all)"
        )


def run_pool_worker(
    config: WorkerConfig,
    settings: ReplaySettings,
    rules: RuleSet,
    db_path: Path,
    run_name: str | None,
    show_progress: bool = True,
    traffic: TrafficOptions = PLAIN,
) -> SessionOutcome:
    refuse_traffic_flags(traffic)
    client = sync_client(config.url)
    try:
        check_bus(client, config.url, "--from")
    finally:
        client.close()
    check_targets(settings)
    name = run_name or config.group
    row = run_row(
        "replay", [str(config.url)], settings, rules, group=config.group, bus=str(config.url)
    )
    store = StoreThread()
    try:
        writer = store.call(_joined, db_path, name, row, config.consumer, rules)
        try:
            status, worker = _replay(config, writer, store, settings, rules, traffic, show_progress)
        finally:
            store.call(writer.db.close)
    finally:
        store.close()
    if worker.failure is not None:
        raise EnvironmentProblem(f"worker {config.consumer}: {worker.failure}")
    return SessionOutcome(
        name, status, dict(+worker.state.verdicts), TrafficStats(), worker.state.problems
    )


def _joined(
    db_path: Path, name: str, row: dict[str, object], consumer: str, rules: RuleSet
) -> RunWriter:
    """(Store thread.) The store opened, the run joined, a writer into it."""
    db = open_store(db_path)
    try:
        run_id = join_run(db, name, row, consumer)
    except BaseException:
        db.close()
        raise
    return RunWriter(db, name, {}, joining=run_id, redaction=redaction_for(db_path, rules))


def _replay(
    config: WorkerConfig,
    writer: RunWriter,
    store: StoreThread,
    settings: ReplaySettings,
    rules: RuleSet,
    traffic: TrafficOptions,
    show_progress: bool,
) -> tuple[str, PoolWorker]:
    """Work until stopped, then leave the run (closing it if this worker is the last)."""
    reader = GroupReader(
        async_client(config.url), config.url, config.group, config.consumer,
        config.claim_idle, count=2 * settings.concurrency,
    )  # fmt: skip
    worker = PoolWorker(config, reader, writer, store, settings, rules)
    status = "failed"
    try:
        with ReplayProgress(show_progress) as progress:
            worker.on_verdict = progress.record
            status = asyncio.run(_work(worker, traffic.exit_after))
    finally:
        if worker.failure is not None:
            status = "failed"
        counts = _counts(worker, writer)
        store.call(
            leave_run, writer.db, writer.run_id, config.consumer, status, counts,
            lambda: consumer_idle(config),
        )  # fmt: skip
    return status, worker


async def _work(worker: PoolWorker, exit_after: float | None) -> str:
    """Run the worker; the first Ctrl-C or SIGTERM stops reading (what is in flight is
    stored and acknowledged), a second abandons the requests in flight."""
    stop, task = asyncio.Event(), asyncio.current_task()
    timer = exit_after_timer(exit_after, stop)
    interrupted = False

    def on_signal() -> None:
        nonlocal interrupted
        if stop.is_set() and task is not None:
            task.cancel()
        stop.set()
        interrupted = True

    handled = handle_signals(on_signal)
    try:
        await worker.run(stop)
    except asyncio.CancelledError:
        return "interrupted"
    finally:
        remove_signals(handled)
        if timer is not None:
            timer.cancel()
        await worker.reader.client.aclose()
    return "interrupted" if interrupted else "finished"


def consumer_idle(config: WorkerConfig) -> dict[str, float] | None:
    """How long (seconds) Redis has not heard from each consumer of the group; None if
    Redis does not answer."""
    client = sync_client(config.url)
    try:
        listed: object = client.xinfo_consumers(config.url.stream, config.group)
    except redis.RedisError:
        return None
    finally:
        client.close()
    if not isinstance(listed, list):
        return None
    return {text(c["name"]): int(c["idle"]) / 1000 for c in listed if isinstance(c, dict)}


def _counts(worker: PoolWorker, writer: RunWriter) -> dict[str, int]:
    """This worker's traffic counts (the run's are the sum of its workers')."""
    counts: Counter[str] = Counter(worker.state.counts)
    counts["duplicates"] += writer.duplicates
    counts["exchanges"] = worker.state.verdicts.total()
    return dict(counts)
