"""The command line: parse flags, call one library function, map errors to exit codes.

Exit codes (DESIGN.md): 0 success / gate passed, 1 gate failed, 2 bad usage or input or rules,
3 environment problem, 130 interrupted.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from shadowdiff import __version__
from shadowdiff.bus.url import BusUrl
from shadowdiff.cli_bus import (
    bus_source_options,
    publish,
    record_destination,
    record_to_bus,
    segment,
    tee_destination,
)
from shadowdiff.cli_traffic import traffic_options
from shadowdiff.errors import InputError, RulesError, ShadowdiffError
from shadowdiff.gate import GatePolicy
from shadowdiff.replay.plan import parse_target
from shadowdiff.replay.runner import ReplaySettings
from shadowdiff.replay.session import SessionOutcome, run_replay
from shadowdiff.report.files import write_ci_outputs, write_report, write_trend
from shadowdiff.report.trend import parse_window
from shadowdiff.rules import RuleSet, load_rules
from shadowdiff.store import open_store
from shadowdiff.summary import format_gate, summarize_run
from shadowdiff.traffic.outputs import RecordOutput
from shadowdiff.traffic.rates import recordings_at_speed
from shadowdiff.traffic.stages import TrafficOptions
from shadowdiff.tuning import Advice

INTERRUPTED = 130
DEFAULT_RULES = Path("rules")
log = logging.getLogger("shadowdiff")

db_option = click.option(
    "--db",
    type=click.Path(path_type=Path),
    default=Path("shadowdiff.db"),
    show_default=True,
    help="SQLite store.",
)
rules_option = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_RULES,
    show_default=True,
    help="Rules directory.",
)
run_option = click.option(
    "--run", "run_name", default=None, help="Run name (reading commands: default the latest run)."
)


def stack(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Several click decorators as one (listed top to bottom as they would be written)."""

    def apply(command: Any) -> Any:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


def replay_options(command: Callable[..., None]) -> Any:
    """The options of a replay (targets, live baseline, concurrency, timeout, Host, and the
    traffic flags of cli_traffic.py), given to the command as `settings: ReplaySettings`
    (aimed at the first target) and `traffic: TrafficOptions`; plus --quiet, --db, --rules,
    --run."""

    @functools.wraps(command)
    def with_settings(
        traffic: TrafficOptions,
        baseline: str | None,
        concurrency: int,
        timeout: float,
        keep_host: bool,
        only_safe_methods: bool,
        noise: bool,
        noise_sample: float | None,
        **rest: Any,
    ) -> None:
        live = parse_target(baseline, "--baseline") if baseline else None
        first = traffic.targets[0][0]
        keep_host = keep_host or traffic.shaping.sets_host  # GoReplay: set Host, keep it
        share = noise_sample if noise_sample is not None else 1.0 if noise else 0.0
        settings = ReplaySettings(
            first,
            live,
            concurrency,
            timeout,
            keep_host,
            only_safe_methods=only_safe_methods,
            noise_share=share,
        )
        command(settings=settings, traffic=traffic, **rest)

    return stack(
        traffic_options,
        click.option(
            "--baseline",
            default=None,
            help="Live baseline URL (instead of the recorded responses).",
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(1, 1024),
            default=16,
            show_default=True,
            help="Connections (and requests in flight) per target.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.001),
            default=10.0,
            show_default=True,
            help="Per-request timeout in seconds.",
        ),
        click.option("--keep-host", is_flag=True, help="Send the recorded Host header unchanged."),
        click.option(
            "--only-safe-methods",
            is_flag=True,
            help="Hold back POST, PUT, PATCH, DELETE and other unsafe methods (stored as "
            "skipped, with the reason); rules can hold back an endpoint with replay: false.",
        ),
        click.option(
            "--noise",
            is_flag=True,
            help="Measure noise: send each safe request (GET, HEAD, OPTIONS) a second time to "
            "the candidate (and the live baseline) and store, per endpoint and field, how "
            "often a build disagrees with itself (gate, report and `rules suggest` use it).",
        ),
        click.option(
            "--noise-sample",
            type=click.FloatRange(0, 1, min_open=True),
            default=None,
            help="With --noise: the share of requests sent twice, e.g. 0.1 [default: 1].",
        ),
        click.option("--quiet", is_flag=True, help="No progress output."),
        db_option,
        rules_option,
        run_option,
    )(with_settings)


