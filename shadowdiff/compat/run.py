"""`shadowdiff gor [GoReplay flags]`: a GoReplay command line, run on shadowdiff's engine.

An input (`--input-raw` live capture, `--input-file` recordings, `--input-tcp` from capture
hosts) goes through the middleware and the `--http-*` filters to the outputs: every
`--output-http` target is replayed, compared and stored (one run per target, as `replay`
does), and `--output-file` / `--output-stdout` / `--output-tcp` get the .gor records GoReplay
would write. Where GoReplay's defaults differ from shadowdiff's own commands, the GoReplay
ones apply here: a file replays at its recorded pace (`|100%`), a target times out after
5 s, and without `--input-raw-track-response` no recorded response is written to a record
output (shadowdiff still captures responses: it compares against them).
"""

from __future__ import annotations

import glob
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from shadowdiff.compat.flags import GorCommand, GorFlagError
from shadowdiff.errors import InputError
from shadowdiff.replay.listen import run_listen
from shadowdiff.replay.plan import Target, exact_target
from shadowdiff.replay.runner import ReplaySettings
from shadowdiff.replay.session import SessionOutcome, run_replay
from shadowdiff.replay.tee import TeeSettings, run_tee
from shadowdiff.rules import RuleSet
from shadowdiff.traffic.gortcp import GorTcpSender, parse_address
from shadowdiff.traffic.outputs import (
    FileSink,
    NullSink,
    RecordOutput,
    RecordSink,
    StdoutSink,
    TcpSink,
)
from shadowdiff.traffic.rates import OutputLimit, Rate, parse_duration, speed_of, split_rate
from shadowdiff.traffic.rotation import RotatingGorWriter, parse_size
from shadowdiff.traffic.shaping import Shaping, parse_shaping
from shadowdiff.traffic.stages import TrafficOptions

GOR_TIMEOUT = 5.0  # GoReplay's --output-http-timeout default
GOR_WORKERS = 16  # GoReplay scales workers without bound; shadowdiff bounds them


@dataclass(frozen=True, slots=True)
class GorPlan:
    """What a GoReplay command line asks for, in shadowdiff's terms."""

    settings: ReplaySettings | None  # None: no --output-http
    traffic: TrafficOptions
    records: tuple[RecordOutput, ...]
    files: tuple[Path, ...] = ()
    capture: tuple[tuple[str, int], ...] = ()  # (host or interface, port) to capture
    listen: tuple[str, int] | None = None
    capture_bpf: str | None = None  # --input-raw-bpf-filter (ANDed with the ports)
    capture_buffer_mb: int = 64  # --input-raw-buffer-size

    @property
    def writes_stdout(self) -> bool:
        """Standard output carries records (`--output-stdout`): everything else goes to stderr."""
        return any(isinstance(output.sink, StdoutSink) for output in self.records)


def plan_gor(command: GorCommand) -> GorPlan:
    """Translate a parsed GoReplay command line (raises InputError with one line)."""
    _one_input(command)
    files, speed = _files(command)
    settings, targets = _targets(command)
    shaping = _shaping(command)
    exit_after, max_wait = command.exit_after, command.input_file_max_wait
    traffic = TrafficOptions(
        targets=targets,
        split_output=command.split_output,
        shaping=shaping,
        middleware=command.middleware,
        middleware_responses=not command.input_raw or command.input_raw_track_response,
        target_flag="--output-http",
        track_response=command.output_http_track_response,
        prettify=command.prettify_http,
        speed=speed,
        max_wait=parse_duration(max_wait, "--input-file-max-wait") if max_wait else None,
        loop=command.input_file_loop,
        exit_after=parse_duration(exit_after, "--exit-after") if exit_after else None,
    )
    if settings is not None and shaping.sets_host:
        settings = ReplaySettings(
            settings.target, None, settings.concurrency, settings.timeout, keep_host=True
        )
    return GorPlan(
        settings,
        traffic,
        tuple(_records(command)),
        files,
        tuple(pair for address in command.input_raw for pair in _capture(address)),
        parse_address(command.input_tcp[0], "--input-tcp") if command.input_tcp else None,
        command.input_raw_bpf_filter,
        _buffer_mb(command.input_raw_buffer_size),
    )


