"""A replay to one target or several, each its own run, through the traffic stages.

With several targets (`--target A --target B`), every request goes to each of them (or, with
`--split-output`, to one in turn) and each target's results are a run of their own, named
`NAME@host:port`: unlike GoReplay's type-3 messages (its issue #1219), a result always says
which target gave it, and `gate --run NAME@host:port` judges each build alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from shadowdiff.exchange import Exchange
from shadowdiff.replay.feed import Feed, answer_of
from shadowdiff.replay.progress import ReplayProgress
from shadowdiff.replay.runner import Distributor, Output, ReplaySettings, replay_from
from shadowdiff.rules import RuleSet
from shadowdiff.store import ExchangeResult, RunWriter
from shadowdiff.store.noise import save_noise
from shadowdiff.traffic.outputs import RecordOutput, RedisSink
from shadowdiff.traffic.rates import OutputLimit, Rate
from shadowdiff.traffic.stages import TrafficOptions, looped, paced

YIELD_EVERY = 256  # exchanges between two chances for timers and signals to run
log = logging.getLogger(__name__)


@dataclass(slots=True)
class TargetRun:
    """One target's run: where its results are written and what it counted."""

    settings: ReplaySettings
    writer: RunWriter
    limit: OutputLimit
    counts: Counter[str] = field(default_factory=Counter)
    shed: int = 0  # live traffic this target had no room for
    flag: str = "--target"  # how the user named targets (shadowdiff gor: --output-http)

    def refused(self) -> dict[str, int]:
        rate = self.limit.rate
        if rate is None or not self.limit.refused:
            return {}
        what = "over the cap" if rate.per_second is not None else "sampled out"
        return {
            f"{self.flag} {self.settings.target.url}{rate.describe()}: {what}": self.limit.refused
        }

    def own(self, traffic: dict[str, object]) -> dict[str, object]:
        """The run's traffic counts, with what this target shed (live traffic)."""
        if "shed" not in traffic:
            return traffic
        shed, lost = traffic["shed"], traffic.get("lost", 0)
        assert isinstance(shed, int) and isinstance(lost, int)
        return {**traffic, "shed": self.shed, "lost": lost - shed + self.shed}


def target_settings(
    settings: ReplaySettings | None, traffic: TrafficOptions
) -> list[tuple[ReplaySettings, Rate | None]]:
    """Each target's settings (the shared ones, aimed at it) and its rate (none: the
    traffic only goes to record outputs)."""
    if settings is None:
        return []
    if not traffic.targets:
        return [(settings, None)]
    return [(replace(settings, target=target), rate) for target, rate in traffic.targets]


def run_names(name: str, settings: list[ReplaySettings]) -> list[str]:
    """One target: the run's name; several: `NAME@host:port` each (numbered if repeated)."""
    if len(settings) == 1:
        return [name]
    names: list[str] = []
    for each in settings:
        base = f"{name}@{each.target.netloc}"
        names.append(base if base not in names else f"{base}#{len(names) + 1}")
    return names


async def replay_through(
    source: AsyncIterator[Exchange],
    runs: list[TargetRun],
    rules: RuleSet,
    traffic: TrafficOptions,
    filtered: Counter[str],
    stop: asyncio.Event,
    progress: ReplayProgress,
    report: dict[str, object],
    shed: Callable[[int], None] | None = None,
    queue_size: int | None = None,
    records: Sequence[RecordOutput] = (),
) -> None:
    """Replay what `source` yields, through the middleware and the filters, to every target
    run; what the middleware counted goes into `report` (for the runs' traffic). Live
    traffic (`shed` given) never waits for a target: what finds its queue (of `queue_size`;
    default: twice the concurrency) full is shed and counted. A middleware failure is
    raised once everything already handed on is replayed and stored."""
    for output in records:
        await output.sink.start()
    async with Feed(traffic, filtered) as feed:

        def sink_for(run: TargetRun) -> Callable[[ExchangeResult], None]:
            def sink(result: ExchangeResult) -> None:
                run.writer.add(result)
                run.counts[result.comparison.verdict] += 1
                progress.record(result.comparison.verdict)
                feed.answered(result)
                answer_records(records, result)

            return sink

        outputs = [Output(run.settings, sink_for(run), run.limit) for run in runs]

        async def produce(distributor: Distributor) -> None:
            async with contextlib.aclosing(feed.exchanges(source)) as exchanges:
                async for n, exchange in aenumerate(exchanges):
                    if stop.is_set():
                        return
                    if n % YIELD_EVERY == 0:
                        await asyncio.sleep(0)  # timers and signals run, whatever the queues
                    for output in records:
                        output.exchange(exchange)
                    if shed is None:
                        taken = await distributor.put(exchange)
                    else:
                        taken, full = distributor.offer(exchange)
                        shed(full)
                    if not taken:  # no target (or every rate refused it)
                        feed.unsent(exchange)

        queue_size = queue_size or 2 * max((run.settings.concurrency for run in runs), default=1)
        watcher = asyncio.create_task(feed.abandon_when(stop))
        try:
            await replay_from(produce, outputs, rules, stop, queue_size, traffic.split_output)
        finally:
            watcher.cancel()
            for run, target in zip(runs, outputs, strict=True):
                run.shed = target.shed
            report.update(feed.as_json())
            for output in records:
                await output.sink.close()
            if published := published_counts(records):
                report["published"] = published
    if feed.failure is not None:
        raise feed.failure


def published_counts(records: Sequence[RecordOutput]) -> dict[str, dict[str, int]]:
    """What each `--to` output published and lost (the run's traffic keeps it)."""
    return {
        output.name: output.sink.writer.stats.as_json()
        for output in records
        if isinstance(output.sink, RedisSink)
    }


async def aenumerate(items: AsyncIterator[Exchange]) -> AsyncIterator[tuple[int, Exchange]]:
    n = 0
    async for item in items:
        yield n, item
        n += 1


def answer_records(records: Sequence[RecordOutput], result: ExchangeResult) -> None:
    """A target's answer, as a type-3 record, to the outputs that track answers."""
    answer = answer_of(result) if records else None
    if answer is not None:
        for output in records:
            output.answer(*answer)


async def recorded(
    recording: Callable[[], Iterable[Exchange]], traffic: TrafficOptions, stop: asyncio.Event
) -> AsyncIterator[Exchange]:
    """A recording's exchanges, paced at `traffic.speed` and looped when asked."""
    async for one_pass in looped(recording, traffic.loop, stop):
        async for exchange in paced(one_pass, traffic.speed, stop, traffic.max_wait):
            yield exchange


def finish_runs(
    runs: list[TargetRun], status: str, traffic: dict[str, object], filtered: Counter[str]
) -> None:
    """Close every target's run with its status and counts (what was filtered included)."""
    for run in runs:
        counted = {**filtered, **run.refused()}
        own = run.own(traffic)
        try:
            if run.settings.noise is not None:
                save_noise(run.writer.db, run.writer.run_id, run.settings.noise)
            run.writer.finish(status, {**own, "filtered": counted} if counted else own)
        except sqlite3.Error as exc:
            log.error("run %s: the store did not take its last results: %s", run.writer.name, exc)


def open_runs(
    writers: Callable[[str, ReplaySettings], RunWriter],
    name: str,
    targets: list[tuple[ReplaySettings, Rate | None]],
    flag: str = "--target",
) -> list[TargetRun]:
    settings = [each for each, _ in targets]
    return [
        TargetRun(each.measuring(), writers(run_name, each), OutputLimit(rate), flag=flag)
        for (each, rate), run_name in zip(targets, run_names(name, settings), strict=True)
    ]
