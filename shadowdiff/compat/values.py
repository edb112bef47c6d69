"""Flags whose support depends on their value: `--input-raw k8s://...`, `--input-file s3://...`,
`--input-raw-engine vxlan`, `--output-http-redirects 3` and the like. Each check returns the
one-line reason the value is refused, or None."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from shadowdiff.compat.flagtable import VXLAN

ENGINES: Final = ("libpcap", "raw_socket", "af_packet", "pcap_file", "vxlan")
_PCAP = "convert it with `shadowdiff import FILE.pcap -o FILE.gor`, then give --input-file FILE.gor"
_K8S = "capture on the pod's node or in a sidecar with --input-raw :PORT"
_S3_IN = "copy the files locally (`aws s3 cp --recursive s3://BUCKET/PREFIX .`) and give a glob"
_S3_OUT = "writing to S3 is GoReplay PRO only; write local files and upload them"
_REDIRECTS = "shadowdiff never follows redirects: a replay compares the redirect itself"
_BINARY = "shadowdiff compares HTTP/1.x exchanges only"
ADDRESS_FLAGS: Final = frozenset(
    {"--input-raw", "--input-file", "--input-tcp", "--output-http", "--output-file", "--output-tcp"}
)


def value_problem(name: str, value: str) -> str | None:
    """Why shadowdiff refuses this value of this flag, as one line naming both; or None."""
    if name in ADDRESS_FLAGS and not value.strip():
        return f"empty address for {name}"
    check = _CHECKS.get(name)
    return check(value) if check else None


def _refused(name: str, value: str, reason: str) -> str:
    return f"{name} {value!r} is not supported: {reason}"


def _without_rate(address: str) -> str:
    return address.rsplit("|", 1)[0]


def _input_raw(address: str) -> str | None:
    if address.startswith("k8s://"):
        return _refused("--input-raw", address, _K8S)
    if _without_rate(address).lower().endswith((".pcap", ".pcapng")):
        return _refused("--input-raw", address, _PCAP)
    return None


def _engine(engine: str) -> str | None:
    if engine in ("pcap_file", "vxlan"):
        return _refused("--input-raw-engine", engine, _PCAP if engine == "pcap_file" else VXLAN)
    if engine not in ENGINES:
        return f"unknown --input-raw-engine {engine!r} (GoReplay's: {', '.join(ENGINES)})"
    return None


def _protocol(protocol: str) -> str | None:
    if protocol == "binary":
        return _refused("--input-raw-protocol", protocol, _BINARY)
    if protocol != "http":
        return f"unknown --input-raw-protocol {protocol!r} (GoReplay's: http, binary)"
    return None


def _input_file(path: str) -> str | None:
    return _refused("--input-file", path, _S3_IN) if path.startswith("s3://") else None


def _output_file(path: str) -> str | None:
    return _refused("--output-file", path, _S3_OUT) if path.startswith("s3://") else None


def _redirects(count: str) -> str | None:
    return None if int(count) == 0 else _refused("--output-http-redirects", count, _REDIRECTS)


_CHECKS: Final[dict[str, Callable[[str], str | None]]] = {
    "--input-raw": _input_raw,
    "--input-raw-engine": _engine,
    "--input-raw-protocol": _protocol,
    "--input-file": _input_file,
    "--output-file": _output_file,
    "--output-http-redirects": _redirects,
}
