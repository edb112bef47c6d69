"""A replay in several processes (`--workers`): the same run as one process gives, every
exchange stored once, Ctrl-C still clean."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from shadowdiff.replay.parallel import owns
from shadowdiff.samples.service import SampleService
from tests.conftest import RULES, SAMPLE_GOR, run_cli
from tests.replay.test_session import start_replay, stored, wait_for
from tests.servers import RawServer, answer


def replay(tmp_path: Path, url: str, run: str, *flags: str) -> dict:  # type: ignore[type-arg]
    db = tmp_path / "store.db"
    done = run_cli(
        "replay", str(SAMPLE_GOR), "--target", url, "--db", str(db), "--rules", str(RULES),
        "--run", run, *flags,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"run {run} finished: 240 exchanges" in done.stdout
    gate = run_cli("gate", "--db", str(db), "--run", run, "--json")
    return json.loads(gate.stdout)  # type: ignore[no-any-return]


def test_two_workers_give_the_run_one_process_gives(
    tmp_path: Path, candidate_service: SampleService
) -> None:
    one = replay(tmp_path, candidate_service.url, "one")
    two = replay(tmp_path, candidate_service.url, "two", "--workers", "2")
    for result in (one, two):
        result.pop("run")
    assert two == one
    assert two["exchanges"] == 240 and two["differs"] > 0


def test_every_exchange_is_stored_once_with_its_own_recorded_id(
    tmp_path: Path, baseline_service: SampleService
) -> None:
    replay(tmp_path, baseline_service.url, "three", "--workers", "3")
    with sqlite3.connect(tmp_path / "store.db") as conn:
        ids = [row[0] for row in conn.execute("SELECT gor_id FROM exchanges")]
    assert len(ids) == len(set(ids)) == 240


def test_ctrl_c_stops_every_worker_and_keeps_what_they_finished(tmp_path: Path) -> None:
    with RawServer(answer(), delay=0.02) as server:
        child = start_replay(tmp_path, server.url, 600, "--workers", "2")
        wait_for(server, 60)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    assert child.returncode == 130, err
    assert "Traceback" not in err and "run r interrupted" in out
    status, count = stored(tmp_path)
    assert status == "interrupted"
    assert 60 <= count < 600
    assert count >= len(server.received) - 2  # what was answered was stored


@given(st.text(max_size=40), st.integers(1, 8))
def test_each_record_id_belongs_to_exactly_one_worker(record_id: str, workers: int) -> None:
    assert sum(owns(record_id, k, workers) for k in range(workers)) == 1
