"""Bad input never shows a traceback: one clear line and DESIGN.md's exit code."""

import json
from pathlib import Path

import pytest

from shadowdiff.samples.service import SampleService
from tests.conftest import RULES, SAMPLE_GOR, framed, run_cli, sample_records


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_unknown_flag_is_usage_error() -> None:
    done = run_cli("replay", str(SAMPLE_GOR), "--target", "http://x", "--bogus")
    assert done.returncode == 2
    assert "--bogus" in one_error_line(done.stderr)


def test_missing_required_flag() -> None:
    done = run_cli("replay", str(SAMPLE_GOR))
    assert done.returncode == 2
    assert "--target" in one_error_line(done.stderr)


def test_missing_file(tmp_path: Path) -> None:
    done = run_cli("replay", str(tmp_path / "nope.gor"), "--target", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert "nope.gor: no such file" in one_error_line(done.stderr)


def test_unreadable_gor(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gor"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not a recording")
    done = run_cli("replay", str(bad), "--target", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert "bad.gor: not a .gor file" in one_error_line(done.stderr)


def test_gz_that_is_not_gzip(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gor.gz"
    bad.write_bytes(SAMPLE_GOR.read_bytes()[:100])
    done = run_cli("replay", str(bad), "--target", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert "bad.gor.gz: unreadable" in one_error_line(done.stderr)


def test_bad_target_url() -> None:
    done = run_cli("replay", str(SAMPLE_GOR), "--target", "staging:8080")
    assert done.returncode == 2
    assert "--target staging:8080" in one_error_line(done.stderr)


def test_unreachable_target_is_an_environment_problem(tmp_path: Path) -> None:
    with SampleService("baseline") as service:
        url = service.url
    done = run_cli("replay", str(SAMPLE_GOR), "--target", url, "--db", str(tmp_path / "s.db"))
    assert done.returncode == 3
    assert f"--target {url}: unreachable" in one_error_line(done.stderr)
    assert not (tmp_path / "s.db").exists()


def test_invalid_rules_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("endpoints:\n  - match: GET /a\n    ignroe: [$.x]\n")
    done = run_cli(
        "replay", str(SAMPLE_GOR), "--target", "http://127.0.0.1:9", "--rules", str(tmp_path)
    )
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith(f"{tmp_path / 'r.yaml'}:3: unknown key 'ignroe'")


def test_rules_check_lists_every_problem(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "endpoints:\n  - match: GET /a\n    ignore: ['$.x[']\n  - match: GET /a\n"
        "    assert:\n      - {path: $.n, matches: '(('}\n"
    )
    done = run_cli("rules", "check", str(tmp_path))
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert any(line.startswith(f"{tmp_path / 'r.yaml'}:3: invalid JSONPath") for line in lines)
    assert any(line.startswith(f"{tmp_path / 'r.yaml'}:6: invalid regex") for line in lines)
    assert any(f"{tmp_path / 'r.yaml'}:4: duplicate match 'GET /a'" in line for line in lines)
    assert "Traceback" not in done.stderr


def test_rules_check_accepts_the_bundled_rules() -> None:
    done = run_cli("rules", "check", str(RULES))
    assert done.returncode == 0 and "no problems" in done.stdout


def test_rules_dir_missing() -> None:
    done = run_cli("rules", "check", "/nonexistent/rules")
    assert done.returncode == 2
    assert "not a directory" in one_error_line(done.stderr)


@pytest.mark.parametrize("args", [["--run", "nope"], []])
def test_gate_without_a_store_or_run(tmp_path: Path, args: list[str]) -> None:
    done = run_cli("gate", "--db", str(tmp_path / "none.db"), *args)
    assert done.returncode == 2
    assert "none.db" in one_error_line(done.stderr)


def test_gate_on_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "x.db").write_text("hello, not sqlite " * 100)
    done = run_cli("gate", "--db", str(tmp_path / "x.db"))
    assert done.returncode == 2
    assert "not a shadowdiff database" in one_error_line(done.stderr)


def test_unknown_run_name(tmp_path: Path, baseline_service: SampleService) -> None:
    db = str(tmp_path / "s.db")
    assert (
        run_cli(
            "replay",
            str(SAMPLE_GOR),
            "--target",
            baseline_service.url,
            "--db",
            db,
            "--rules",
            str(RULES),
            "--quiet",
        ).returncode
        == 0
    )
    done = run_cli("gate", "--db", db, "--run", "nope")
    assert done.returncode == 2
    assert "--run nope: no such run" in one_error_line(done.stderr)


def test_python_dash_m_and_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0 and "shadowdiff" in done.stdout


def test_a_directory_is_not_a_recording(tmp_path: Path) -> None:
    done = run_cli("replay", str(tmp_path), "--target", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert "is a directory" in one_error_line(done.stderr)


def test_a_corrupt_first_record_is_skipped_not_fatal(
    tmp_path: Path, baseline_service: SampleService
) -> None:
    records = sample_records()[:20]
    records[0] = b"garbage\n" + records[0].partition(b"\n")[2]
    gor = tmp_path / "first-bad.gor"
    gor.write_bytes(framed(records))
    done = run_cli(
        "replay",
        str(gor),
        "--target",
        baseline_service.url,
        "--db",
        str(tmp_path / "s.db"),
        "--rules",
        str(RULES),
    )
    assert done.returncode == 0, done.stderr
    assert "first-bad.gor: byte 0:" in done.stderr
    assert "9 exchanges" in done.stdout


def test_gate_max_diff_rate_applies_where_rules_set_no_rate(
    tmp_path: Path, candidate_service: SampleService
) -> None:
    db = str(tmp_path / "s.db")
    assert (
        run_cli(
            "replay",
            str(SAMPLE_GOR),
            "--target",
            candidate_service.url,
            "--db",
            db,
            "--rules",
            str(RULES),
            "--quiet",
        ).returncode
        == 0
    )
    assert run_cli("gate", "--db", db).returncode == 1
    done = run_cli("gate", "--db", db, "--max-diff-rate", "1", "--allow-errors", "--json")
    endpoints = {e["endpoint"]: e for e in json.loads(done.stdout)["endpoints"]}
    # rules/users.yaml sets its own max_diff_rate (0.0): that wins over the flag
    assert endpoints["GET /api/users/{id}"]["max_diff_rate"] == 0.0
    assert not endpoints["GET /api/users/{id}"]["passed"]
    assert endpoints["GET /api/orders/{id}"]["max_diff_rate"] == 1.0
    assert all(e["passed"] for name, e in endpoints.items() if name != "GET /api/users/{id}")


def test_requests_without_recorded_responses_are_flagged(
    tmp_path: Path, candidate_service: SampleService
) -> None:
    requests = [r for r in sample_records() if r.startswith(b"1 ")]
    gor = tmp_path / "requests-only.gor"
    gor.write_bytes(framed(requests[:30]))
    db = str(tmp_path / "s.db")
    done = run_cli(
        "replay", str(gor), "--target", candidate_service.url, "--db", db, "--rules", str(RULES)
    )
    assert "30 request(s) had no recorded response" in done.stderr
    gate = run_cli("gate", "--db", db, "--json")
    assert json.loads(gate.stdout)["uncompared"] > 0
    assert "had no baseline response" in run_cli("gate", "--db", db).stdout
