"""The bus on the command line: `publish`, `segment start|stop|list|export`, and the
`--from/--group/--consumer/--segment` options `replay` takes (shadowdiff/bus/)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shadowdiff.bus.url import BusUrl, parse_bus_url
from shadowdiff.errors import EnvironmentProblem, InputError
from shadowdiff.replay.runner import ReplaySettings
from shadowdiff.traffic.outputs import RecordOutput
from shadowdiff.traffic.rates import speed_of, split_rate
from shadowdiff.traffic.stages import TrafficOptions

if TYPE_CHECKING:
    from shadowdiff.capture.session import RecordSettings

BUS_ENV = "SHADOWDIFF_BUS"


def bus_url(flag: str) -> Callable[[click.Context, click.Parameter, str | None], BusUrl | None]:
    def convert(_ctx: click.Context, _param: click.Parameter, value: str | None) -> BusUrl | None:
        return None if value is None else parse_bus_url(value, flag)

    return convert


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE[|N%]...")
@click.option(
    "--to", "to", required=True, callback=bus_url("--to"), metavar="URL",
    help="The stream: redis://HOST:PORT/DB?stream=NAME[&maxlen=N].",
)  # fmt: skip
@click.option(
    "--buffer", type=click.IntRange(1, 10_000_000), default=10_000, show_default=True,
    help="Exchanges waiting for Redis; beyond (paced publishing): dropped and counted.",
)  # fmt: skip
@click.option(
    "--stats", "stats_path", type=click.Path(path_type=Path), default=None,
    help="Also write the counts (sent, dropped by reason) as JSON to this file.",
)  # fmt: skip
def publish(files: tuple[str, ...], to: BusUrl, buffer: int, stats_path: Path | None) -> None:
    """Publish recordings (.gor) to a Redis stream, one entry per exchange.

    FILE|N% publishes at the recorded pace times N%, like a capture host (an exchange that
    finds the buffer full is dropped and counted); without it, as fast as Redis takes them.
    Exits 3 when Redis refuses the entries (what was not sent is counted)."""
    from shadowdiff.bus.files import publish_files

    started = time.monotonic()
    stats, problems, failure = publish_files(files, to, buffer)
    if stats_path is not None:
        stats_path.write_text(json.dumps(stats.as_json()), encoding="utf-8")
    click.echo(stats.summary(to) + f" in {time.monotonic() - started:.1f} s")
    if problems:
        click.echo(f"{problems} unreadable record(s) skipped (see the warnings above)", err=True)
    if failure is not None:
        raise EnvironmentProblem(failure)


bus_option = click.option(
    "--bus", "url", required=True, envvar=BUS_ENV, callback=bus_url("--bus"), metavar="URL",
    help=f"The stream: redis://HOST:PORT/DB?stream=NAME (or ${BUS_ENV}).",
)  # fmt: skip


@click.group()
def segment() -> None:
    """Recording segments: named ranges of a stream, replayable any time, many times."""


@segment.command("start", short_help="Start a segment: entries published from now on.")
@click.argument("name")
@bus_option
def segment_start(name: str, url: BusUrl) -> None:
    """Start a segment: the entries published from now on belong to NAME."""
    from shadowdiff.bus.segments import start_segment, with_client

    seg = with_client(url, lambda client: start_segment(client, url, name))
    click.echo(f"segment {name} started after entry {seg.start_after} of {url}")


@segment.command("stop", short_help="Stop a segment.")
@click.argument("name")
@bus_option
def segment_stop(name: str, url: BusUrl) -> None:
    """Stop a segment: it holds the entries published since its start."""
    from shadowdiff.bus.segments import stop_segment, with_client

    seg = with_client(url, lambda client: stop_segment(client, url, name))
    click.echo(f"segment {name} stopped: {seg.describe()}")


@segment.command("list", short_help="The segments: entries, times, span, intact?")
@bus_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per segment, a list.")
def segment_list(url: BusUrl, as_json: bool) -> None:
    """The stream's segments: entries, first and last time, span, still intact or not."""
    from shadowdiff.bus.segments import list_segments, with_client

    listed = with_client(url, lambda client: list_segments(client, url))
    if as_json:
        click.echo(json.dumps([seg.as_json() for seg in listed]))
        return
    for seg in listed:
        click.echo(f"{seg.name:<20} {seg.describe()}")
    if not listed:
        click.echo(f"no segments on {url}", err=True)


