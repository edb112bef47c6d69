"""`shadowdiff tee`: live capture, each exchange replayed to the target as soon as it is
captured, compared against the captured origin response, stored as a run.

The capture runs as a child process (`shadowdiff record -o -`, .gor framing on its stdout,
like GoReplay's `--output-stdout`), which keeps pyshark's own event loop apart from the
replay's and lets a stop drain the capture first. Between the two, a bounded queue: when the
target is slower than production, exchanges are shed and counted, memory does not grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shadowdiff.children import die_with_parent
from shadowdiff.errors import EnvironmentProblem, InputError
from shadowdiff.exchange import Exchange, Request, Response
from shadowdiff.gorfile import REQUEST, RESPONSE, GorRecord, RecordSplitter, parse_record
from shadowdiff.http1 import HttpParseError
from shadowdiff.replay.plan import Target
from shadowdiff.replay.progress import ReplayProgress
from shadowdiff.replay.runner import ReplaySettings
from shadowdiff.replay.session import (
    PLAIN,
    SessionOutcome,
    check_targets,
    handle_signals,
    open_target_runs,
    outcome_of,
    remove_signals,
)
from shadowdiff.replay.targets import (
    TargetRun,
    finish_runs,
    replay_through,
    target_settings,
)
from shadowdiff.rules import RuleSet
from shadowdiff.traffic.outputs import RecordOutput
from shadowdiff.traffic.pairing import TrafficStats
from shadowdiff.traffic.stages import TrafficOptions

READ_SIZE = 1 << 16


@dataclass(frozen=True, slots=True)
class TeeSettings:
    interfaces: list[str]
    ports: list[int]
    bpf: str | None = None
    queue_size: int = 1000
    duration: float | None = None
    engine: str = "dumpcap"
    buffer_mb: int = 64


@dataclass(slots=True)
class TeeCounts:
    captured: int = 0
    shed: int = 0  # the target was slower than the traffic: not replayed, counted
    unreadable: int = 0
    unanswered: int = 0  # requests whose response never came through the pipe
    capture: dict[str, int] = field(default_factory=dict)  # the capture's own loss counts

    @property
    def lost(self) -> int:
        own = self.shed + self.unreadable + self.unanswered
        return own + int(self.capture.get("lost", 0))

    def as_json(self) -> dict[str, Any]:
        return {
            "captured": self.captured,
            "shed": self.shed,
            "unreadable": self.unreadable,
            "unanswered": self.unanswered,
            "capture": self.capture,
            "lost": self.lost,
        }


def capture_command(tee: TeeSettings, stats: Path) -> list[str]:
    command = [sys.executable, "-m", "shadowdiff", "record", "-o", "-", "--stats", str(stats)]
    for interface in tee.interfaces:
        command += ["-i", interface]
    for port in tee.ports:
        command += ["-p", str(port)]
    command += ["--bpf", tee.bpf] if tee.bpf else []
    command += ["--engine", tee.engine, "--buffer", str(tee.buffer_mb)]
    return command + (["--duration", str(tee.duration)] if tee.duration else [])


def run_tee(
    tee: TeeSettings,
    settings: ReplaySettings | None,
    rules: RuleSet,
    db_path: Path,
    run_name: str | None = None,
    show_progress: bool = True,
    traffic: TrafficOptions = PLAIN,
    records: Sequence[RecordOutput] = (),
) -> SessionOutcome:
    """Capture and replay live (no settings: no target, the captured traffic only goes to
    the `records` outputs)."""
    targets = target_settings(settings, traffic)
    for each, _ in targets:
        for target in (each.target, each.baseline):
            if target is not None:
                refuse_feedback(target, tee.ports)
        check_targets(each)
    sources = [_source(tee)]
    runs = open_target_runs(
        db_path, run_name, rules, traffic, targets, "tee", sources, queue=tee.queue_size
    )
    counts, filtered, report = TeeCounts(), Counter[str](), dict[str, object]()
    with ReplayProgress(show_progress) as progress:
        progress.extra = lambda: f"captured {counts.captured}, shed {counts.shed}"
        try:
            status = asyncio.run(
                _tee(tee, runs, rules, traffic, counts, filtered, progress, report, records)
            )
        except BaseException:
            finish_runs(runs, "failed", counts.as_json() | report, filtered)
            raise
        finish_runs(runs, status, counts.as_json() | report, filtered)
    stats = TrafficStats(requests=counts.captured, responses=counts.captured)
    return outcome_of(runs, status, stats, counts.unreadable, filtered)


async def _tee(
    tee: TeeSettings,
    runs: list[TargetRun],
    rules: RuleSet,
    traffic: TrafficOptions,
    counts: TeeCounts,
    filtered: Counter[str],
    progress: ReplayProgress,
    report: dict[str, object],
    records: Sequence[RecordOutput],
) -> str:
    with tempfile.TemporaryDirectory(prefix="shadowdiff-tee-") as scratch:
        stats_path = Path(scratch) / "capture.json"
        child = await asyncio.create_subprocess_exec(
            *capture_command(tee, stats_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches tee only; tee relays it once
            preexec_fn=die_with_parent,
        )
        stop, errors = asyncio.Event(), _ChildErrors()
        stderr_task = asyncio.create_task(errors.follow(child))
        handled = _on_signals(child, stop)
        timer = _exit_after(traffic.exit_after, child)

        def shed(full: int) -> None:
            counts.shed += full

        try:
            source = _captured(child, counts)
            await replay_through(
                source,
                runs,
                rules,
                traffic,
                filtered,
                asyncio.Event(),
                progress,
                report,
                shed,
                tee.queue_size,
                records,
            )
            code = await child.wait()
        except asyncio.CancelledError:
            code = -1
        finally:
            remove_signals(handled)
            if timer is not None:
                timer.cancel()
            await _end(child)
            await stderr_task
            if stats_path.exists():
                counts.capture = json.loads(stats_path.read_text(encoding="utf-8"))
        if code > 0 and not errors.ready:
            raise EnvironmentProblem(errors.last or f"capture exited with {code}")
    return "finished" if code == 0 else "interrupted"  # a Ctrl-C that drained is a clean end


def _exit_after(
    seconds: float | None, child: asyncio.subprocess.Process
) -> asyncio.TimerHandle | None:
    """`--exit-after`: the capture is asked to end (it drains first), as by a Ctrl-C."""
    if seconds is None:
        return None

    def end() -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGINT)

    return asyncio.get_running_loop().call_later(seconds, end)


async def _end(child: asyncio.subprocess.Process) -> None:
    """Make sure the capture child has ended: asked to stop at once (which still removes
    tshark's file and writes its counts), killed only if it does not within 15 s."""
    if child.returncode is not None:
        return
    for sig in (signal.SIGINT, signal.SIGINT):  # the second stops without draining
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(sig)
        await asyncio.sleep(0.1)
    try:
        await asyncio.wait_for(child.wait(), 15)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        await child.wait()


class _ChildErrors:
    """Follows the capture child's stderr: relays its announcements, keeps its last error."""

    def __init__(self) -> None:
        self.ready, self.last = False, ""

    async def follow(self, child: asyncio.subprocess.Process) -> None:
        assert child.stderr is not None
        while raw := await child.stderr.readline():
            line = raw.decode(errors="replace").strip()
            if not line:
                continue
            if "capturing on" in line:
                self.ready = True
                print(line, file=sys.stderr, flush=True)
            elif line.startswith("capture:"):
                print(line, file=sys.stderr, flush=True)
            else:
                self.last = line.removeprefix("shadowdiff: error: ")


async def _captured(
    child: asyncio.subprocess.Process, counts: TeeCounts
) -> AsyncIterator[Exchange]:
    """The capture child's records, paired into exchanges as they come."""
    assert child.stdout is not None
    splitter, requests = RecordSplitter(), dict[str, GorRecord]()
    while block := await child.stdout.read(READ_SIZE):
        for _, chunk in splitter.feed(block):
            exchange = _exchange(chunk, requests, counts)
            if exchange is not None:
                counts.captured += 1
                yield exchange
    counts.unreadable += bool(splitter.rest()[1].strip())  # a record cut off at the end
    counts.unanswered += len(requests)


def _exchange(chunk: bytes, requests: dict[str, GorRecord], counts: TeeCounts) -> Exchange | None:
    try:
        record = parse_record(chunk)
        if record.type == REQUEST:
            counts.unanswered += record.id in requests  # ids repeat: the earlier one is lost
            requests[record.id] = record
            return None
        request = requests.pop(record.id, None) if record.type == RESPONSE else None
        if request is None:
            return None
        return Exchange(
            record.id,
            Request.parse(request.payload),
            Response.parse(record.payload),
            request.timestamp,
            max(0, record.timestamp - request.timestamp),
        )
    except (ValueError, HttpParseError):
        counts.unreadable += 1
        return None


def _on_signals(child: asyncio.subprocess.Process, stop: asyncio.Event) -> list[signal.Signals]:
    """First Ctrl-C/SIGTERM: the capture drains and ends, then the replay finishes what was
    captured. A second one abandons everything in flight."""
    task = asyncio.current_task()

    def on_signal() -> None:
        if stop.is_set() and task is not None:
            task.cancel()
        stop.set()
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGINT)

    return handle_signals(on_signal)


def refuse_feedback(target: Target, ports: list[int]) -> None:
    """A target on a captured port of this machine would have tee capture its own replays,
    and replay them again, without end."""
    if target.port in ports and _is_local(target.host):
        raise InputError(
            f"--target {target.url}: port {target.port} of this machine is captured, so tee "
            "would capture its own replays; replay to another port or host"
        )


def _is_local(host: str) -> bool:
    """Whether `host` names an address of this machine (one that can be bound here)."""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((address, 0))
            except OSError:
                continue
            return True
    return False


def _source(tee: TeeSettings) -> str:
    return f"live: {','.join(tee.interfaces)} ports {','.join(map(str, tee.ports))}"
