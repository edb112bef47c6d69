"""Recordings, workers and store reads shared by the bus tests."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from shadowdiff.gorfile import write_gor
from shadowdiff.testing import gor_records_for, make_exchange, make_request, make_response

START_NS = 1_763_760_000_000_000_000


def write_recording(path: Path, prefix: str, count: int, gap_ms: float = 1.0) -> list[str]:
    """`count` GETs with recorded `{"ok": true}` answers, ids PREFIX-N; their ids."""
    exchanges = [
        make_exchange(
            make_request(target=f"/{prefix}/{i}"),
            make_response(json={"ok": True}),
            id=f"{prefix}{i:05d}",
            timestamp=START_NS + int(i * gap_ms * 1e6),
            baseline_latency=1000,
        )
        for i in range(count)
    ]
    write_gor(path, gor_records_for(exchanges))
    return [exchange.id for exchange in exchanges]


def start_worker(
    url: str, target: str, db: Path, consumer: str, *flags: str, run: str = "pool"
) -> subprocess.Popen[str]:
    """`shadowdiff replay --from URL --group g` in a child process."""
    command = [
        sys.executable, "-m", "shadowdiff", "replay", "--from", url, "--group", "g",
        "--consumer", consumer, "--target", target, "--db", str(db), "--run", run,
        "--rules", str(db.parent / "no-rules"), "--quiet", *flags,
    ]  # fmt: skip
    (db.parent / "no-rules").mkdir(exist_ok=True)
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def start_publisher(
    url: str, *files: str, stats: Path | None = None, buffer: int = 10_000
) -> subprocess.Popen[str]:
    extra = ["--stats", str(stats)] if stats else []
    extra += ["--buffer", str(buffer)]
    command = [sys.executable, "-m", "shadowdiff", "publish", *files, "--to", url, *extra]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def finished(child: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    out, err = child.communicate(timeout=timeout)
    assert child.returncode == 0, f"exit {child.returncode}: {err}"
    assert "Traceback" not in err, err
    return out, err


def stored_ids(db: Path, run: str) -> list[str]:
    """The recorded ids of a run's exchanges, sorted (duplicates kept)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT gor_id FROM exchanges JOIN runs ON runs.id = run_id WHERE runs.name = ?",
            [run],
        )
        return sorted(row[0] for row in rows)


def count_stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM exchanges").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def run_row(db: Path, run: str) -> tuple[str, dict[str, int]]:
    with sqlite3.connect(db) as conn:
        status, traffic = conn.execute(
            "SELECT status, traffic FROM runs WHERE name = ?", [run]
        ).fetchone()
    return status, json.loads(traffic or "{}")


def wait_until(condition: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)