gor_output = click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help=".gor file to write (.gz: gzip; -: stdout).",
)
capture_options = stack(
    click.option(
        "--interface",
        "-i",
        "interfaces",
        multiple=True,
        required=True,
        help="Interface to capture on (repeatable), e.g. eth0 or lo.",
    ),
    click.option(
        "--port",
        "-p",
        "ports",
        type=click.IntRange(1, 65535),
        multiple=True,
        required=True,
        help="Server port whose traffic to capture (repeatable).",
    ),
    click.option("--bpf", default=None, help="Extra BPF expression, ANDed with the ports."),
    click.option(
        "--duration",
        type=click.FloatRange(min=0.001),
        default=None,
        help="Stop after this many seconds.",
    ),
    click.option(
        "--engine",
        type=click.Choice(["dumpcap", "tshark"]),
        default="dumpcap",
        show_default=True,
        help="dumpcap: dumpcap captures, shadowdiff decodes (fast, counts kernel drops, "
        "flat memory); tshark: tshark via pyshark (slower, kernel drops not counted).",
    ),
    click.option(
        "--buffer",
        "buffer_mb",
        type=click.IntRange(1, 4096),
        default=64,
        show_default=True,
        help="Kernel capture buffer in MiB (dumpcap -B): absorbs bursts.",
    ),
)


def echo_outcome(outcome: SessionOutcome, db: Path, err: bool = False) -> None:
    runs = outcome.targets or ((outcome.run, "", outcome.counts),)
    for run, url, counts in runs:
        listed = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        click.echo(
            f"run {run} {outcome.status}: {sum(counts.values())} exchanges "
            f"({listed or 'none'}) stored in {db}" + (f" (target {url})" if url else ""),
            err=err,
        )
    for reason, count in sorted(outcome.filtered.items()):
        click.echo(f"not replayed: {count} ({reason})", err=True)


def format_advice(advice: Advice, dry_run: bool) -> str:
    lines = [f"run {advice.run}: {len(advice.suggestions)} suggestion(s)"]
    lines += [f"  {s.describe()}" for s in advice.suggestions]
    if advice.refusals:
        lines.append("not suggested:")
        lines += [f"  {r.describe()}" for r in advice.refusals]
    if advice.preview is not None:
        preview = advice.preview
        lines.append(
            f"preview: this hides {preview.hidden} difference(s) on {preview.endpoints} "
            f"endpoint(s) in run {advice.run}"
        )
        lines += [
            f"  warning: it would hide the signal difference {s}" for s in preview.lost_signal
        ]
    for path, (before, after) in advice.edits.items():
        diff = difflib.unified_diff(
            before.splitlines(True), after.splitlines(True), str(path), str(path)
        )
        lines.append("".join(diff).rstrip("\n"))
    if advice.edits:
        names = ", ".join(str(path) for path in advice.edits)
        lines.append(f"dry run: nothing written ({names})" if dry_run else f"wrote {names}")
    return "\n".join(lines)


def read_rules(directory: Path) -> RuleSet:
    """The rules in `directory`; the default directory may be absent (no rules then)."""
    if directory == DEFAULT_RULES and not directory.exists():
        log.warning(
            "no rules/ directory here: comparing with the built-in defaults only (every "
            "field counts; only volatile headers are ignored); pass --rules DIR"
        )
        return RuleSet()
    return load_rules(directory)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shadowdiff")
@click.option("-v", "--verbose", is_flag=True, help="Log more to stderr.")
def cli(verbose: bool) -> None:
    """shadowdiff: replay real traffic against a candidate build, compare, store, gate."""
    logging.getLogger().setLevel(logging.INFO if verbose else logging.WARNING)


