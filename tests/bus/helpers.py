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
    url: str,
    target: str,
    db: Path,
    consumer: str,
    *flags: str,
    run: str = "pool",
    log: Path | None = None,
) -> subprocess.Popen[str]:
    """`shadowdiff replay --from URL --group g` in a child process (stderr into `log`, if
    given: readable while it runs)."""
    command = [
        sys.executable, "-m", "shadowdiff", "replay", "--from", url, "--group", "g",
        "--consumer", consumer, "--target", target, "--db", str(db), "--run", run,
        "--rules", str(db.parent / "no-rules"), "--quiet", *flags,
    ]  # fmt: skip
    (db.parent / "no-rules").mkdir(exist_ok=True)
    return _start(command, log)


def start_publisher(
    url: str, *files: str, stats: Path | None = None, buffer: int = 10_000, log: Path | None = None
) -> subprocess.Popen[str]:
    extra = ["--stats", str(stats)] if stats else []
    extra += ["--buffer", str(buffer)]
    command = [sys.executable, "-m", "shadowdiff", "publish", *files, "--to", url, *extra]
    return _start(command, log)


def _start(command: list[str], log: Path | None) -> subprocess.Popen[str]:
    stderr = subprocess.PIPE if log is None else log.open("w", encoding="utf-8")
    try:
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, stdin=subprocess.DEVNULL
        )
    finally:
        if log is not None:
            stderr.close()  # type: ignore[union-attr]


def ended(
    child: subprocess.Popen[str], timeout: float = 60, log: Path | None = None
) -> tuple[int, str, str]:
    """Its exit code, stdout and stderr (from `log` when it wrote there)."""
    out, err = child.communicate(timeout=timeout)
    if log is not None:
        err = log.read_text(encoding="utf-8")
    return child.returncode, out, err or ""


def finished(
    child: subprocess.Popen[str], timeout: float = 60, log: Path | None = None
) -> tuple[str, str]:
    code, out, err = ended(child, timeout, log)
    assert code == 0, f"exit {code}: {err}"
    assert "Traceback" not in err, err
    return out, err


def one_line_error(code: int, err: str, expected: int, text: str) -> None:
    """Exit `expected`, stderr one line holding `text`, no traceback."""
    assert code == expected, f"exit {code}: {err}"
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and text in err, err


def logged(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(encoding="utf-8")


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


def stored_uids(db: Path, run: str) -> list[str]:
    """The bus uids a run stored, sorted (duplicates kept)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT uid FROM bus_entries JOIN runs ON runs.id = run_id WHERE runs.name = ?",
            [run],
        )
        return sorted(row[0] for row in rows)


def worker_rows(db: Path, run: str) -> dict[str, str]:
    """consumer -> status of a run's workers ({} while there is no store yet)."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            rows = conn.execute(
                "SELECT consumer, bus_workers.status FROM bus_workers "
                "JOIN runs ON runs.id = run_id WHERE runs.name = ?",
                [run],
            )
            return dict(rows.fetchall())
    except sqlite3.OperationalError:  # the schema is not there yet
        return {}


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
