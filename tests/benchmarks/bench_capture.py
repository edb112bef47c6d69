"""Benchmark: live capture (`shadowdiff record`) under paced load, both engines, side by
side with dumpcap alone (the reference: what the kernel delivered).

    python -m tests.benchmarks.bench_capture [--rates 2000,5000] [--seconds 60]
        [--engines dumpcap,tshark] [--long 600 --long-rate 2000]

Starts nginx (Debian package) on 127.0.0.1 serving 1 KB of JSON. For each engine and rate:
starts `shadowdiff record -i lo --engine E`, sends `rate` requests/s for `seconds` over 8
keep-alive connections (request i not before t0 + i/rate; each URL carries ?i=N), stops the
capture with SIGINT, and counts the exchanges recorded. `--long S` adds one run of S seconds
whose RSS (record + dumpcap/tshark) is sampled every 15 s. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shadowdiff.capture.pcapng import PacketCounter

BODY = json.dumps(
    {"items": [{"id": i, "name": f"item-{i}", "tags": ["a", "b"]} for i in range(18)]}
)[:1024]
CONNECTIONS = 8


@contextlib.contextmanager
def nginx(root: Path, port: int) -> Iterator[None]:
    """nginx (Debian package) serving `root` on 127.0.0.1:`port` while the block runs."""
    server = subprocess.Popen(["nginx", "-c", str(nginx_config(root, port))])
    time.sleep(0.5)
    try:
        yield
    finally:
        server.send_signal(signal.SIGQUIT)
        server.wait(timeout=10)


def nginx_config(root: Path, port: int) -> Path:
    (root / "data.json").write_text(BODY)
    config = root / "nginx.conf"
    config.write_text(f"""
worker_processes 1; daemon off; pid {root}/nginx.pid; error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; keepalive_requests 10000000; keepalive_timeout 120s;
  client_body_temp_path {root}; proxy_temp_path {root}; fastcgi_temp_path {root};
  uwsgi_temp_path {root}; scgi_temp_path {root};
  server {{ listen 127.0.0.1:{port}; location / {{ root {root}; try_files $uri /data.json;
           default_type application/json; }} }}
}}""")
    return config


async def paced_load(port: int, rate: int, seconds: float) -> int:
    total = int(rate * seconds)
    start = time.monotonic() + 0.2

    async def connection(index: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = 0
        for i in range(index, total, CONNECTIONS):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(f"GET /data.json?i={i} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            sent += 1
        writer.close()
        return sent

    return sum(await asyncio.gather(*(connection(i) for i in range(CONNECTIONS))))


def tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [pid, *(p for child in children.split() for p in tree(int(child)))]


def status_kb(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith(field)), 0)


def cpu_s(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_record(port: int, engine: str, out: Path, stats: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "shadowdiff", "record", "-i", "lo", "-p", str(port)]
    command += ["--engine", engine, "-o", str(out), "--stats", str(stats)]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert child.stderr is not None
    while "capturing on" not in child.stderr.readline():
        if child.poll() is not None:
            raise SystemExit(f"record failed: {child.stderr.read()}")
    return child


class RssSampler:
    """Samples the RSS of a process tree every `every` seconds in a thread."""

    def __init__(self, pid: int, every: float) -> None:
        import threading

        self.samples: list[tuple[int, float]] = []
        self._pid, self._every, self._start = pid, every, time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self._every):
            rss = sum(status_kb(p, "VmRSS") for p in tree(self._pid))
            self.samples.append((round(time.monotonic() - self._start), round(rss / 1024, 1)))

    def stop(self) -> list[tuple[int, float]]:
        self._done.set()
        self._thread.join()
        return self.samples


def run_record(
    port: int, engine: str, rate: int, seconds: float, scratch: Path, sample_every: float = 0
) -> dict[str, Any]:
    out, stats = scratch / f"rec-{engine}-{rate}.gor", scratch / f"rec-{engine}-{rate}.json"
    child = start_record(port, engine, out, stats)
    sampler = RssSampler(child.pid, sample_every) if sample_every else None
    started = time.monotonic()
    sent = asyncio.run(paced_load(port, rate, seconds))
    load_end = time.monotonic()
    pids = tree(child.pid)
    cpu = sum(cpu_s(p) for p in pids)
    peak = sum(status_kb(p, "VmHWM") for p in pids)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=600)
    drain = time.monotonic() - load_end
    counts = json.loads(stats.read_text())
    result = {
        "engine": engine,
        "rate": rate,
        "achieved_rate": round(sent / (load_end - started), 1),
        "sent": sent,
        "recorded": counts["exchanges"],
        "missing": sent - counts["exchanges"],
        "lost_reported": counts["lost"],
        "kernel_dropped": counts["kernel_dropped"],
        "stop_and_drain_s": round(drain, 2),
        "cpu_s_per_1000_before_stop": round(cpu * 1000 / max(sent, 1), 2),
        "peak_rss_mb_before_stop": round(peak / 1024, 1),
        "summary": stderr.strip().splitlines()[-1],
    }
    if sampler is not None:
        result["rss_mb_every_15s"] = sampler.stop()
    out.unlink()
    return result


def run_dumpcap(port: int, rate: int, seconds: float, scratch: Path) -> dict[str, Any]:
    out = scratch / f"ref-{rate}.pcapng"
    child = subprocess.Popen(
        ["dumpcap", "-q", "-B", "64", "-i", "lo", "-f", f"tcp port {port}", "-w", str(out)],
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)
    sent = asyncio.run(paced_load(port, rate, seconds))
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    child.wait(timeout=30)
    packets = PacketCounter(out).count()
    out.unlink()
    return {"rate": rate, "sent": sent, "packets": packets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="2000,5000")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--engines", default="dumpcap,tshark")
    parser.add_argument("--tshark-seconds", type=float, default=10.0)
    parser.add_argument("--long", type=float, default=0.0, help="seconds of the RSS run")
    parser.add_argument("--long-rate", type=int, default=2000)
    parser.add_argument("--port", type=int, default=18480)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    results: dict[str, Any] = {"seconds": args.seconds}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        scratch.chmod(0o777)  # dumpcap, even started by root, writes without DAC override
        with nginx(scratch, args.port):
            for engine in filter(None, args.engines.split(",")):
                seconds = args.tshark_seconds if engine == "tshark" else args.seconds
                results[f"record_{engine}"] = [
                    run_record(args.port, engine, rate, seconds, scratch) for rate in rates
                ]
            if args.engines:
                results["dumpcap_alone"] = [
                    run_dumpcap(args.port, rate, args.seconds, scratch) for rate in rates
                ]
            if args.long:
                results["long_run"] = run_record(
                    args.port, "dumpcap", args.long_rate, args.long, scratch, sample_every=15
                )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
