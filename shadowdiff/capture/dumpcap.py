"""The dumpcap shell: live capture for the hot path.

dumpcap (Wireshark's capture engine, installed with tshark) captures with a large kernel
buffer and writes pcapng to a pipe; `capture.packets` decodes it. tshark's per-packet
dissection and its ever-growing per-frame state are not in the way, nothing is written to
disk, and dumpcap's interface statistics (packets dropped by the kernel) arrive at the end
of the same stream. research/capture-bench.md measured this path at ~5,500 exchanges/s with
no loss where pyshark tops out at ~800.

A stop loses nothing captured before it: the kernel hands packets to dumpcap in blocks,
retired at the latest every quarter second, and dumpcap ends without reading the blocks
still pending. So at a stop, the capture goes on until a packet stamped after the stop has
come through (everything before it has then come too) or nothing has come for SETTLE
seconds; only then is dumpcap asked to end, and its pipe read to the end. A capture that
runs behind therefore drains its backlog first.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Generator

from shadowdiff.capture.packets import Decoder, PcapngError, PcapngStream
from shadowdiff.capture.tcp import Segment
from shadowdiff.children import die_with_parent
from shadowdiff.errors import EnvironmentProblem, InputError

log = logging.getLogger(__name__)
READ_SIZE = 1 << 18
SETTLE, POLL = 1.0, 0.1
PIPE_SIZE = 1 << 20  # what the kernel allows an unprivileged pipe; dumpcap's -B does the rest
_F_SETPIPE_SZ = 1031
NO_PERMISSION = (
    "run as root, or give dumpcap the capabilities: "
    "setcap cap_net_raw,cap_net_admin=eip $(command -v dumpcap)"
)


def require_dumpcap() -> str:
    path = shutil.which("dumpcap")
    if path is None:
        raise EnvironmentProblem(
            "dumpcap not found: install tshark, which brings it (Debian/Ubuntu: "
            "apt-get install tshark)"
        )
    return path


class DumpcapSource:
    """`segments()` runs dumpcap and yields what it captures; `stop()` (from a signal
    handler too) asks it to end, after which `segments()` ends once every packet captured
    before is delivered. `dropped` is dumpcap's count of packets it could not capture."""

    def __init__(
        self,
        interfaces: list[str],
        bpf_filter: str,
        on_ready: Callable[[], None],
        buffer_mb: int = 64,
    ) -> None:
        self.interfaces, self.bpf_filter, self.buffer_mb = interfaces, bpf_filter, buffer_mb
        self._on_ready = on_ready
        self._process: subprocess.Popen[bytes] | None = None
        self._errors: list[str] = []
        self._stop_at_ns: int | None = None  # wall clock, as packets are stamped
        self._last_data = 0.0
        self._ended = False
        self._last_ns = 0
        self.stream = PcapngStream()
        self.decoder = Decoder(self.stream)
        self.delivered = 0

    @property
    def dropped(self) -> int:
        return self.stream.dropped

    def command(self, dumpcap: str) -> list[str]:
        command = [dumpcap, "-q", "-n", "-B", str(self.buffer_mb), "-f", self.bpf_filter]
        for interface in self.interfaces:
            command += ["-i", interface]
        return [*command, "-w", "-"]

    def stop(self) -> None:
        """Stop once everything captured so far is delivered (safe in a signal handler)."""
        if self._stop_at_ns is None:
            self._stop_at_ns = time.time_ns()
            self._last_data = time.monotonic()  # quiet is counted from the stop on

    def _end_when_delivered(self) -> None:
        if self._stop_at_ns is None or self._ended:
            return
        if self._last_ns >= self._stop_at_ns or time.monotonic() - self._last_data >= SETTLE:
            self._signal_end()

    def _signal_end(self) -> None:
        self._ended = True
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGTERM)

    def segments(self) -> Generator[Segment, None, None]:
        process = self._start(require_dumpcap())
        assert process.stdout is not None
        stderr = threading.Thread(target=self._follow_stderr, args=(process,), daemon=True)
        stderr.start()
        try:
            yield from self._read(process.stdout.fileno())
        finally:
            self._end(process)
            stderr.join(timeout=5)
        if process.returncode not in (0, -signal.SIGTERM):
            if not self.stream.interfaces:
                raise self._failure()
            log.warning("dumpcap ended with %s: %s", process.returncode, self._failure())

    def _start(self, dumpcap: str) -> subprocess.Popen[bytes]:
        process = self._process = subprocess.Popen(
            self.command(dumpcap),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a terminal's Ctrl-C reaches us; we stop dumpcap
            preexec_fn=die_with_parent,
        )
        assert process.stdout is not None
        with contextlib.suppress(OSError):
            fcntl.fcntl(process.stdout.fileno(), _F_SETPIPE_SZ, PIPE_SIZE)
        return process

    def _read(self, fd: int) -> Generator[Segment, None, None]:
        ready = False
        while True:
            self._end_when_delivered()
            if not select.select([fd], [], [], POLL)[0]:
                continue
            if not (data := os.read(fd, READ_SIZE)):
                return
            self._last_data = time.monotonic()
            try:
                packets = self.stream.feed(data)
            except PcapngError as exc:
                raise EnvironmentProblem(f"dumpcap's output cannot be read: {exc}") from None
            if not ready and self.stream.interfaces:
                ready = True  # dumpcap writes its header once the capture is open
                self._on_ready()
            for packet in packets:
                self.delivered += 1
                self._last_ns = packet.time_ns
                if (segment := self.decoder.segment(packet)) is not None:
                    yield segment

    def _end(self, process: subprocess.Popen[bytes]) -> None:
        """dumpcap ends: already, or asked (SIGTERM), or killed if it does not in 10 s."""
        if process.poll() is None:
            self._signal_end()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def _follow_stderr(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode(errors="replace").strip()
            if line and not line.startswith(("Capturing on", "File:", "Packets")):
                self._errors.append(line)
        process.stderr.close()

    def _failure(self) -> Exception:
        """dumpcap's complaint, as one line saying what to do."""
        lines = [line for line in self._errors if "cap_set_proc" not in line]
        text = " ".join(lines[:2]).removeprefix("dumpcap: ") or "dumpcap failed"
        lowered = text.lower()
        if "permission" in lowered:
            return EnvironmentProblem(f"no permission to capture: {text} ({NO_PERMISSION})")
        if "capture filter" in lowered:
            return InputError(f"--bpf/--port: {text}")
        if "no device" in lowered or "no such device" in lowered:
            return EnvironmentProblem(
                f"--interface {', '.join(self.interfaces)}: no such interface ({text}); "
                f"available: {', '.join(_interfaces())}"
            )
        return EnvironmentProblem(f"capture failed: {text}")


def _interfaces() -> list[str]:
    """The interfaces dumpcap can capture on (`dumpcap -D`: "1. eth0", "3. lo (Loopback)")."""
    try:
        listed = subprocess.run(
            [require_dumpcap(), "-D"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.split(". ", 1)[1].split(" ")[0] for line in listed.splitlines() if ". " in line]