@cli.command()
@click.argument("files", nargs=-1)
@replay_options
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes replaying shares of the recordings (one event loop tops out near one "
    "core); --concurrency is shared among them.",
)
@click.option(
    "--loop", is_flag=True, help="Start the recordings again when they end (see --exit-after)."
)
@bus_source_options
def replay(
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
    """Replay recorded traffic (.gor, .gor.gz) against --target, compare, store a run.

    FILE|N% replays at the recorded pace times N% (FILE|200%: twice as fast); without it,
    as fast as the targets answer.

    With --from URL --group G, this process is one worker of a pool reading a Redis stream:
    all workers store into one run, named G unless --run is given (a run of that name must
    be this pool's and still running). With --from URL --segment NAME, it replays that
    recorded range of the stream."""
    paths, speed = recordings_at_speed(files)
    settings = replace(settings, workers=workers)
    traffic = replace(traffic, speed=speed, loop=loop)
    outcome = run_replay(paths, settings, read_rules(rules_dir), db, run_name, not quiet, traffic)
    echo_outcome(outcome, db)
    if outcome.traffic.requests_without_response and settings.baseline is None:
        click.echo(
            f"note: {outcome.traffic.requests_without_response} request(s) had no recorded "
            "response: compared by assertions only (record responses, e.g. GoReplay's "
            "--input-raw-track-response, or pass --baseline URL)",
            err=True,
        )
    if outcome.problems:
        click.echo(
            f"{outcome.problems} unreadable record(s) skipped (see the warnings above)", err=True
        )
    if outcome.status == "interrupted":
        raise SystemExit(INTERRUPTED)


def gate_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options that decide a gate, shared by `gate` and `report`."""
    for option in reversed(
        [
            click.option(
                "--max-diff-rate",
                type=click.FloatRange(0, 1),
                default=None,
                help="Threshold for endpoints whose rules set none.",
            ),
            click.option(
                "--allow-errors", is_flag=True, help="Errors alone do not fail an endpoint."
            ),
            click.option(
                "--fail-on",
                type=click.Choice(["low", "medium", "high"]),
                default="low",
                show_default=True,
                help="Count in the diff rate only exchanges with a difference of at least this "
                "severity (high: removed fields, type, status and content-type changes).",
            ),
            click.option(
                "--count-noise",
                is_flag=True,
                help="Count the differences that the noise evidence (replay --noise, now or in "
                "earlier runs) calls noise; by default only signal fields count.",
            ),
            click.option(
                "--max-lost",
                type=click.IntRange(min=0),
                default=None,
                help="Fail when the capture (tee) lost or shed more exchanges than this.",
            ),
            click.option(
                "--rules",
                "rules_dir",
                type=click.Path(path_type=Path),
                default=None,
                help="Take thresholds from these rules instead of those stored with the run.",
            ),
        ]
    ):
        command = option(command)
    return command


def gate_policy(
    max_diff_rate: float | None,
    allow_errors: bool,
    rules_dir: Path | None,
    max_lost: int | None,
    fail_on: str = "low",
    count_noise: bool = False,
) -> GatePolicy:
    rules = load_rules(rules_dir) if rules_dir else None
    return GatePolicy(
        rules.thresholds() if rules else {},
        max_diff_rate,
        allow_errors,
        max_lost,
        fail_on,
        count_noise,
        rules.noise_thresholds() if rules else {},
    )


@cli.command()
@gate_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--junit",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write JUnit XML (one testcase per endpoint) to this file.",
)
@click.option(
    "--markdown",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write a Markdown summary (for a pull-request comment) to this file.",
)
@db_option
@run_option
def gate(
    max_diff_rate: float | None,
    allow_errors: bool,
    max_lost: int | None,
    fail_on: str,
    count_noise: bool,
    rules_dir: Path | None,
    as_json: bool,
    junit: Path | None,
    markdown: Path | None,
    db: Path,
    run_name: str | None,
) -> None:
    """Exit 0 when the run passes, 1 when it fails."""
    store = open_store(db, create=False)
    result = summarize_run(
        store,
        run_name,
        gate_policy(max_diff_rate, allow_errors, rules_dir, max_lost, fail_on, count_noise),
    )
    write_ci_outputs(store, result, junit, markdown)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo(format_gate(result))
    raise SystemExit(0 if result.passed else 1)


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="HTML file to write [default: reports/RUN.html, reports/trend.html].",
)
@click.option("--trend", is_flag=True, help="Diff rates and difference signatures across runs.")
@click.option(
    "--last",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="With --trend: how many runs.",
)
@click.option("--since", default=None, help="With --trend: the runs started within, e.g. 24h, 7d.")
@click.option(
    "--name",
    "name_glob",
    default=None,
    help="With --trend: only runs whose name matches this glob, e.g. 'nightly-*'.",
)
@gate_options
@db_option
@run_option
def report(
    output: Path | None,
    trend: bool,
    last: int,
    since: str | None,
    name_glob: str | None,
    max_diff_rate: float | None,
    allow_errors: bool,
    max_lost: int | None,
    fail_on: str,
    count_noise: bool,
    rules_dir: Path | None,
    db: Path,
    run_name: str | None,
) -> None:
    """Write a single-file HTML report of a run (or, with --trend, of the last runs)."""
    store = open_store(db, create=False)
    if trend:
        window = parse_window(since) if since else None
        path = write_trend(store, last, window, output, name_glob)
    else:
        policy = gate_policy(max_diff_rate, allow_errors, rules_dir, max_lost, fail_on, count_noise)
        path = write_report(store, run_name, policy, output)
    click.echo(f"report written to {path}")


@cli.command()
@capture_options
@record_destination
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="Stop after this many exchanges."
)
@click.option(
    "--stats",
    "stats_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the capture's counts (losses by reason) as JSON to this file.",
)
def record(
    interfaces: tuple[str, ...],
    ports: tuple[int, ...],
    bpf: str | None,
    duration: float | None,
    engine: str,
    buffer_mb: int,
    output: Path | None,
    to: BusUrl | None,
    count: int | None,
    stats_path: Path | None,
) -> None:
    """Capture requests and origin responses passively (dumpcap) into a .gor file, or
    publish them to a Redis stream (--to; exit 3 if Redis refuses them: what was not sent is
    counted)."""
    from shadowdiff.capture.session import RecordSettings
    from shadowdiff.capture.session import record as record_traffic

    settings = RecordSettings(
        list(interfaces), list(ports), bpf, duration, count, engine, buffer_mb
    )

    def ready() -> None:
        click.echo(
            f"capturing on {', '.join(interfaces)} (ports {', '.join(map(str, ports))})", err=True
        )

    if to is not None:
        return record_to_bus(settings, to, ready, stats_path)
    assert output is not None  # record_destination: -o or --to
    stats = record_traffic(settings, output, ready)
    if stats_path is not None:
        stats_path.write_text(json.dumps(stats.as_json()), encoding="utf-8")
    click.echo(f"recorded {stats.exchanges} exchanges to {output}", err=str(output) == "-")
    click.echo(stats.summary(), err=True)


@cli.command()
@capture_options
@click.option(
    "--queue",
    "queue_size",
    type=click.IntRange(1, 1_000_000),
    default=1000,
    show_default=True,
    help="Captured exchanges waiting for the target; beyond: shed.",
)
@replay_options
@tee_destination
def tee(
    interfaces: tuple[str, ...],
    ports: tuple[int, ...],
    bpf: str | None,
    duration: float | None,
    engine: str,
    buffer_mb: int,
    queue_size: int,
    settings: ReplaySettings,
    traffic: TrafficOptions,
    quiet: bool,
    db: Path,
    rules_dir: Path,
    run_name: str | None,
    records: list[RecordOutput],
) -> None:
    """Capture live traffic, replay each request to --target at once, compare, store."""
    from shadowdiff.replay.tee import TeeSettings, run_tee

    teeing = TeeSettings(
        list(interfaces), list(ports), bpf, queue_size, duration, engine, buffer_mb
    )
    rules = read_rules(rules_dir)
    outcome = run_tee(teeing, settings, rules, db, run_name, not quiet, traffic, records)
    echo_outcome(outcome, db)
    if outcome.status == "interrupted":
        raise SystemExit(INTERRUPTED)


@cli.command(
    "gor",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
@click.option("--quiet", is_flag=True, hidden=True)
def gor(argv: tuple[str, ...], quiet: bool) -> None:
    """Run a GoReplay command line on shadowdiff (`shadowdiff gor --help`)."""
    from shadowdiff.compat.flags import GOR_HELP, parse_gor_args
    from shadowdiff.compat.run import plan_gor, run_gor

    command = parse_gor_args(argv)
    if command.help_requested:
        click.echo(GOR_HELP)
        return
    for old, new in command.renamed:
        log.warning("%s is GoReplay's old name of %s: read as %s", old, new, new)
    for flag in command.accepted:
        log.warning("%s: accepted, no effect in shadowdiff", flag)
    plan = plan_gor(command)
    extras = command.shadowdiff
    if interface := extras.get("--interface"):  # capture there, whatever --input-raw's host
        plan = replace(plan, capture=tuple((interface, port) for _, port in plan.capture))
    db = Path(extras.get("--db", "shadowdiff.db"))
    rules_dir = Path(extras.get("--rules", str(DEFAULT_RULES)))
    rules = read_rules(rules_dir) if plan.settings is not None else RuleSet()  # no target
    outcome = run_gor(plan, rules, db, extras.get("--run"), not quiet and not plan.writes_stdout)
    if plan.settings is not None:
        echo_outcome(outcome, db, err=plan.writes_stdout)
    if outcome.status == "interrupted":
        raise SystemExit(INTERRUPTED)


@cli.command()
@db_option
@rules_option
@run_option
@click.option("--as", "new_name", default=None, help="Name of the new run.")
def recompare(db: Path, rules_dir: Path, run_name: str | None, new_name: str | None) -> None:
    """Judge a stored run again under the current rules, without replaying: a new run."""
    from shadowdiff.recompare import recompare_run

    done = recompare_run(db, run_name, read_rules(rules_dir), new_name)
    listed = ", ".join(f"{k} {v}" for k, v in sorted(done.counts.items()))
    click.echo(
        f"run {done.run} finished: {sum(done.counts.values())} exchanges ({listed or 'none'}) "
        f"recompared from {done.source}, stored in {db}"
    )


@cli.command()
@click.option(
    "--from",
    "sources",
    type=click.Path(path_type=Path),
    multiple=True,
    required=True,
    help="A store to merge from (repeatable); it is not changed.",
)
@click.option("--run", "run_name", required=True, help="The run to merge (same name in each).")
@db_option
def merge(sources: tuple[Path, ...], run_name: str, db: Path) -> None:
    """Add a run of other stores into --db as one run: the shares of a worker pool spread
    over several machines, each with its own store (an exchange stored twice under one bus
    uid is kept once)."""
    from shadowdiff.store.merge import merge_run

    for source in sources:
        merged = merge_run(db, source, run_name)
        click.echo(
            f"merged run {merged.run} from {source}: {merged.exchanges} exchange(s) added, "
            f"{merged.duplicates} already in {db} (same bus uid)"
        )


@cli.command("import")
@click.argument("source", type=click.Path(path_type=Path))
@gor_output
@click.option(
    "--port",
    "-p",
    "ports",
    type=click.IntRange(1, 65535),
    multiple=True,
    help="pcap: server port(s); default: each connection's SYN or first bytes decide.",
)
def import_(source: Path, output: Path, ports: tuple[int, ...]) -> None:
    """Convert a HAR file or a pcap/pcapng capture to a .gor file."""
    from shadowdiff.importing import import_file

    click.echo(import_file(source, output, set(ports)), err=str(output) == "-")


@cli.group()
def rules() -> None:
    """Work with rule files."""


@rules.command("check")
@click.argument("directory", type=click.Path(path_type=Path), default=DEFAULT_RULES)
@click.option(
    "--run",
    "run_name",
    default=None,
    help="Also lint the rules against this run's traffic (rules that matched nothing, "
    "ignores that hid nothing, endpoints without a rule).",
)
@click.option("--db", type=click.Path(path_type=Path), default=None, help="SQLite store.")
def rules_check(directory: Path, run_name: str | None, db: Path | None) -> None:
    """Validate rule files; every problem is printed as file:line: message."""
    ruleset = load_rules(directory, flag="")
    click.echo(f"{directory}: {len(ruleset.endpoints)} endpoint rule(s), no problems")
    if run_name is None and db is None:
        return
    from shadowdiff.tuning import lint_rules

    run, warnings = lint_rules(
        open_store(db or Path("shadowdiff.db"), create=False), run_name, ruleset
    )
    for warning in warnings:
        click.echo(f"warning: {warning}")
    click.echo(f"run {run.name}: {len(warnings)} warning(s)")


@rules.command("suggest")
@click.option("--dry-run", is_flag=True, help="Show the change and its preview; write nothing.")
@db_option
@rules_option
@run_option
def rules_suggest(dry_run: bool, db: Path, rules_dir: Path, run_name: str | None) -> None:
    """Write into the rules the ignores, tolerances, unordered arrays and array keys that the
    noise evidence (replay --noise) supports; comments and order are kept."""
    from shadowdiff.tuning import suggest_rules

    advice = suggest_rules(open_store(db, create=False), run_name, rules_dir, write=not dry_run)
    click.echo(format_advice(advice, dry_run))


@cli.command()
@click.option(
    "--db", type=click.Path(path_type=Path), default=Path("shadowdiff.db"), show_default=True
)
def demo(db: Path) -> None:
    """The whole flow on the bundled sample services and sample traffic."""
    from shadowdiff.demo import run_demo

    run_demo(db)


cli.add_command(publish)
cli.add_command(segment)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(format="shadowdiff: %(message)s", stream=sys.stderr)
    try:
        code = cli.main(args=argv, prog_name="shadowdiff", standalone_mode=False)
    except click.UsageError as exc:
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        click.echo(f"shadowdiff: error: {exc.format_message()}{where}", err=True)
        code = 2
    except RulesError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        code = exc.exit_code
    except ShadowdiffError as exc:
        click.echo(f"shadowdiff: error: {exc}", err=True)
        code = exc.exit_code
    except sqlite3.Error as exc:
        click.echo(
            f"shadowdiff: error: the store: {exc} (is another process holding it?)", err=True
        )
        code = 3
    except (KeyboardInterrupt, click.Abort):
        click.echo("shadowdiff: interrupted", err=True)
        code = INTERRUPTED
    except click.ClickException as exc:
        click.echo(f"shadowdiff: error: {exc.format_message()}", err=True)
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["InputError", "cli", "main"]