@segment.command("export", short_help="Write a segment to a .gor file.")
@click.argument("name")
@bus_option
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help=".gor file to write (.gz: gzip).")  # fmt: skip
def segment_export(name: str, url: BusUrl, output: Path) -> None:
    """Write a segment's exchanges to a .gor file (the framing `record -o` writes)."""
    from shadowdiff.bus.segments import export_segment, with_client

    count = with_client(url, lambda client: export_segment(client, url, name, output))
    click.echo(f"exported {count} exchanges of segment {name} to {output}")


def bus_source_options(command: Callable[..., None]) -> Any:
    """`replay --from URL (--group G [--consumer C] | --segment NAME)`: with --from, the
    replay reads the bus instead of FILEs and the wrapped command is not called."""

    @functools.wraps(command)
    def with_bus(
        source: str | None,
        group: str | None,
        consumer: str | None,
        segment_name: str | None,
        claim_idle: float,
        idle_exit: float | None,
        **values: Any,
    ) -> None:
        if source is None:
            if group or consumer or segment_name or idle_exit is not None:
                raise InputError("--group, --consumer, --segment, --idle-exit: need --from URL")
            if not values.get("files"):
                raise click.UsageError("Missing argument 'FILES...' (or --from redis://...)")
            command(**values)
            return
        chosen = BusSource(source, group, consumer, segment_name, claim_idle, idle_exit)
        replay_bus(chosen, **values)

    options = (
        click.option("--from", "source", default=None, metavar="URL",
                     help="Replay from a Redis stream, redis://HOST:PORT/DB?stream=NAME "
                     "(|N% with --segment: at the recorded pace times N%)."),
        click.option("--group", default=None,
                     help="With --from: the consumer group whose workers share the work; "
                     "they all store into one run, named after the group unless --run."),
        click.option("--consumer", default=None,
                     help="With --group: this worker's name (default HOST-PID)."),
        click.option("--segment", "segment_name", default=None,
                     help="With --from: replay this recorded segment (no group)."),
        click.option("--claim-idle", type=click.FloatRange(min=0.01), default=30.0,
                     show_default=True,
                     help="With --group: claim entries another worker has held this long "
                     "(seconds; above --timeout)."),
        click.option("--idle-exit", type=click.FloatRange(min=0.0), default=None,
                     help="With --group: stop once nothing came for this long (seconds) "
                     "and nothing is pending in the group."),
    )  # fmt: skip
    for option in reversed(options):
        with_bus = option(with_bus)
    return with_bus


@dataclass(frozen=True, slots=True)
class BusSource:
    """What `replay --from` was asked for."""

    url: str
    group: str | None
    consumer: str | None
    segment: str | None
    claim_idle: float
    idle_exit: float | None