def _buffer_mb(size: str | None) -> int:
    if size is None:
        return 64
    return max(1, parse_size(size, "--input-raw-buffer-size") >> 20)


def _one_input(command: GorCommand) -> None:
    kinds = [bool(command.input_raw), bool(command.input_file), bool(command.input_tcp)]
    if sum(kinds) > 1:
        raise GorFlagError(
            "--input-raw, --input-file, --input-tcp: shadowdiff gor takes one kind of input "
            "at a time (run one shadowdiff gor per input, into the same --db)"
        )
    if len(command.input_tcp) > 1:
        raise GorFlagError("--input-tcp: one listening address at a time")


def _files(command: GorCommand) -> tuple[tuple[Path, ...], float | None]:
    paths, speeds = [], set()
    for value in command.input_file:
        name, rate = split_rate(value, "--input-file")
        paths += _expanded(name)
        speeds.add(speed_of(rate, f"--input-file {value}"))
    if len(speeds) > 1:
        raise GorFlagError("--input-file: give every file the same |N% speed")
    return tuple(paths), (speeds.pop() if speeds else None)


Targets = tuple[tuple[Target, Rate | None], ...]


def _expanded(name: str) -> list[Path]:
    """A file, or a glob (`logs-*`) as GoReplay takes them: its matches, in name order."""
    if not glob.has_magic(name):
        return [Path(name)]
    matches = sorted(glob.glob(name))
    if not matches:
        raise GorFlagError(f"--input-file {name!r}: no file matches")
    return [Path(match) for match in matches]


def _targets(command: GorCommand) -> tuple[ReplaySettings | None, Targets]:
    targets = []
    for value in command.output_http:
        url, rate = split_rate(value, "--output-http")
        url = url if "://" in url else f"http://{url}"  # GoReplay's default scheme
        targets.append((exact_target(url, "--output-http"), rate))
    if not targets:
        return None, ()
    timeout = command.output_http_timeout
    settings = ReplaySettings(
        targets[0][0],
        concurrency=command.output_http_workers or GOR_WORKERS,
        timeout=parse_duration(timeout, "--output-http-timeout") if timeout else GOR_TIMEOUT,
        keep_host=command.http_original_host,
    )
    return settings, tuple(targets)


def _shaping(command: GorCommand) -> Shaping:
    http = command.http

    def one(flag: str) -> str | None:  # the parser refuses a second limiter
        values = http.get(flag, ())
        return values[-1] if values else None

    return parse_shaping(
        allow_url=http.get("--http-allow-url", ()),
        disallow_url=http.get("--http-disallow-url", ()),
        allow_method=http.get("--http-allow-method", ()),
        allow_header=http.get("--http-allow-header", ()),
        disallow_header=http.get("--http-disallow-header", ()),
        basic_auth_filter=http.get("--http-basic-auth-filter", ()),
        rewrite_url=http.get("--http-rewrite-url", ()),
        rewrite_header=http.get("--http-rewrite-header", ()),
        set_header=http.get("--http-set-header", ()),
        set_param=http.get("--http-set-param", ()),
        header_limiter=one("--http-header-limiter"),
        param_limiter=one("--http-param-limiter"),
    )


def _records(command: GorCommand) -> list[RecordOutput]:
    originals = command.input_raw_track_response or bool(command.input_file or command.input_tcp)
    outputs: list[tuple[str, RecordSink, str]] = []
    if command.output_stdout:
        outputs.append(("--output-stdout", StdoutSink(), ""))
    if command.output_null:
        outputs.append(("--output-null", NullSink(), ""))
    for value in command.output_file:
        template, rate_text = _rate_part(value)
        outputs.append(
            (f"--output-file {value}", FileSink(_file_writer(command, template)), rate_text)
        )
    for value in command.output_tcp:
        address, rate_text = _rate_part(value)
        host, port = parse_address(address.removeprefix("http://"), "--output-tcp")
        outputs.append(
            (f"--output-tcp {value}", TcpSink(GorTcpSender(host or "127.0.0.1", port)), rate_text)
        )
    for value in command.output_redis:
        address, rate_text = _rate_part(value)
        outputs.append((f"--output-redis {value}", _redis_sink(address), rate_text))
    records = []
    for name, sink, rate_text in outputs:
        _, rate = split_rate(f"x{rate_text}", name.split(" ")[0])
        records.append(
            RecordOutput(
                name, sink, OutputLimit(rate), originals, command.output_http_track_response
            )
        )
    return records


