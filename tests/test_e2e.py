"""The whole flow as CI uses it: the real CLI, the sample services' two builds on 127.0.0.1,
the bundled recording and rules, a real SQLite file."""

import gzip
import json
from pathlib import Path

from shadowdiff.samples.service import SampleService
from tests.conftest import RULES, SAMPLE_GOR, framed, run_cli, sample_records

INJECTED = {
    ("GET /api/users/{id}", "$.profile.nickname", "missing"),
    ("GET /api/orders/{id}", "$.items[*].price", "value_changed"),
    ("GET /api/products/{id}", "$.stock", "type_changed"),
    ("GET /api/search", "status", "status_changed"),
    ("GET /api/config", "headers.content-type", "header_changed"),
}


def replay_and_gate(tmp_path: Path, url: str, *files: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    db = tmp_path / "store.db"
    done = run_cli(
        "replay",
        *map(str, files),
        "--target",
        url,
        "--db",
        str(db),
        "--rules",
        str(RULES),
        "--run",
        "ci",
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    gate = run_cli("gate", "--db", str(db), "--json")
    return gate.returncode, json.loads(gate.stdout)


def test_candidate_run_reports_exactly_the_injected_regressions(
    tmp_path: Path, candidate_service: SampleService
) -> None:
    code, result = replay_and_gate(tmp_path, candidate_service.url, SAMPLE_GOR)
    assert code == 1 and result["passed"] is False
    found = {
        (e["endpoint"], f["path"], f["kind"]) for e in result["endpoints"] for f in e["fields"]
    }
    assert found == INJECTED
    by_endpoint = {e["endpoint"]: e for e in result["endpoints"]}
    assert by_endpoint["GET /api/export/{id}"]["errors"] == 10
    assert by_endpoint["GET /api/export/{id}"]["passed"] is False
    failing = {e["endpoint"] for e in result["endpoints"] if not e["passed"]}
    assert failing == {endpoint for endpoint, _, _ in INJECTED} | {"GET /api/export/{id}"}
    assert result["exchanges"] == 240 and result["failed"] == 0
    for endpoint in result["endpoints"]:
        assert {
            "endpoint",
            "exchanges",
            "differs",
            "failed",
            "errors",
            "diff_rate",
            "passed",
            "fields",
        } <= endpoint.keys()


def test_baseline_run_is_clean_all_noise_cancelled_by_the_rules(
    tmp_path: Path, baseline_service: SampleService
) -> None:
    code, result = replay_and_gate(tmp_path, baseline_service.url, SAMPLE_GOR)
    assert (code, result["passed"], result["same"], result["exchanges"]) == (0, True, 240, 240)


def test_gzip_truncated_and_corrupt_recordings_still_replay(
    tmp_path: Path, baseline_service: SampleService
) -> None:
    records = sample_records()
    (tmp_path / "a.gor.gz").write_bytes(gzip.compress(framed(records[:100])))
    corrupt = records[100:200]
    corrupt[10] = b"garbage meta line\n" + corrupt[10].partition(b"\n")[2]
    (tmp_path / "b.gor").write_bytes(framed(corrupt))
    (tmp_path / "c.gor").write_bytes(framed(records[200:300]) + records[300][:50])
    db = tmp_path / "store.db"
    files = [str(tmp_path / n) for n in ("a.gor.gz", "b.gor", "c.gor")]
    done = run_cli(
        "replay", *files, "--target", baseline_service.url, "--db", str(db), "--rules", str(RULES)
    )
    assert done.returncode == 0, done.stderr
    offset = len(framed(corrupt[:10]))
    assert f"b.gor: byte {offset}: meta line" in done.stderr
    assert "c.gor: byte" in done.stderr and "truncated record" in done.stderr
    assert "2 unreadable record(s) skipped" in done.stderr
    assert "Traceback" not in done.stderr
    gate = json.loads(run_cli("gate", "--db", str(db), "--json").stdout)
    # 300 records = 150 exchanges; the corrupt one loses its request, its response is unpaired
    assert gate["exchanges"] == 149 and gate["same"] == 149
    assert gate["unreadable"] == 2


def test_demo_runs_with_no_setup(tmp_path: Path) -> None:
    done = run_cli("demo", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "FAIL  GET /api/users/{id}" in done.stdout
    assert "missing         $.profile.nickname" in done.stdout
    assert "240 exchanges (same 240)" in done.stdout
    assert (tmp_path / "shadowdiff.db").is_file()
    reports = list((tmp_path / "reports").glob("demo-candidate-*.html"))
    assert len(reports) == 1
    assert f"HTML report: {reports[0]}" in done.stdout
    html = reports[0].read_text(encoding="utf-8")
    assert "$.profile.nickname" in html and "FAILED" in html
