"""A segment recorded from live traffic: `shadowdiff record --to redis://...` captures real
requests on `lo` (dumpcap, as root: CI; a missing dumpcap fails, it does not skip) and
publishes them; the segment around them replays twice with identical exchange sets."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.bus.conftest import RedisServer
from tests.capture.test_live import request, talk, wait_for_line
from tests.conftest import run_cli
from tests.servers import RawServer, answer


def replayed(db: Path, run: str) -> list[tuple[str, bytes]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT gor_id, request FROM exchanges JOIN runs ON runs.id = run_id "
            "WHERE runs.name = ? ORDER BY gor_id",
            [run],
        )
        return list(rows)


def test_a_live_segment_replays_twice_with_identical_exchanges(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url("live-capture")
    stats = tmp_path / "stats.json"
    with RawServer(answer()) as origin:
        command = [
            sys.executable, "-m", "shadowdiff", "record", "-i", "lo", "-p", str(origin.port),
            "--to", url, "--count", "12", "--stats", str(stats),
        ]  # fmt: skip
        recorder = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        wait_for_line(recorder, "capturing on lo", timeout=30)
        assert run_cli("segment", "start", "live", "--bus", url).returncode == 0
        for n in range(12):
            talk(origin.port, [request(f"/live/{n}", port=origin.port)])
        out, err = recorder.communicate(timeout=30)
    assert recorder.returncode == 0, err
    assert f"recorded 12 exchanges to {url.split('&')[0]}" in out
    assert json.loads(stats.read_text())["published"]["sent"] == 12
    done = run_cli("segment", "stop", "live", "--bus", url)
    assert done.returncode == 0 and "12 entries" in done.stdout, done.stderr
    db = tmp_path / "store.db"
    (tmp_path / "none").mkdir()
    with RawServer(answer()) as candidate:
        for run in ("one", "two"):
            done = run_cli(
                "replay", "--from", url, "--segment", "live", "--target", candidate.url,
                "--db", str(db), "--run", run, "--rules", str(tmp_path / "none"),
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert f"run {run} finished: 12 exchanges (same 12)" in done.stdout
    assert replayed(db, "one") == replayed(db, "two")
    assert len(replayed(db, "one")) == 12


def test_tee_publishes_what_it_captures_and_keeps_the_counts(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """`tee --to`: live traffic replayed to a target and published to the stream at once;
    the run's traffic says what was published."""
    from tests.capture.test_tee import start

    url, db = redis_server.url("tee-out"), tmp_path / "s.db"
    with RawServer(answer()) as origin, RawServer(answer()) as target:
        teeing = start(
            "tee", "-i", "lo", "-p", str(origin.port), "--target", target.url, "--to", url,
            "--exit-after", "4s", "--db", str(db), "--run", "t", "--quiet",
        )  # fmt: skip
        talk(origin.port, [request(f"/t/{i}", port=origin.port) for i in range(10)])
        _, err = teeing.communicate(timeout=60)
        sent = len(target.received)
    assert teeing.returncode == 0, err
    assert sent == 10 and redis_server.client().xlen("tee-out") == 10
    with sqlite3.connect(db) as conn:
        (traffic,) = conn.execute("SELECT traffic FROM runs WHERE name = 't'").fetchone()
    published = json.loads(traffic)["published"]
    assert [counts["sent"] for counts in published.values()] == [10]
