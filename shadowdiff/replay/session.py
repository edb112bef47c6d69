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
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from shadowdiff.errors import EnvironmentProblem, InputError
from shadowdiff.exchange import Exchange
from shadowdiff.gorfile import REQUEST, GorProblem, check_gor, merge_gor
from shadowdiff.replay.plan import Target
from shadowdiff.replay.progress import ReplayProgress
from shadowdiff.replay.runner import ReplaySettings, replay_exchanges
from shadowdiff.replay.targets import (
    TargetRun,
    finish_runs,
    open_runs,
    recorded,
    replay_through,
    target_settings,
)
from shadowdiff.rules import RuleSet
from shadowdiff.store import ExchangeResult, RunWriter, open_store
from shadowdiff.store.secrets import redaction_for
from shadowdiff.traffic.outputs import RecordOutput
from shadowdiff.traffic.pairing import TrafficStats, pair_records
from shadowdiff.traffic.rates import Rate
from shadowdiff.traffic.stages import TrafficOptions

PLAIN = TrafficOptions()

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    run: str
    status: str
    counts: dict[str, int]
    traffic: TrafficStats
    problems: int
    targets: tuple[tuple[str, str, dict[str, int]], ...] = ()  # several: (run, URL, counts)
    filtered: dict[str, int] = field(default_factory=dict)  # not replayed, by reason


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
    settings: ReplaySettings | None,
    rules: RuleSet,
    db_path: Path,
    run_name: str | None = None,
    show_progress: bool = True,
    traffic: TrafficOptions = PLAIN,
    records: Sequence[RecordOutput] = (),
) -> SessionOutcome:
    """Replay recordings into a new run of the store at `db_path` (one run per target; no
    settings: no target, the traffic only goes to the `records` outputs)."""
    for path in files:
        check_gor(path)
    targets = checked_targets(settings, traffic)
    sources = [str(p) for p in files]
    learn_endpoints(files, rules)
    if settings is not None and settings.workers > 1:
        refuse_with_workers(traffic, records)
        writer = start_run(db_path, run_name, run_row("replay", sources, settings, rules), rules)
        return _replay_in_processes(files, settings, rules, writer, db_path, show_progress)

    def read(stats: TrafficStats, on_problem: ProblemSink) -> Iterable[Exchange]:
        return pair_records(merge_gor(files, on_problem), stats, on_problem)

    return replay_recording(
        read, targets, rules, traffic, db_path, run_name, sources, show_progress, records
    )


ProblemSink = Callable[[GorProblem], None]


def replay_recording(
    read: Callable[[TrafficStats, ProblemSink], Iterable[Exchange]],
    targets: list[tuple[ReplaySettings, Rate | None]],
    rules: RuleSet,
    traffic: TrafficOptions,
    db_path: Path,
    run_name: str | None,
    sources: list[str],
    show_progress: bool,
    records: Sequence[RecordOutput] = (),
) -> SessionOutcome:
    """A recording (.gor files, a stream's segment) replayed to every target, each into a
    run of its own; `read` gives one pass of its exchanges (a pass per `--loop`), counting
    into the stats and reporting what it cannot read, which every run stores."""
    runs = open_target_runs(db_path, run_name, rules, traffic, targets, "replay", sources)
    stats, problems = TrafficStats(), 0

    def on_problem(problem: GorProblem) -> None:
        nonlocal problems
        problems += 1
        log.warning("%s (skipped)", problem)
        for run in runs:
            run.writer.add_problem(problem)

    status, filtered = run_stages(
        lambda stop: recorded(lambda: read(stats, on_problem), traffic, stop),
        runs,
        rules,
        traffic,
        show_progress,
        stats,
        records,
    )
    return outcome_of(runs, status, stats, problems, filtered)


def checked_targets(
    settings: ReplaySettings | None, traffic: TrafficOptions
) -> list[tuple[ReplaySettings, Rate | None]]:
    """Each target's settings and rate (target_settings), every target and live baseline
    checked reachable first (exit 3 if not)."""
    targets = target_settings(settings, traffic)
    for each, _ in targets:
        check_targets(each)
    return targets


def open_target_runs(
    db_path: Path,
    run_name: str | None,
    rules: RuleSet,
    traffic: TrafficOptions,
    targets: list[tuple[ReplaySettings, Rate | None]],
    command: str,
    sources: list[str],
    **extra: object,
) -> list[TargetRun]:
    """One new run per target (none without targets), each row saying what ran."""
    if not targets:
        return []
    name = free_run_name(db_path, run_name)

    def writer_for(name: str, each: ReplaySettings) -> RunWriter:
        row = run_row(command, sources, each, rules, **extra, **traffic.describe())
        return start_run(db_path, name, row, rules)

    return open_runs(writer_for, name, targets, traffic.target_flag)


def learn_endpoints(files: list[Path], rules: RuleSet) -> None:
    """A first pass over the recordings' request lines (no pairing, no parsing of heads):
    the endpoints of requests no rule matches are learned before any is named."""
    for record in merge_gor(files, lambda problem: None):  # the real pass reports problems
        if record.type == REQUEST:
            method, _, rest = record.payload.partition(b" ")
            target = rest.partition(b" ")[0].decode("latin-1")
            if target.startswith("/"):
                rules.learn(method.decode("latin-1"), target)


