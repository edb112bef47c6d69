"""`shadowdiff tee` on real traffic on `lo`: the same verdicts as `replay` of the same traffic.

The sample generator plays its realistic mix against the baseline build; `record` and `tee`
capture it at the same time (two real tshark captures); the recording is then replayed
against the candidate build. Both runs must find the same differences."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shadowdiff.replay.plan import parse_target
from shadowdiff.replay.tee import refuse_feedback
from shadowdiff.samples.generate import record as play_sample_mix
from shadowdiff.samples.service import SampleService
from tests.capture.test_live import request, respond, talk, wait_for_line
from tests.conftest import RULES, run_cli
from tests.servers import RawServer


def start(*args: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "shadowdiff", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_line(child, "capturing on lo", timeout=30)
    return child


def gate(db: Path, run: str) -> dict:  # type: ignore[type-arg]
    done = run_cli("gate", "--db", str(db), "--run", run, "--json")
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def by_endpoint(result: dict) -> dict:  # type: ignore[type-arg]
    return {
        e["endpoint"]: (
            e["exchanges"],
            e["same"],
            e["differs"],
            e["failed"],
            e["errors"],
            sorted((f["path"], f["kind"], f["count"]) for f in e["fields"]),
        )
        for e in result["endpoints"]
    }


def test_tee_gives_the_same_verdicts_as_replay_of_the_same_traffic(
    tmp_path: Path, baseline_service: SampleService, candidate_service: SampleService
) -> None:
    db, recording = tmp_path / "store.db", tmp_path / "rec.gor"
    port = str(baseline_service.port)
    recorder = start("record", "-i", "lo", "-p", port, "-o", str(recording))
    teeing = start(
        "tee",
        "-i",
        "lo",
        "-p",
        port,
        "--target",
        candidate_service.url,
        "--db",
        str(db),
        "--rules",
        str(RULES),
        "--run",
        "tee",
        "--quiet",
    )
    played = play_sample_mix(("127.0.0.1", baseline_service.port))
    for child in (recorder, teeing):
        child.send_signal(signal.SIGINT)
    tee_out, tee_err = teeing.communicate(timeout=60)
    record_out, record_err = recorder.communicate(timeout=60)
    assert recorder.returncode == 0 and "recorded 240 exchanges" in record_err + record_out, (
        record_err
    )
    assert teeing.returncode == 0, tee_err
    assert "run tee finished: 240 exchanges" in tee_out
    assert "lost 0" in tee_err

    replayed = run_cli(
        "replay",
        str(recording),
        "--target",
        candidate_service.url,
        "--db",
        str(db),
        "--rules",
        str(RULES),
        "--run",
        "replay",
        "--quiet",
    )
    assert replayed.returncode == 0, replayed.stderr
    tee_gate, replay_gate = gate(db, "tee"), gate(db, "replay")
    assert len(played) == 480 and tee_gate["exchanges"] == replay_gate["exchanges"] == 240
    assert by_endpoint(tee_gate) == by_endpoint(replay_gate)
    assert tee_gate["lost"] == 0 and tee_gate["passed"] is False


def test_a_target_slower_than_the_traffic_sheds_exchanges_and_counts_them(
    tmp_path: Path,
) -> None:
    db = tmp_path / "store.db"
    with RawServer(respond) as origin, RawServer(respond, delay=0.3) as slow:
        teeing = start(
            "tee",
            "-i",
            "lo",
            "-p",
            str(origin.port),
            "--target",
            slow.url,
            "--concurrency",
            "1",
            "--queue",
            "2",
            "--db",
            str(db),
            "--run",
            "slow",
            "--quiet",
        )
        talk(origin.port, [request(f"/burst/{i}", port=origin.port) for i in range(40)])
        time.sleep(1.5)  # the capture has delivered the burst; the target is still busy
        teeing.send_signal(signal.SIGINT)
        _, err = teeing.communicate(timeout=60)
        replayed = len(slow.received)
    assert teeing.returncode == 0, err
    result = gate(db, "slow")
    shed = result["capture"]["shed"]
    assert shed > 0, "the queue holds 2: most of a 40-request burst is shed"
    assert result["exchanges"] + shed == 40 == replayed + shed
    assert result["lost"] == shed and result["capture"]["packets_dropped"] == 0


def test_tee_shapes_live_traffic_to_two_targets_until_exit_after(tmp_path: Path) -> None:
    """Filters, a rewrite and two targets on live traffic; --exit-after ends it cleanly."""
    db = tmp_path / "store.db"
    with RawServer(respond) as origin, RawServer(respond) as one, RawServer(respond) as two:
        teeing = start(
            "tee", "-i", "lo", "-p", str(origin.port),
            "--target", one.url, "--target", two.url,
            "--http-disallow-url", "^/skip",
            "--http-set-header", "X-Shadow: 1",
            "--exit-after", "4s",
            "--db", str(db), "--run", "live", "--quiet",
        )  # fmt: skip
        paths = [f"/keep/{i}" if i % 2 else f"/skip/{i}" for i in range(20)]
        talk(origin.port, [request(path, port=origin.port) for path in paths])
        _, err = teeing.communicate(timeout=60)
        received = (one.received, two.received)
    assert teeing.returncode == 0, err
    for server, raws in zip((one, two), received, strict=True):
        assert sorted(raw.split(b" ")[1] for raw in raws) == sorted(
            p.encode() for p in paths if p.startswith("/keep")
        )
        assert all(b"\r\nX-Shadow: 1\r\n" in raw for raw in raws)
        assert gate(db, f"live@127.0.0.1:{server.port}")["exchanges"] == 10
    assert "not replayed: 10 (--http-disallow-url" in err


def tee_command(url: str, db: Path) -> list[str]:
    """`shadowdiff tee` of port 80 on lo, replayed to `url`."""
    command = [sys.executable, "-m", "shadowdiff", "tee", "-i", "lo", "-p", "80"]
    return [*command, "--target", url, "--db", str(db), "--quiet"]


def test_tee_without_dumpcap_exits_3_saying_what_to_install(tmp_path: Path) -> None:
    with RawServer(respond) as target:
        done = subprocess.run(
            tee_command(target.url, tmp_path / "s.db"),
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PATH": str(tmp_path)},
        )
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("shadowdiff: error: dumpcap not found: install tshark")


def test_tee_without_capture_permission_exits_3_naming_the_capabilities(tmp_path: Path) -> None:
    drop = ["setpriv", "--bounding-set=-net_raw,-net_admin", "--inh-caps=-net_raw,-net_admin"]
    with RawServer(respond) as target:
        done = subprocess.run(
            [*drop, *tee_command(target.url, tmp_path / "s.db")],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 3, done.stderr
    assert "no permission to capture" in done.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_a_target_on_a_captured_port_of_this_machine_is_refused(host: str) -> None:
    """tee would capture its own replays and replay them again, without end."""
    done = run_cli("tee", "-i", "lo", "-p", "18111", "--target", f"http://{host}:18111")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"shadowdiff: error: --target http://{host}:18111: port 18111 of this machine is "
        "captured, so tee would capture its own replays; replay to another port or host"
    ]


def test_refuse_feedback_lets_other_ports_and_other_hosts_through() -> None:
    refuse_feedback(parse_target("http://127.0.0.1:18112"), [18111])
    refuse_feedback(parse_target("http://192.0.2.1:18111"), [18111])  # TEST-NET: not here


def test_tee_measures_noise_on_live_traffic(tmp_path: Path) -> None:
    """--noise on a live tee: each captured GET goes twice to the target, and the run keeps
    the evidence (what `rules suggest` and later gates read)."""
    db = tmp_path / "store.db"
    with RawServer(respond) as origin, RawServer(respond) as target:
        teeing = start(
            "tee", "-i", "lo", "-p", str(origin.port), "--target", target.url, "--noise",
            "--exit-after", "4s", "--db", str(db), "--run", "live", "--quiet",
        )  # fmt: skip
        talk(origin.port, [request(f"/n/{i}", port=origin.port) for i in range(10)])
        _, err = teeing.communicate(timeout=60)
        received = list(target.received)
    assert teeing.returncode == 0, err
    assert len(received) == 20  # each request twice
    with sqlite3.connect(db) as conn:
        sampled = conn.execute(
            "SELECT sum(sampled) FROM noise_samples s JOIN runs r ON r.id = s.run_id "
            "WHERE r.name = 'live' AND s.source = 'candidate'"
        ).fetchone()[0]
    assert sampled == 10


def _children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_killed_tee_leaves_no_capture_behind(tmp_path: Path) -> None:
    """SIGKILL gives tee no chance to stop its capture child: the kernel does (the child
    asked for SIGTERM when its parent dies), and the child stops its dumpcap."""
    with RawServer(respond) as target:
        teeing = start("tee", "-i", "lo", "-p", "9", "--target", target.url,
                       "--db", str(tmp_path / "s.db"), "--quiet")  # fmt: skip
    children = _children_of(teeing.pid)
    grandchildren = [g for c in children for g in _children_of(c)]
    assert children and grandchildren  # record, and its dumpcap
    teeing.kill()
    teeing.communicate(timeout=30)
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{p}").exists() for p in children + grandchildren):
        assert time.monotonic() < deadline, "the capture outlived its tee"
        time.sleep(0.1)
