"""Ctrl-C stops a replay cleanly and keeps every finished exchange."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from shadowdiff.gorfile import write_gor
from shadowdiff.testing import gor_records_for, make_exchange, make_request, make_response
from tests.servers import RawServer, answer


def test_sigint_keeps_finished_exchanges_and_marks_the_run_interrupted(tmp_path: Path) -> None:
    exchanges = [
        make_exchange(make_request(target=f"/{i}"), make_response(json={"ok": True}), timestamp=i)
        for i in range(400)
    ]
    gor = tmp_path / "t.gor"
    write_gor(gor, gor_records_for(exchanges))
    db = tmp_path / "s.db"
    with RawServer(answer(), delay=0.02) as server:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shadowdiff",
                "replay",
                str(gor),
                "--target",
                server.url,
                "--db",
                str(db),
                "--concurrency",
                "2",
                "--run",
                "r",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(server.received) < 40:
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
    assert child.returncode == 130, err
    assert "Traceback" not in err
    assert "run r interrupted" in out
    with sqlite3.connect(db) as conn:
        status = conn.execute("SELECT status FROM runs WHERE name = 'r'").fetchone()[0]
        stored = conn.execute("SELECT count(*) FROM exchanges").fetchone()[0]
    assert status == "interrupted"
    assert 40 <= stored < 400
    assert stored >= len(server.received) - 2  # everything answered was stored (2 in flight)


def test_queued_requests_are_not_sent_after_ctrl_c_and_a_second_one_abandons_in_flight(
    tmp_path: Path,
) -> None:
    exchanges = [
        make_exchange(make_request(target=f"/{i}"), make_response(json={"ok": True}), timestamp=i)
        for i in range(20)
    ]
    gor = tmp_path / "t.gor"
    write_gor(gor, gor_records_for(exchanges))
    db = tmp_path / "s.db"
    with RawServer(answer(), delay=30) as server:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shadowdiff",
                "replay",
                str(gor),
                "--target",
                server.url,
                "--db",
                str(db),
                "--concurrency",
                "2",
                "--timeout",
                "60",
                "--run",
                "r",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(server.received) < 2:
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = child.communicate(timeout=20)
        took = time.monotonic() - started
    assert child.returncode == 130, err
    assert took < 10  # did not wait for the 30 s answers
    assert len(server.received) == 2  # nothing queued was sent after the first Ctrl-C
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
