"""Ctrl-C stops a replay cleanly and keeps every finished exchange."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from shadowdiff.gorfile import write_gor
from shadowdiff.testing import gor_records_for, make_exchange, make_request, make_response
from tests.servers import RawServer, answer


def start_replay(tmp_path: Path, url: str, count: int, *flags: str) -> subprocess.Popen[str]:
    """`shadowdiff replay` of `count` recorded GETs, in a child process we can signal."""
    exchanges = [
        make_exchange(make_request(target=f"/{i}"), make_response(json={"ok": True}), timestamp=i)
        for i in range(count)
    ]
    gor = tmp_path / "t.gor"
    write_gor(gor, gor_records_for(exchanges))
    command = [
        sys.executable,
        "-m",
        "shadowdiff",
        "replay",
        str(gor),
        "--target",
        url,
        "--db",
        str(tmp_path / "s.db"),
        "--concurrency",
        "2",
        "--run",
        "r",
        *flags,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(server: RawServer, requests: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(server.received) < requests:
        time.sleep(0.05)


def stored(tmp_path: Path) -> tuple[str, int]:
    with sqlite3.connect(tmp_path / "s.db") as conn:
        status = conn.execute("SELECT status FROM runs WHERE name = 'r'").fetchone()[0]
        count = conn.execute("SELECT count(*) FROM exchanges").fetchone()[0]
    return status, count


def test_sigint_keeps_finished_exchanges_and_marks_the_run_interrupted(tmp_path: Path) -> None:
    with RawServer(answer(), delay=0.02) as server:
        child = start_replay(tmp_path, server.url, 400)
        wait_for(server, 40)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
    assert child.returncode == 130, err
    assert "Traceback" not in err
    assert "run r interrupted" in out
    status, count = stored(tmp_path)
    assert status == "interrupted"
    assert 40 <= count < 400
    assert count >= len(server.received) - 2  # everything answered was stored (2 in flight)


def test_queued_requests_are_not_sent_after_ctrl_c_and_a_second_one_abandons_in_flight(
    tmp_path: Path,
) -> None:
    with RawServer(answer(), delay=30) as server:
        child = start_replay(tmp_path, server.url, 20, "--timeout", "60")
        wait_for(server, 2)
        child.send_signal(signal.SIGINT)
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = child.communicate(timeout=20)
        took = time.monotonic() - started
    assert child.returncode == 130, err
    assert took < 10  # did not wait for the 30 s answers
    assert len(server.received) == 2  # nothing queued was sent after the first Ctrl-C
    assert stored(tmp_path) == ("interrupted", 0)
