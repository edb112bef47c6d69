"""Benchmark: exchanges/s through Redis (publish -> stream -> worker pool -> store) with 1,
2 and 4 worker processes, side by side with a plain `shadowdiff replay FILE.gor` of the same
recording (the reference, in the same run).

    python -m tests.benchmarks.bench_bus [--exchanges 20000] [--concurrency 16]
        [--workers 1,2,4]

Starts nginx (Debian package) on 127.0.0.1 serving 1 KB of JSON and a redis-server of its
own (no persistence) on a free port. Writes a recording of `--exchanges` GETs with nginx's
answer as the recorded response (bench_replay's), times `shadowdiff publish` of it to a
stream, then, for each worker count, a fresh group of that many `shadowdiff replay --from
... --group` processes (`--idle-exit 1`; the second of idle is taken off the time), wall
clock from the first start to the last exit, into one run; checks that the run holds
every exchange once. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks.bench_capture import nginx
from tests.benchmarks.bench_replay import fetch, timed_replay, write_recording
from tests.bus.conftest import RedisServer

IDLE_EXIT = 1.0


def timed_publish(recording: Path, url: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "shadowdiff", "publish", str(recording), "--to", url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "output": done.stdout.strip()}


def timed_pool(url: str, port: int, workers: int, concurrency: int, db: Path) -> dict[str, Any]:
    """`workers` processes of one group; wall clock until the last one stopped."""
    (db.parent / "no-rules").mkdir(exist_ok=True)
    group = f"bench{workers}"
    command = [
        sys.executable, "-m", "shadowdiff", "replay", "--from", url, "--group", group,
        "--target", f"http://127.0.0.1:{port}", "--concurrency", str(concurrency),
        "--idle-exit", str(IDLE_EXIT), "--claim-idle", "30", "--quiet", "--db", str(db),
        "--rules", str(db.parent / "no-rules"),
    ]  # fmt: skip
    started = time.perf_counter()
    children = [
        subprocess.Popen([*command, "--consumer", f"c{n}"], stdout=subprocess.PIPE, text=True)
        for n in range(workers)
    ]
    for child in children:
        child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"worker failed ({child.returncode})")
    seconds = time.perf_counter() - started - IDLE_EXIT
    with sqlite3.connect(db) as conn:
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT gor_id) FROM exchanges JOIN runs ON runs.id = "
            "run_id WHERE runs.name = ?",
            [group],
        ).fetchone()
    return {"seconds": round(seconds, 2), "exchanges": total, "distinct": distinct}


def run(args: argparse.Namespace, scratch: Path, port: int) -> dict[str, Any]:
    results: dict[str, Any] = {"exchanges": args.exchanges, "concurrency": args.concurrency}
    recording = scratch / "day.gor"
    write_recording(recording, args.exchanges, fetch(port, "/data.json"), "/data.json")
    reference = timed_replay(recording, port, args.concurrency, scratch / "reference.db")
    reference["exchanges_per_s"] = round(reference["exchanges"] / reference["seconds"], 1)
    results["replay_file_reference"] = reference
    with RedisServer(scratch / "redis") as redis_server:
        url = redis_server.url("bench", maxlen=0)
        published = timed_publish(recording, url)
        published["exchanges_per_s"] = round(args.exchanges / published["seconds"], 1)
        results["publish"] = published
        for workers in (int(w) for w in args.workers.split(",")):
            db = scratch / f"pool-{workers}.db"
            pool = timed_pool(url, port, workers, args.concurrency, db)
            pool["exchanges_per_s"] = round(pool["exchanges"] / pool["seconds"], 1)
            pool["to_reference"] = round(pool["exchanges_per_s"] / reference["exchanges_per_s"], 2)
            results[f"bus_workers_{workers}"] = pool
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4", help="pools of these many workers")
    parser.add_argument("--port", type=int, default=18491)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        scratch.chmod(0o777)
        with nginx(scratch, args.port):
            results = run(args, scratch, args.port)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