def outcome_of(
    runs: list[TargetRun], status: str, stats: TrafficStats, problems: int, filtered: Counter[str]
) -> SessionOutcome:
    counts = sum((run.counts for run in runs), Counter[str]())
    several = tuple((r.writer.name, r.settings.target.url, dict(r.counts)) for r in runs)
    return SessionOutcome(
        runs[0].writer.name if runs else "",
        status,
        dict(counts),
        stats,
        problems,
        several if len(runs) > 1 else (),
        dict(filtered) | {k: v for run in runs for k, v in run.refused().items()},
    )


def run_stages(
    source: Callable[[asyncio.Event], AsyncIterator[Exchange]],
    runs: list[TargetRun],
    rules: RuleSet,
    traffic: TrafficOptions,
    show_progress: bool,
    stats: TrafficStats,
    records: Sequence[RecordOutput] = (),
    live: bool = False,
) -> tuple[str, Counter[str]]:
    """Run the traffic from `source` through the stages to every target run, then close the
    runs with what they finished, whatever happens. The first Ctrl-C or SIGTERM stops
    sending and lets the requests in flight finish (for `live` traffic, the way it ends:
    the run is finished); a second one abandons them."""
    filtered: Counter[str] = Counter()
    report: dict[str, object] = {}

    async def main() -> str:
        # stop: send nothing more (queued exchanges are dropped); end: a live source ends,
        # and everything it gave is replayed and stored
        stop, end, task = asyncio.Event(), asyncio.Event(), asyncio.current_task()
        first = end if live else stop
        timer = exit_after(traffic.exit_after, first)

        def on_signal() -> None:
            if first.is_set() and task is not None:
                task.cancel()
            first.set()

        handled = handle_signals(on_signal)
        try:
            await replay_through(
                source(first),
                runs,
                rules,
                traffic,
                filtered,
                stop,
                progress,
                report,
                records=records,
            )
        except asyncio.CancelledError:
            return "interrupted"
        finally:
            remove_signals(handled)
            if timer is not None:
                timer.cancel()
        expired = timer is not None and timer.when() <= asyncio.get_running_loop().time()
        return "interrupted" if stop.is_set() and not expired else "finished"

    with ReplayProgress(show_progress) as progress:
        try:
            status = asyncio.run(main())
        except BaseException:
            finish_runs(runs, "failed", asdict(stats) | report, filtered)
            raise
        finish_runs(runs, status, asdict(stats) | report, filtered)
    return status, filtered


def exit_after(seconds: float | None, stop: asyncio.Event) -> asyncio.TimerHandle | None:
    """`--exit-after`: stop sending after this long (a planned end: the run is finished)."""
    if seconds is None:
        return None
    return asyncio.get_running_loop().call_later(seconds, stop.set)


def refuse_with_workers(traffic: TrafficOptions, records: Sequence[RecordOutput] = ()) -> None:
    """`--workers N` splits a recording among processes: one target, no middleware, no
    pacing or loop (each process would keep its own clock and its own middleware)."""
    if records or (
        traffic != PLAIN
        and (
            len(traffic.targets) > 1
            or traffic.middleware
            or traffic.speed is not None
            or traffic.loop
            or traffic.exit_after is not None
            or not traffic.shaping.is_empty
            or any(rate for _, rate in traffic.targets)
        )
    ):
        raise InputError(
            "--workers: several processes replay one target, without --middleware, filters, "
            "rewrites, rates, a speed, --loop or --exit-after; use --workers 1 with those"
        )


def free_run_name(db_path: Path, run_name: str | None) -> str:
    """The name for a new run: the one asked for, unless the store has it already."""
    name = run_name or generate_run_name()
    db = open_store(db_path)
    taken = db.table("runs").count_where("name = ? or name like ?", [name, f"{name}@%"])
    if taken:
        raise InputError(f"--run {name}: a run of that name already exists in {db_path}")
    return name


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


def start_run(
    db_path: Path, run_name: str | None, row: dict[str, object], rules: RuleSet
) -> RunWriter:
    """A new run; what it stores goes through the rules' redaction first."""
    redaction = redaction_for(db_path, rules)
    db = open_store(db_path)
    name = run_name or generate_run_name()
    if db.table("runs").count_where("name = ?", [name]):
        raise InputError(f"--run {name}: a run of that name already exists in {db_path}")
    return RunWriter(db, name, row, redaction=redaction)


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
    if settings.noise_share:
        options["noise_sample"] = settings.noise_share
    if margins := rules.noise_thresholds():
        options["noise_thresholds"] = margins
    return {
        "command": command,
        "source": json.dumps(sources),
        "target": settings.target.url,
        "baseline": settings.baseline.url if settings.baseline else None,
        "settings": json.dumps(options),
        "thresholds": json.dumps(rules.thresholds()),
    }
