"""The tshark shell: the only module that imports pyshark.

tshark does the packet work (link layers, IP, TCP stream indexing); it is told not to
reassemble or dissect HTTP (`tcp.desegment_tcp_streams:FALSE`, `--disable-protocol http`),
so each packet comes out once, cheaply, as a `Segment`: stream index, addresses, raw
sequence number, flags, payload bytes. Putting bytes in order and cutting HTTP messages is
`capture.tcp` and `capture.framing`, pure code tested without tshark.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pyshark
from pyshark.tshark.tshark import get_all_tshark_interfaces_names

from shadowdiff.capture.pcapng import PacketCounter
from shadowdiff.capture.tcp import Segment
from shadowdiff.errors import EnvironmentProblem, InputError

log = logging.getLogger(__name__)
TSHARK_PARAMETERS = [
    "-o",
    "tcp.desegment_tcp_streams:FALSE",
    "-o",
    "tcp.analyze_sequence_numbers:FALSE",
    "--disable-protocol",
    "http",
    "-J",
    "frame ip ipv6 tcp",
]


def require_tshark() -> str:
    """tshark's path, or an environment problem saying what to install."""
    path = shutil.which("tshark")
    if path is None:
        raise EnvironmentProblem(
            "tshark not found: install it (Debian/Ubuntu: apt-get install tshark)"
        )
    return path


def file_segments(path: Path, display_filter: str = "tcp") -> Iterator[Segment]:
    """The TCP segments of a pcap/pcapng file, in capture order."""
    tshark = require_tshark()
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    packets = 0
    capture = pyshark.FileCapture(
        str(path),
        keep_packets=False,
        use_ek=True,
        display_filter=display_filter,
        custom_parameters=TSHARK_PARAMETERS,
    )
    try:
        for packet in capture:
            packets += 1
            if (segment := to_segment(packet)) is not None:
                yield segment
    except pyshark.capture.capture.TSharkCrashException as exc:
        raise InputError(f"{path}: tshark cannot read it: {_tshark_error(exc)}") from None
    finally:
        _close(capture)
    if not packets:
        _check_readable(tshark, path)


