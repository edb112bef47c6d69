"""`replay --from redis://... --segment NAME[|N%]`: a recorded segment replayed like a
recording, through every stage a file replay has (several targets, filters, rewrites,
middleware, `|N%` at the recorded pace, `--loop`), into a run of its own each time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import redis

from shadowdiff.bus.client import check_bus, refused, sync_client
from shadowdiff.bus.segments import replayable, segment_entries, segment_exchanges, segments_key
from shadowdiff.bus.url import BusUrl
from shadowdiff.exchange import Exchange
from shadowdiff.replay.runner import ReplaySettings
from shadowdiff.replay.session import (
    ProblemSink,
    SessionOutcome,
    checked_targets,
    replay_recording,
)
from shadowdiff.rules import RuleSet
from shadowdiff.traffic.pairing import TrafficStats
from shadowdiff.traffic.stages import TrafficOptions


def run_segment_replay(
    url: BusUrl,
    name: str,
    settings: ReplaySettings,
    rules: RuleSet,
    db_path: Path,
    run_name: str | None,
    show_progress: bool,
    traffic: TrafficOptions,
) -> SessionOutcome:
    client = sync_client(url)
    try:
        check_bus(client, url, "--from", (segments_key(url.stream), "hash"))
        try:
            seg = replayable(client, url, name)
        except redis.RedisError as exc:
            raise refused(url, "--from", exc) from None
        targets = checked_targets(settings, traffic)

        def read(stats: TrafficStats, on_problem: ProblemSink) -> Iterator[Exchange]:
            entries = segment_entries(client, url, seg)
            for exchange in segment_exchanges(entries, url, on_problem):
                _count(stats, exchange)
                yield exchange

        source = [f"{url}&segment={name}"]
        return replay_recording(
            read, targets, rules, traffic, db_path, run_name, source, show_progress
        )
    finally:
        client.close()


def _count(stats: TrafficStats, exchange: Exchange) -> None:
    stats.requests += 1
    if exchange.baseline is not None:
        stats.responses += 1
    else:
        stats.requests_without_response += 1
