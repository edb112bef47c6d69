"""Benchmark: replay end to end (.gor read -> replay -> compare -> store) against nginx,
side by side with wrk on the same target and connections, and memory on a large recording.

    python -m tests.benchmarks.bench_replay [--exchanges 50000] [--concurrency 16]
        [--workers 1,2] [--memory-gb 1.0]

Starts nginx (Debian package) on 127.0.0.1 serving 1 KB of JSON. Writes a recording of
`--exchanges` exchanges (GET /data.json?i=N, each with nginx's own answer as the recorded
response), then times `shadowdiff replay FILE --target URL` in a child process (what a user
runs; wall clock, including start-up) and samples its RSS. The reference, in the same run:
wrk with the same number of connections for 10 s. `--memory-gb` adds a replay of a
recording of that size (bodies of 64 KB) whose peak RSS is reported. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from shadowdiff.gorfile import REQUEST, RESPONSE, GorRecord, GorWriter
from tests.benchmarks.bench_capture import nginx, status_kb, tree

BIG_BODY = 64 * 1024


def fetch(port: int, path: str) -> bytes:
    """One raw answer from nginx (the recorded response)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks).replace(b"Connection: close\r\n", b"Connection: keep-alive\r\n")


def write_recording(path: Path, exchanges: int, response: bytes, url: str) -> int:
    """`exchanges` GETs of `url` (each with its own ?i=N) and the same recorded answer."""
    start = 1_763_760_000_000_000_000
    with GorWriter(path) as writer:
        for i in range(exchanges):
            request = f"GET {url}?i={i} HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench/1\r\n\r\n"
            exchange_id = f"{i:024x}"
            writer.write(GorRecord(REQUEST, exchange_id, start + i * 1000, 0, request.encode()))
            writer.write(GorRecord(RESPONSE, exchange_id, start + i * 1000, 100_000, response))
    return path.stat().st_size


def timed_replay(
    recording: Path, port: int, concurrency: int, db: Path, workers: int = 1
) -> dict[str, Any]:
    command = [sys.executable, "-m", "shadowdiff", "replay", str(recording), "--quiet"]
    command += ["--target", f"http://127.0.0.1:{port}", "--concurrency", str(concurrency)]
    command += ["--workers", str(workers)]
    command += ["--db", str(db), "--rules", str(db.parent / "no-rules")]
    (db.parent / "no-rules").mkdir(exist_ok=True)
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while child.poll() is None:
        peak = max(peak, sum(status_kb(p, "VmRSS") for p in tree(child.pid)))
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    out, err = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"replay failed ({child.returncode}): {err}")
    found = re.search(r"finished: (\d+) exchanges \(([^)]*)\)", out)
    return {
        "seconds": round(seconds, 2),
        "exchanges": int(found.group(1)) if found else 0,
        "verdicts": found.group(2) if found else out.strip(),
        "peak_rss_mb": round(peak / 1024, 1),
    }


def wrk(port: int, connections: int, seconds: int = 10) -> float:
    """wrk's requests/s on the same target with the same number of connections."""
    url = f"http://127.0.0.1:{port}/data.json"
    threads = str(min(2, connections))
    done = subprocess.run(
        ["wrk", "-t", threads, "-c", str(connections), "-d", f"{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    return float(found.group(1)) if found else 0.0


def run(args: argparse.Namespace, scratch: Path, port: int) -> dict[str, Any]:
    results: dict[str, Any] = {"exchanges": args.exchanges, "concurrency": args.concurrency}
    recording = scratch / "day.gor"
    results["recording_mb"] = round(
        write_recording(recording, args.exchanges, fetch(port, "/data.json"), "/data.json") / 1e6,
        1,
    )
    reference = wrk(port, args.concurrency) if shutil.which("wrk") else None
    results["wrk_requests_per_s"] = reference or "not run: apt-get install wrk"
    for workers in (int(w) for w in args.workers.split(",")):
        db = scratch / f"replay-{workers}.db"
        replay = timed_replay(recording, port, args.concurrency, db, workers)
        replay["exchanges_per_s"] = round(replay["exchanges"] / replay["seconds"], 1)
        if reference:
            replay["to_wrk"] = round(replay["exchanges_per_s"] / reference, 3)
        results[f"replay_workers_{workers}"] = replay
    if args.memory_gb:
        big = scratch / "big.gor"
        count = int(args.memory_gb * 1e9 / (BIG_BODY + 400))
        size = write_recording(big, count, fetch(port, "/big.json"), "/big.json")
        memory = timed_replay(big, port, args.concurrency, scratch / "big.db", workers=1)
        results["memory"] = {"recording_gb": round(size / 1e9, 2), **memory}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--memory-gb", type=float, default=0.0)
    parser.add_argument("--workers", default="1,2", help="replay with each of these --workers")
    parser.add_argument("--port", type=int, default=18490)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        scratch.chmod(0o777)
        (scratch / "big.json").write_text(json.dumps({"blob": "x" * (BIG_BODY - 20)}))
        with nginx(scratch, args.port):
            results = run(args, scratch, args.port)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