def _check_readable(tshark: str, path: Path) -> None:
    """A file that gave no packet: empty, or unreadable? (pyshark reports a tshark failure
    only when tshark has exited before it looks, so ask tshark directly.)"""
    done = subprocess.run(
        [tshark, "-r", str(path), "-c", "1", "-q"], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"tshark exited with {done.returncode}"
        raise InputError(f"{path}: tshark cannot read it: {reason}")


def to_segment(packet: Any) -> Segment | None:
    """A pyshark EK packet -> Segment (None for a packet without TCP over IP)."""
    tcp = getattr(packet, "tcp", None)
    network = getattr(packet, "ip", None) or getattr(packet, "ipv6", None)
    if tcp is None or network is None:
        return None
    flags = tcp.flags
    payload = getattr(tcp, "payload", None)
    return Segment(
        stream=int(tcp.stream),
        time_ns=epoch_ns(str(packet.sniff_timestamp)),
        src=_text(network.src),
        sport=int(tcp.srcport),
        dst=_text(network.dst),
        dport=int(tcp.dstport),
        seq=int(tcp.seq_raw),
        payload=payload if isinstance(payload, bytes) else b"",
        syn=bool(flags.syn),
        fin=bool(flags.fin),
        rst=bool(flags.reset),
        ack=bool(flags.ack),
    )


def epoch_ns(text: str) -> int:
    """`1396230606.899440000` -> nanoseconds, without float rounding."""
    seconds, _, fraction = text.partition(".")
    return int(seconds) * 1_000_000_000 + int((fraction + "000000000")[:9])


def _text(value: Any) -> str:
    return str(getattr(value, "value", value))


def _close(capture: Any) -> None:
    """Close a pyshark capture whose tshark may have failed (the failure was reported)."""
    try:
        capture.close()
    except pyshark.capture.capture.TSharkCrashException:
        capture._running_processes.clear()  # or pyshark's __del__ raises it again


def _tshark_error(exc: BaseException) -> str:
    """tshark's own last error line, from pyshark's crash report."""
    for line in str(exc).splitlines():
        if line.startswith("Last error line:") and line.removeprefix("Last error line:").strip():
            return line.removeprefix("Last error line:").strip()
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


_TEMP_FILE = re.compile(r'File: "(?P<path>[^"]+\.pcapng?)"')


class _ReadyWatch(logging.Handler):
    """Follows the capture chain through its stderr (pyshark logs its children's): dumpcap
    says "Capturing on 'Loopback: lo'", then tshark, reading dumpcap's pipe, "Capture
    started" and the temporary file its own dumpcap writes. Only once tshark has started
    does every packet on the wire reach Python; the temporary file is removed at the end
    (pyshark kills tshark, which would otherwise leave it behind)."""

    def __init__(self, on_ready: Callable[[], None]) -> None:
        super().__init__(logging.DEBUG)
        self._on_ready, self.last_error, self.ready = on_ready, "", False
        self.temp_files: list[Path] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if found := _TEMP_FILE.search(message):
            self.temp_files.append(Path(found.group("path")))
        if "Capture started" in message and not self.ready:
            self.ready = True
            self._on_ready()
        elif "permission" in message.lower() or "error" in message.lower():
            self.last_error = message


def check_interfaces(interfaces: list[str], tshark_path: str) -> None:
    """Each interface exists and can be listed (`tshark -D`), or one line says what is wrong."""
    try:
        known = {name.lower() for name in get_all_tshark_interfaces_names(tshark_path)}
    except subprocess.CalledProcessError as exc:
        raise EnvironmentProblem(
            f"tshark cannot list the interfaces (exit {exc.returncode}): no permission to "
            "capture? run as root, or give dumpcap CAP_NET_RAW and CAP_NET_ADMIN"
        ) from None
    missing = [name for name in interfaces if name.lower() not in known and not name.isdigit()]
    if missing:
        raise EnvironmentProblem(
            f"--interface {', '.join(missing)}: no such interface, or no permission to capture "
            "on it (run as root, or give dumpcap CAP_NET_RAW and CAP_NET_ADMIN); "
            f"available: {', '.join(sorted(known)[:12])}"
        )


class LiveSource:
    """A live capture: `segments()` yields what tshark delivers (`delivered` counts them);
    `captured()` counts the packets in tshark's temporary capture file, so that a stop can
    wait for exactly the packets captured before it."""

    def __init__(self, interfaces: list[str], bpf_filter: str, on_ready: Callable[[], None]):
        self.interfaces, self.bpf_filter = interfaces, bpf_filter
        self.delivered = 0
        self._watch = _ReadyWatch(on_ready)
        self._counters: dict[Path, PacketCounter] = {}

    def captured(self) -> int | None:
        """Packets captured so far (in tshark's capture file); None while unknown."""
        if not self._watch.temp_files:
            return None
        for path in self._watch.temp_files:
            self._counters.setdefault(path, PacketCounter(path))
        return sum(counter.count() for counter in self._counters.values())

    def segments(self) -> Generator[Segment, None, None]:
        check_interfaces(self.interfaces, require_tshark())
        capture = pyshark.LiveCapture(
            interface=self.interfaces,
            bpf_filter=self.bpf_filter,
            use_ek=True,
            custom_parameters=TSHARK_PARAMETERS,
        )
        capture._log.addHandler(self._watch)  # pyshark logs dumpcap's stderr on its own logger
        capture._log.setLevel(logging.DEBUG)
        try:
            for packet in capture.sniff_continuously():
                self.delivered += 1
                if (segment := to_segment(packet)) is not None:
                    yield segment
        except pyshark.capture.capture.TSharkCrashException as exc:
            detail = self._watch.last_error or _tshark_error(exc)
            raise EnvironmentProblem(f"capture failed: {detail}") from None
        finally:
            _close(capture)
            for temp in self._watch.temp_files:
                temp.unlink(missing_ok=True)
