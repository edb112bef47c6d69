"""`replay --from redis://... --group G --consumer C`: one worker of a pool, end to end.

Checks Redis and the target (exit 3 when either does not answer), joins the run (named
`--run`, default the group's name: every worker of the group lands in one run), replays
until stopped (worker.py), leaves the run (the last worker closes it: runs.py).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from shadowdiff.bus.client import DOWN, async_client, check_reachable, sync_client
from shadowdiff.bus.consume import GroupReader
from shadowdiff.bus.runs import join_run, leave_run
from shadowdiff.bus.worker import PoolWorker, WorkerConfig
from shadowdiff.errors import InputError
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
        check_reachable(client, config.url, "--from")
    finally:
        client.close()
    check_targets(settings)
    name = run_name or config.group
    db = open_store(db_path)
    row = run_row(
        "replay", [str(config.url)], settings, rules, group=config.group, bus=str(config.url)
    )
    run_id = join_run(db, name, row, config.consumer)
    writer = RunWriter(db, name, {}, joining=run_id, redaction=redaction_for(db_path, rules))
    worker: PoolWorker | None = None
    status = "failed"
    try:
        with ReplayProgress(show_progress) as progress:
            status, worker = asyncio.run(
                _work(config, writer, settings, rules, traffic.exit_after, progress)
            )
    finally:
        counts = _counts(worker, writer)
        leave_run(db, run_id, config.consumer, status, counts, live_consumers(config))
    verdicts = dict(worker.state.verdicts) if worker else {}
    problems = worker.state.problems if worker else 0
    return SessionOutcome(name, status, verdicts, TrafficStats(), problems)


async def _work(
    config: WorkerConfig,
    writer: RunWriter,
    settings: ReplaySettings,
    rules: RuleSet,
    exit_after: float | None,
    progress: ReplayProgress,
) -> tuple[str, PoolWorker]:
    """Run the worker; the first Ctrl-C or SIGTERM stops reading (what is in flight is
    stored and acknowledged), a second abandons the requests in flight."""
    client = async_client(config.url)
    reader = GroupReader(
        client, config.url, config.group, config.consumer, config.claim_idle,
        count=2 * settings.concurrency,
    )  # fmt: skip
    worker = PoolWorker(config, reader, writer, settings, rules, progress.record)
    stop, task = asyncio.Event(), asyncio.current_task()
    timer = (
        None if exit_after is None else asyncio.get_running_loop().call_later(exit_after, stop.set)
    )
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
        return "interrupted", worker
    finally:
        remove_signals(handled)
        if timer is not None:
            timer.cancel()
        await client.aclose()
    return ("interrupted" if interrupted else "finished"), worker


def live_consumers(config: WorkerConfig) -> set[str] | None:
    """The group's consumers that talked to Redis within --claim-idle (a consumer silent
    for longer has had its entries claimed by the others: it is gone); None if Redis does
    not answer."""
    client = sync_client(config.url)
    try:
        listed: Any = client.xinfo_consumers(config.url.stream, config.group)
    except (*DOWN, redis.ResponseError):
        return None
    finally:
        client.close()
    limit = config.claim_idle * 1000
    return {_text(c["name"]) for c in listed if int(c["idle"]) < limit}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _counts(worker: PoolWorker | None, writer: RunWriter) -> dict[str, int]:
    if worker is None:
        return {}
    counts: Counter[str] = Counter(worker.state.counts)
    counts["reclaimed"] = worker.reader.reclaimed
    counts["duplicates"] += writer.duplicates
    counts["exchanges"] = worker.state.verdicts.total() - writer.duplicates
    return dict(counts)
