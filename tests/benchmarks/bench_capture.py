"""Benchmark: live capture (`shadowdiff record`, tshark via pyshark) under paced load.

    python -m tests.benchmarks.bench_capture [--rates 200,500,1000,2000] [--seconds 10]

Starts nginx (Debian package) on 127.0.0.1 serving 1 KB of JSON, then for each rate: starts
`shadowdiff record -i lo`, sends `rate` requests/s for `seconds` over 8 keep-alive
connections (request i not before t0 + i/rate; each URL carries ?i=N), stops the capture,
and counts the exchanges recorded with their ids. Side by side, the same load captured by
dumpcap alone (the reference: what the kernel delivered). Prints one JSON object: per rate,
sent, recorded, lost, capture lag after the load, peak RSS of the record process tree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from shadowdiff.capture.pcapng import PacketCounter
from shadowdiff.gorfile import read_gor

BODY = json.dumps(
    {"items": [{"id": i, "name": f"item-{i}", "tags": ["a", "b"]} for i in range(18)]}
)[:1024]
CONNECTIONS = 8


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
  server {{ listen 127.0.0.1:{port}; location / {{ root {root}; try_files /data.json =404;
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


def peak_rss_kb(pid: int) -> int:
    """VmHWM of a process plus all its descendants (tshark, dumpcap), in KB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    own = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), 0
    )
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return own + sum(peak_rss_kb(int(child)) for child in children.split())


def run_record(port: int, rate: int, seconds: float, scratch: Path) -> dict[str, Any]:
    out = scratch / f"rec-{rate}.gor"
    child = subprocess.Popen(
        [sys.executable, "-m", "shadowdiff", "record", "-i", "lo", "-p", str(port), "-o", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    while "capturing on" not in child.stderr.readline():
        pass
    sent = asyncio.run(paced_load(port, rate, seconds))
    load_end = time.monotonic()
    rss = peak_rss_kb(child.pid)
    child.send_signal(signal.SIGINT)
    child.wait(timeout=120)
    lag = time.monotonic() - load_end
    recorded = sum(1 for r in read_gor(out, lambda p: None) if r.type == 2)
    return {
        "rate": rate,
        "sent": sent,
        "recorded": recorded,
        "lost": sent - recorded,
        "stop_and_drain_s": round(lag, 2),
        "peak_rss_mb_before_stop": round(rss / 1024, 1),
    }


def run_dumpcap(port: int, rate: int, seconds: float, scratch: Path) -> dict[str, Any]:
    out = scratch / f"ref-{rate}.pcapng"
    child = subprocess.Popen(
        ["dumpcap", "-q", "-i", "lo", "-f", f"tcp port {port}", "-w", str(out)],
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)
    sent = asyncio.run(paced_load(port, rate, seconds))
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    child.wait(timeout=30)
    return {"rate": rate, "sent": sent, "packets": PacketCounter(out).count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="200,500,1000,2000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=18480)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        scratch.chmod(0o777)  # dumpcap, even started by root, writes without DAC override
        nginx = subprocess.Popen(["nginx", "-c", str(nginx_config(scratch, args.port))])
        time.sleep(0.5)
        try:
            rates = [int(r) for r in args.rates.split(",")]
            results = {
                "capture_record": [run_record(args.port, r, args.seconds, scratch) for r in rates],
                "capture_dumpcap_reference": [
                    run_dumpcap(args.port, r, args.seconds, scratch) for r in rates
                ],
            }
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=10)
    print(json.dumps({"seconds": args.seconds, **results}, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
