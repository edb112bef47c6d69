"""GoReplay's `--input-tcp`: listen for the .gor framing that capture hosts send with
`--output-tcp`, pair the records into exchanges as they come, replay them (or only pass them
to record outputs). Ends at Ctrl-C / SIGTERM or `--exit-after`; the run is then finished."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from shadowdiff.exchange import Exchange
from shadowdiff.replay.runner import ReplaySettings
from shadowdiff.replay.session import (
    PLAIN,
    SessionOutcome,
    checked_targets,
    open_target_runs,
    outcome_of,
    run_stages,
)
from shadowdiff.rules import RuleSet
from shadowdiff.traffic.gortcp import GorTcpListener, format_address
from shadowdiff.traffic.live import pair_live
from shadowdiff.traffic.outputs import RecordOutput
from shadowdiff.traffic.pairing import TrafficStats
from shadowdiff.traffic.stages import TrafficOptions

log = logging.getLogger(__name__)


def run_listen(
    address: tuple[str, int],
    settings: ReplaySettings | None,
    rules: RuleSet,
    db_path: Path,
    run_name: str | None = None,
    show_progress: bool = True,
    traffic: TrafficOptions = PLAIN,
    records: Sequence[RecordOutput] = (),
) -> SessionOutcome:
    targets = checked_targets(settings, traffic)
    sources = [f"tcp {format_address(*address)}"]
    runs = open_target_runs(db_path, run_name, rules, traffic, targets, "listen", sources)
    stats = TrafficStats()
    status, filtered = run_stages(
        lambda stop: listened(address, stats, stop),
        runs,
        rules,
        traffic,
        show_progress,
        stats,
        records,
        live=True,
    )
    return outcome_of(runs, status, stats, stats.unreadable, filtered)


async def listened(
    address: tuple[str, int], stats: TrafficStats, stop: asyncio.Event
) -> AsyncIterator[Exchange]:
    """The exchanges the senders send, until `stop`."""
    listener = GorTcpListener(*address)
    await listener.start()
    log.warning("listening on %s", format_address(address[0], listener.port))
    closer = asyncio.create_task(_close_when(stop, listener))
    try:
        async for exchange in pair_live(listener.records(), stats):
            yield exchange
    finally:
        closer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await closer
        await listener.close()


async def _close_when(stop: asyncio.Event, listener: GorTcpListener) -> None:
    await stop.wait()
    await listener.close()