def replay_bus(
    source: BusSource,
    files: tuple[str, ...],
    settings: ReplaySettings,
    traffic: TrafficOptions,
    quiet: bool,
    db: Path,
    rules_dir: Path,
    run_name: str | None,
    workers: int,
    loop: bool,
) -> None:
    """`replay --from`: a worker of a pool (--group) or a segment's replay (--segment)."""
    from shadowdiff.cli import INTERRUPTED, echo_outcome, read_rules

    if files:
        raise InputError(f"--from: replays the stream, not files ({files[0]})")
    if workers > 1:
        raise InputError("--from: one process per worker; start several, with one --group")
    address, rate = split_rate(source.url, "--from")
    url = parse_bus_url(address, "--from")
    if source.segment is not None and source.group is not None:
        raise InputError("--from: --segment or --group, not both")
    if source.segment is not None:
        from shadowdiff.bus.segment_replay import run_segment_replay

        traffic = replace(
            traffic, speed=None if rate is None else speed_of(rate, "--from"), loop=loop
        )
        outcome = run_segment_replay(
            url, source.segment, settings, read_rules(rules_dir), db, run_name, not quiet, traffic
        )
    elif source.group is not None:
        from shadowdiff.bus.pool import default_consumer, run_pool_worker
        from shadowdiff.bus.worker import WorkerConfig

        if rate is not None or loop:
            raise InputError("--group: entries are replayed as they come (no |N% speed, no --loop)")
        config = WorkerConfig(
            url, source.group, source.consumer or default_consumer(), source.claim_idle,
            source.idle_exit,
        )  # fmt: skip
        outcome = run_pool_worker(
            config, settings, read_rules(rules_dir), db, run_name, not quiet, traffic
        )
    else:
        raise InputError("--from: give --group G (a worker pool) or --segment NAME")
    echo_outcome(outcome, db)
    if outcome.status == "interrupted":
        raise SystemExit(INTERRUPTED)


def tee_destination(command: Callable[..., None]) -> Any:
    """`tee --to URL`: also publish every captured exchange to the bus; the command gets
    `records`, the record outputs to hand to run_tee."""

    @functools.wraps(command)
    def with_records(to: BusUrl | None, **values: Any) -> None:
        command(records=bus_records(to), **values)

    return click.option(
        "--to", "to", default=None, callback=bus_url("--to"), metavar="URL",
        help="Also publish each captured exchange to redis://HOST:PORT/DB?stream=NAME.",
    )(with_records)  # fmt: skip


def bus_records(to: BusUrl | None) -> list[RecordOutput]:
    if to is None:
        return []
    from shadowdiff.bus.publish import BusWriter
    from shadowdiff.traffic.outputs import RedisSink

    return [RecordOutput(f"--to {to}", RedisSink(BusWriter(to)), originals=True)]


def record_destination(command: Callable[..., None]) -> Any:
    """`record -o FILE.gor` or `record --to redis://...` (one of them)."""

    @functools.wraps(command)
    def with_destination(output: Path | None, to: BusUrl | None, **values: Any) -> None:
        if (output is None) == (to is None):
            raise click.UsageError("give -o FILE.gor or --to redis://HOST:PORT/DB?stream=NAME")
        command(output=output, to=to, **values)

    options = (
        click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
                     help=".gor file to write (.gz: gzip; -: stdout)."),
        click.option("--to", "to", default=None, callback=bus_url("--to"), metavar="URL",
                     help="Publish to a Redis stream instead: redis://HOST:PORT/DB?stream=NAME."),
    )  # fmt: skip
    for option in reversed(options):
        with_destination = option(with_destination)
    return with_destination


def record_to_bus(
    settings: RecordSettings, to: BusUrl, ready: Callable[[], None], stats_path: Path | None
) -> None:
    """`record --to`: capture, publish each exchange as it completes, count what Redis
    did not take."""
    from shadowdiff.bus.client import check_bus, sync_client
    from shadowdiff.bus.publish import BusWriter
    from shadowdiff.capture.session import record as record_traffic

    client = sync_client(to)
    try:
        check_bus(client, to, "--to")
    finally:
        client.close()
    writer = BusWriter(to)
    stats = record_traffic(settings, Path("-"), ready, open_writer=lambda _path: writer)
    if stats_path is not None:
        counts = {**stats.as_json(), "published": writer.stats.as_json()}
        stats_path.write_text(json.dumps(counts), encoding="utf-8")
    click.echo(f"recorded {stats.exchanges} exchanges to {to}")
    click.echo(stats.summary(), err=True)
    click.echo(writer.stats.summary(to), err=True)
    if writer.publisher.failure is not None:
        raise EnvironmentProblem(writer.publisher.failure)
