"""`shadowdiff publish FILE[|N%]...`: recordings onto the stream, one entry per exchange,
the records' bytes unchanged. Without a speed, Redis sets the pace (the publisher's buffer
waits for room); with `|N%`, the recorded pace times N%, like a capture host: what finds
the buffer full is dropped and counted, as live capture would. When Redis refuses the
entries (an error reply), publishing stops: what is left is counted as refused."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence

from shadowdiff.bus.entry import entry_bytes, group_records
from shadowdiff.bus.publish import Publisher, PublishStats
from shadowdiff.bus.url import BusUrl
from shadowdiff.gorfile import GorProblem, GorRecord, check_gor, merge_gor
from shadowdiff.traffic.rates import Pacer, recordings_at_speed

log = logging.getLogger(__name__)


def publish_files(
    files: Sequence[str], url: BusUrl, buffer: int
) -> tuple[PublishStats, int, str | None]:
    """Publish recordings; the publisher's counts, how many records were unreadable, and
    why Redis refused the entries (None: it took them)."""
    paths, speed = recordings_at_speed(files)
    for path in paths:
        check_gor(path)
    problems = 0

    def on_problem(problem: GorProblem) -> None:
        nonlocal problems
        problems += 1
        log.warning("%s (skipped)", problem)

    publisher = Publisher(url, buffer)
    publisher.start()
    try:
        _publish(merge_gor(paths, on_problem), publisher, speed)
    finally:
        stats = publisher.close(timeout=5.0 if speed is not None else 30.0)
    return stats, problems, publisher.failure


def _publish(records: Iterable[GorRecord], publisher: Publisher, speed: float | None) -> None:
    pacer = Pacer(speed or 1.0)
    start = time.monotonic()
    for group in group_records(records):
        data = entry_bytes(group)
        if speed is None:
            publisher.put(data)
            continue
        wait = start + pacer.due(group[0].timestamp) - time.monotonic()
        if wait > 0 and publisher.failure is None:  # once failed: counted, not paced
            time.sleep(wait)
        publisher.send(data)
