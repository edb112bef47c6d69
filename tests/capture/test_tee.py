"""`shadowdiff tee` on real traffic on `lo`: the same verdicts as `replay` of the same traffic.

The sample generator plays its realistic mix against the baseline build; `record` and `tee`
capture it at the same time (two real tshark captures); the recording is then replayed
against the candidate build. Both runs must find the same differences."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from shadowdiff.samples.generate import record as play_sample_mix
from shadowdiff.samples.service import SampleService
from tests.capture.test_live import wait_for_line
from tests.conftest import RULES, run_cli


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
