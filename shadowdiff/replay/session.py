"""A replay session, end to end: .gor files -> exchanges -> replay -> compare -> store.

The I/O shell around the pure pieces: opens the store, reads rules, checks the target,
handles Ctrl-C (the first stops feeding new exchanges; finished ones are all stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import socket
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from shadowdiff.errors import EnvironmentProblem, InputError
from shadowdiff.exchange import Exchange
from shadowdiff.gorfile import GorProblem, check_gor, merge_gor
from shadowdiff.replay.plan import Target
from shadowdiff.replay.progress import ReplayProgress
from shadowdiff.replay.runner import ReplaySettings, replay_exchanges
from shadowdiff.rules import RuleSet
from shadowdiff.store import ExchangeResult, RunWriter, open_store
from shadowdiff.traffic.pairing import TrafficStats, pair_records

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    run: str
    status: str
    counts: dict[str, int]
    traffic: TrafficStats
    problems: int


def generate_run_name() -> str:
    return f"run-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def check_reachable(target: Target, flag: str) -> None:
    try:
        with socket.create_connection((target.host, target.port), timeout=5):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise EnvironmentProblem(f"{flag} {target.url}: unreachable ({reason})") from None


def run_replay(
    files: list[Path],
    settings: ReplaySettings,
    rules: RuleSet,
    db_path: Path,
    run_name: str | None = None,
    show_progress: bool = True,
) -> SessionOutcome:
    """Replay recordings into a new run of the store at `db_path`."""
    for path in files:
        check_gor(path)
    check_targets(settings)
    writer = start_run(
        db_path, run_name, run_row("replay", [str(p) for p in files], settings, rules)
    )
    stats, problems = TrafficStats(), 0

    def on_problem(problem: GorProblem) -> None:
        nonlocal problems
        problems += 1
        log.warning("%s (skipped)", problem)
        writer.add_problem(problem)

    if settings.workers > 1:
        return _replay_in_processes(files, settings, rules, writer, db_path, show_progress)
    exchanges = pair_records(merge_gor(files, on_problem), stats, on_problem)
    status, counts = replay_into(writer, exchanges, settings, rules, show_progress, stats)
    return SessionOutcome(writer.name, status, counts, stats, problems)


def _replay_in_processes(
    files: list[Path],
    settings: ReplaySettings,
    rules: RuleSet,
    writer: RunWriter,
    db_path: Path,
    show_progress: bool,
) -> SessionOutcome:
    from shadowdiff.replay.parallel import replay_in_processes

    try:
        status, counts, stats, problems = replay_in_processes(
            files, settings, rules, writer, db_path, show_progress
        )
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            writer.finish("failed", {})
        raise
    writer.finish(status, asdict(stats))
    return SessionOutcome(writer.name, status, counts, stats, problems)


def check_targets(settings: ReplaySettings) -> None:
    check_reachable(settings.target, "--target")
    if settings.baseline is not None:
        check_reachable(settings.baseline, "--baseline")


def start_run(db_path: Path, run_name: str | None, row: dict[str, object]) -> RunWriter:
    db = open_store(db_path)
    name = run_name or generate_run_name()
    if db.table("runs").count_where("name = ?", [name]):
        raise InputError(f"--run {name}: a run of that name already exists in {db_path}")
    return RunWriter(db, name, row)


def replay_into(
    writer: RunWriter,
    exchanges: Iterable[Exchange],
    settings: ReplaySettings,
    rules: RuleSet,
    show_progress: bool,
    stats: TrafficStats,
) -> tuple[str, dict[str, int]]:
    """Replay, compare and store every exchange; the run's final status and verdict counts.
    Whatever happens, the run is closed with what was finished."""
    with ReplayProgress(show_progress) as progress:

        def sink(result: ExchangeResult) -> None:
            writer.add(result)
            progress.record(result.comparison.verdict)

        try:
            status = run_until_done(exchanges, settings, rules, sink)
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                writer.finish("failed", asdict(stats))
            raise
        writer.finish(status, asdict(stats))
    return status, dict(progress.counts)


def run_until_done(
    exchanges: Iterable[Exchange],
    settings: ReplaySettings,
    rules: RuleSet,
    sink: Callable[[ExchangeResult], None],
) -> str:
    """Run the replay. The first Ctrl-C or SIGTERM stops sending and lets the requests in
    flight finish; a second one abandons them."""

    async def main() -> str:
        stop, task = asyncio.Event(), asyncio.current_task()

        def on_signal() -> None:
            if stop.is_set() and task is not None:
                task.cancel()
            stop.set()

        handled = handle_signals(on_signal)
        try:
            await replay_exchanges(exchanges, settings, rules, sink, stop)
        except asyncio.CancelledError:
            return "interrupted"
        finally:
            remove_signals(handled)
        return "interrupted" if stop.is_set() else "finished"

    return asyncio.run(main())


def handle_signals(callback: Callable[[], None]) -> list[signal.Signals]:
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, callback)
            handled.append(sig)
        except (ValueError, RuntimeError):  # not the main thread: the caller handles signals
            pass
    return handled


def remove_signals(handled: list[signal.Signals]) -> None:
    """Undo `handle_signals`."""
    loop = asyncio.get_running_loop()
    for sig in handled:
        loop.remove_signal_handler(sig)


def run_row(
    command: str, sources: list[str], settings: ReplaySettings, rules: RuleSet, **extra: object
) -> dict[str, object]:
    """The `runs` row of a new run: what ran, from where, against what, with which rules."""
    options = {
        "concurrency": settings.concurrency,
        "timeout": settings.timeout,
        "keep_host": settings.keep_host,
        **extra,
    }
    return {
        "command": command,
        "source": json.dumps(sources),
        "target": settings.target.url,
        "baseline": settings.baseline.url if settings.baseline else None,
        "settings": json.dumps(options),
        "thresholds": json.dumps(rules.thresholds()),
    }
