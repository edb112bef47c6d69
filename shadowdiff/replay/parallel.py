"""A replay in several processes (`--workers N`): one event loop tops out near one core (httpx,
parsing, comparison and the store all run in it), so each worker process replays its share.

The share is decided per record id (`crc32(id) % N`), before any parsing, so that a request
and its responses stay together and no process parses what another replays. The parent
creates the run; each worker reads the recordings itself, replays its share, stores its
results into that run (the store takes writers from several processes) and counts its
verdicts in shared memory, from which the parent shows the progress. The parent relays
Ctrl-C and SIGTERM once to every worker (they run in their own process group, so a
terminal's Ctrl-C reaches the parent only), sums what the workers report and closes the
run.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from multiprocessing.process import BaseProcess
from multiprocessing.queues import SimpleQueue
from pathlib import Path
from types import FrameType
from typing import Any

from shadowdiff.compare.model import VERDICTS
from shadowdiff.gorfile import GorProblem, GorRecord, merge_gor
from shadowdiff.replay.progress import ReplayProgress
from shadowdiff.replay.runner import ReplaySettings
from shadowdiff.rules import RuleSet
from shadowdiff.store import ExchangeResult, RunWriter, open_store
from shadowdiff.store.noise import save_noise
from shadowdiff.store.secrets import redaction_for
from shadowdiff.traffic.pairing import TrafficStats, pair_records

POLL = 0.5
Counters = Any  # a shared-memory array of ints, one per verdict (multiprocessing.Array)
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Share:
    """What one worker replays, and where it stores it."""

    index: int
    workers: int
    files: list[Path]
    db_path: Path
    run_name: str
    run_id: int


@dataclass(frozen=True, slots=True)
class ShareOutcome:
    index: int
    status: str
    counts: dict[str, int]
    stats: dict[str, int]
    problems: int


def owns(record_id: str, share: int, workers: int) -> bool:
    return zlib.crc32(record_id.encode("latin-1", "replace")) % workers == share


def share_records(files: list[Path], share: Share, on_problem: Any) -> Iterator[GorRecord]:
    """The records of this share, in the recordings' order."""
    for record in merge_gor(files, on_problem):
        if owns(record.id, share.index, share.workers):
            yield record


def run_share(
    share: Share, settings: ReplaySettings, rules: RuleSet, live: Counters | None = None
) -> ShareOutcome:
    """One worker's replay (in its own process): its records, its stores, its counts (also
    kept in `live`, one slot per verdict, for the parent's progress)."""
    from shadowdiff.replay.session import run_until_done  # the session imports this module

    redaction = redaction_for(share.db_path, rules)  # the parent made the key: the same one
    writer = RunWriter(
        open_store(share.db_path), share.run_name, {}, joining=share.run_id, redaction=redaction
    )
    stats, problems, counts = TrafficStats(), 0, Counter[str]()

    def on_problem(problem: GorProblem) -> None:
        nonlocal problems
        if share.index == 0:  # every worker reads every file: the first one reports
            problems += 1
            writer.add_problem(problem)

    def sink(result: ExchangeResult) -> None:
        writer.add(result)
        counts[result.comparison.verdict] += 1
        if live is not None:
            live[VERDICTS.index(result.comparison.verdict)] += 1

    exchanges = pair_records(share_records(share.files, share, on_problem), stats, on_problem)
    settings = settings.measuring()
    try:
        status = run_until_done(exchanges, settings, rules, sink)
    finally:
        writer.flush()
        if settings.noise is not None:
            save_noise(writer.db, share.run_id, settings.noise)
    return ShareOutcome(share.index, status, dict(counts), asdict(stats), problems)


def _worker(
    share: Share,
    settings: ReplaySettings,
    rules: RuleSet,
    results: SimpleQueue[Any],
    live: Counters,
) -> None:
    os.setpgrp()  # a terminal's Ctrl-C reaches the parent, which relays it once
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        results.put(run_share(share, settings, rules, live))
    except BaseException as exc:  # reported to the parent, which decides the run's status
        results.put(ShareOutcome(share.index, f"failed: {exc!r}", {}, {}, 0))


def replay_in_processes(
    files: list[Path],
    settings: ReplaySettings,
    rules: RuleSet,
    writer: RunWriter,
    db_path: Path,
    show_progress: bool,
) -> tuple[str, dict[str, int], TrafficStats, int]:
    """Run `settings.workers` workers over the recordings; the run's status, verdict counts,
    traffic counts and unreadable records."""
    workers = settings.workers
    each = replace(settings, concurrency=max(1, -(-settings.concurrency // workers)), workers=1)
    context = multiprocessing.get_context("fork")
    results: SimpleQueue[Any] = context.SimpleQueue()
    writer.flush()
    live = [context.Array("q", len(VERDICTS), lock=False) for _ in range(workers)]
    processes = [
        context.Process(
            target=_worker,
            args=(
                Share(k, workers, files, db_path, writer.name, writer.run_id),
                each,
                rules,
                results,
                live[k],
            ),
            daemon=True,
        )
        for k in range(workers)
    ]
    for process in processes:
        process.start()
    with _relayed_signals(processes), ReplayProgress(show_progress) as progress:
        _follow(processes, live, progress)
    outcomes: list[ShareOutcome] = []
    while not results.empty():
        outcomes.append(results.get())
    for outcome in outcomes:
        if outcome.status.startswith("failed"):
            log.warning("worker %d %s", outcome.index, outcome.status)
    return _combine(outcomes, workers)


def _follow(
    processes: Sequence[BaseProcess], live: list[Counters], progress: ReplayProgress
) -> None:
    """Wait for the workers, showing the verdicts they count."""
    while any(process.is_alive() for process in processes):
        for process in processes:
            process.join(POLL / len(processes))
        for index, verdict in enumerate(VERDICTS):
            done = sum(counters[index] for counters in live)
            for _ in range(done - progress.counts[verdict]):
                progress.record(verdict)


@contextlib.contextmanager
def _relayed_signals(processes: Sequence[BaseProcess]) -> Iterator[None]:
    def relay(signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signum)

    previous = {sig: signal.signal(sig, relay) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _combine(
    outcomes: list[ShareOutcome], workers: int
) -> tuple[str, dict[str, int], TrafficStats, int]:
    counts: Counter[str] = Counter()
    stats: Counter[str] = Counter()
    problems = 0
    statuses = set()
    for outcome in outcomes:
        counts.update(outcome.counts)
        stats.update(outcome.stats)
        problems += outcome.problems
        statuses.add(outcome.status)
    if len(outcomes) < workers or any(s.startswith("failed") for s in statuses):
        status = "failed"
    else:
        status = "interrupted" if "interrupted" in statuses else "finished"
    return status, dict(counts), TrafficStats(**stats), problems