def _redis_sink(address: str) -> RecordSink:
    """`--output-redis redis://HOST:PORT/DB?stream=NAME`: the traffic bus (shadowdiff/bus/)."""
    from shadowdiff.bus.publish import BusWriter
    from shadowdiff.bus.url import parse_bus_url
    from shadowdiff.traffic.outputs import RedisSink

    return RedisSink(BusWriter(parse_bus_url(address, "--output-redis")))


def _rate_part(value: str) -> tuple[str, str]:
    address, bar, rate = value.rpartition("|")
    return (address, bar + rate) if bar else (value, "")


def _file_writer(command: GorCommand, template: str) -> RotatingGorWriter:
    size = command.output_file_size_limit
    total = command.output_file_max_size_limit
    queue = command.output_file_queue_limit
    flush = command.output_file_flush_interval
    return RotatingGorWriter(
        template,
        size_limit=parse_size(size, "--output-file-size-limit") if size else 32 << 20,
        queue_limit=256 if queue is None else queue,
        append=command.output_file_append,
        max_size=parse_size(total, "--output-file-max-size-limit") if total else None,
        flush_interval=parse_duration(flush, "--output-file-flush-interval") if flush else 1.0,
    )


def _capture(address: str) -> list[tuple[str, int]]:
    """`:8000` -> [("", 8000)]; `:80,8080` -> both ports; `eth0:80`, `10.0.0.1:80`."""
    host, _, ports = address.rpartition(":")
    numbers = ports.split(",")
    if not all(number.isdigit() and 0 < int(number) < 65536 for number in numbers):
        raise GorFlagError(f"--input-raw {address!r}: expected [HOST]:PORT[,PORT...], e.g. :8080")
    return [(host.strip("[]"), int(number)) for number in numbers]


def capture_interfaces(hosts: list[str]) -> tuple[list[str], str | None]:
    """The interfaces to capture on and a BPF host filter for GoReplay's `HOST:PORT`: an
    empty host (or 0.0.0.0) is every interface; an IP address is every interface, only
    traffic to that address; anything else names an interface."""
    interfaces, addresses = set(), set()
    for host in hosts:
        try:
            ip = ipaddress.ip_address(host) if host else None
        except ValueError:
            interfaces.add(host)
            continue
        interfaces.add("any")
        if ip is not None and not ip.is_unspecified:
            addresses.add(str(ip))
    if "any" in interfaces and len(interfaces) > 1:
        raise InputError("--input-raw: mix of interfaces and addresses; give one kind")
    bpf = " or ".join(f"host {address}" for address in sorted(addresses)) or None
    return sorted(interfaces), bpf


def run_gor(
    plan: GorPlan, rules: RuleSet, db_path: Path, run_name: str | None, show_progress: bool
) -> SessionOutcome:
    """Run the plan: its input, through the stages, to its targets and record outputs."""
    if plan.files:
        return run_replay(
            list(plan.files), plan.settings, rules, db_path, run_name, show_progress,
            plan.traffic, plan.records,
        )  # fmt: skip
    if plan.listen is not None:
        return run_listen(
            plan.listen, plan.settings, rules, db_path, run_name, show_progress,
            plan.traffic, plan.records,
        )  # fmt: skip
    interfaces, hosts = capture_interfaces([host for host, _ in plan.capture])
    bpf = " and ".join(f"({part})" for part in (hosts, plan.capture_bpf) if part) or None
    ports = sorted({port for _, port in plan.capture})
    tee = TeeSettings(interfaces, ports, bpf, buffer_mb=plan.capture_buffer_mb)
    return run_tee(
        tee, plan.settings, rules, db_path, run_name, show_progress, plan.traffic, plan.records
    )
