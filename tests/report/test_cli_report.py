"""`shadowdiff report` and `shadowdiff gate --junit/--markdown` on the real sample services'
run (real CLI, real SQLite file), and their one-line errors."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlite_utils import Database

from shadowdiff.cli import main
from shadowdiff.compare.model import Difference
from shadowdiff.compare.severity import severity_of
from shadowdiff.gate import GatePolicy
from shadowdiff.report.files import write_ci_outputs, write_report
from shadowdiff.samples.service import SampleService
from shadowdiff.store import open_store
from shadowdiff.summary import summarize_run
from shadowdiff.testing import make_response
from tests.conftest import RULES, SAMPLE_GOR, run_cli
from tests.report import assert_safe_page, read_page, result, store_run

INJECTED = {
    "GET /api/users/{id}": ("$.profile.nickname", "missing", 60),
    "GET /api/orders/{id}": ("$.items[*].price", "value_changed", 40),
    "GET /api/products/{id}": ("$.stock", "type_changed", 40),
    "GET /api/search": ("status", "status_changed", 20),
    "GET /api/config": ("headers.content-type", "header_changed", 10),
}
FAILING = {*INJECTED, "GET /api/export/{id}"}
PASSING = {"GET /api/health", "GET /api/items", "POST /api/cart"}


@dataclass(frozen=True)
class SampleRun:
    db: Path
    relaxed_rules: Path  # the bundled rules, users with max_diff_rate 1.0


@pytest.fixture(scope="module")
def sample_run(
    tmp_path_factory: pytest.TempPathFactory, candidate_service: SampleService
) -> SampleRun:
    work = tmp_path_factory.mktemp("sample")
    db = work / "store.db"
    done = run_cli(
        "replay", str(SAMPLE_GOR), "--target", candidate_service.url, "--db", str(db),
        "--rules", str(RULES), "--run", "sample", "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    relaxed = work / "rules"
    shutil.copytree(RULES, relaxed)
    users = relaxed / "users.yaml"
    text = users.read_text()
    assert text.count("max_diff_rate: 0.0") == 1
    users.write_text(text.replace("max_diff_rate: 0.0", "max_diff_rate: 1.0"))
    return SampleRun(db, relaxed)


def cli(*args: str) -> int | str | None:
    """The command line in this process (faster than `run_cli`); its exit code."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    return done.value.code


def one_error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Runs the command, which must exit 2 with one line on stderr; returns that line."""
    code = cli(*args)
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("shadowdiff: error: ") and "Traceback" not in captured.err
    return lines[0]


# the sample services' run


def test_html_report_shows_each_regression(sample_run: SampleRun, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.html"
    done = run_cli("report", "--db", str(sample_run.db), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"report written to {out}"
    html = out.read_text(encoding="utf-8")
    page = assert_safe_page(html)
    text = page.all_text
    assert "Run sample FAILED" in " ".join(text.split())
    for endpoint, (path, kind, count) in INJECTED.items():
        assert endpoint in text
        shown = f"{path}{kind}{severity_of(kind, path)}{count}100.00%"
        assert shown in "".join(text.split()), endpoint
    links = {v for tag, name, v in page.attributes if tag == "a" and name == "href"}
    examples = {v[1:] for v in links if v and v.startswith("#exchange-")}
    assert len(examples) == 5 * len(INJECTED)  # five sampled per field
    assert examples <= page.ids
    assert "connection reset" in text  # the export errors, grouped
    marked = [v for tag, name, v in page.attributes if tag == "span" and name == "class"]
    assert "m" in marked  # differing lines highlighted
    assert "GET /api/users/" in text and '"nickname"' in text
    assert len(html) < 1_000_000


def test_junit_and_markdown_have_one_failure_per_failing_endpoint(
    sample_run: SampleRun, tmp_path: Path
) -> None:
    junit, markdown = tmp_path / "ci" / "junit.xml", tmp_path / "ci" / "summary.md"
    db = str(sample_run.db)
    assert cli("gate", "--db", db, "--junit", str(junit), "--markdown", str(markdown)) == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == str(len(FAILING))
    cases = {c.get("name"): c.findall("failure") for c in suite.iter("testcase")}
    assert set(cases) == FAILING | PASSING
    assert {name for name, failures in cases.items() if failures} == FAILING
    assert all(len(failures) <= 1 for failures in cases.values())
    users = cases["GET /api/users/{id}"][0].text or ""
    assert "missing $.profile.nickname in 60 exchange(s)" in users
    assert "example: GET /api/users/" in users
    text = markdown.read_text(encoding="utf-8")
    assert text.count("**FAIL**") == len(FAILING)
    assert "`$.profile.nickname` missing (60)" in text


def test_a_relaxed_endpoint_passes_in_json_junit_and_html(
    sample_run: SampleRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = "GET /api/users/{id}"
    junit, out = tmp_path / "junit.xml", tmp_path / "report.html"
    rules = ("--rules", str(sample_run.relaxed_rules))
    assert cli("gate", "--db", str(sample_run.db), *rules, "--json", "--junit", str(junit)) == 1
    endpoints = {e["endpoint"]: e for e in json.loads(capsys.readouterr().out)["endpoints"]}
    assert endpoints[users]["passed"] is True and endpoints[users]["diff_rate"] == 1.0
    assert {e for e, v in endpoints.items() if not v["passed"]} == FAILING - {users}
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    failing = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert failing == FAILING - {users}
    assert cli("report", "--db", str(sample_run.db), *rules, "-o", str(out)) == 0
    page = read_page(out.read_text(encoding="utf-8"))
    cells = " ".join(" ".join(page.text).split())
    assert f"{users} pass 60 100.00% 100.00%" in cells
    # without the relaxed rules, the stored thresholds apply
    assert cli("report", "--db", str(sample_run.db), "-o", str(out)) == 0
    cells = " ".join(" ".join(read_page(out.read_text(encoding="utf-8")).text).split())
    assert f"{users} FAIL 60 100.00% 0.00%" in cells


# the command line's own behaviour, on a small constructed store


@pytest.fixture
def small_db(tmp_path: Path) -> Path:
    path = tmp_path / "small.db"
    store = open_store(path)
    store_run(store, "r1", [result(latency=1.0)])
    store.close()
    return path


def test_report_default_paths_and_trend(
    small_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("report", "--db", str(small_db)) == 0
    assert (tmp_path / "reports" / "r1.html").is_file()
    assert cli("report", "--db", str(small_db), "--trend", "--since", "24h") == 0
    assert "r1" in read_page((tmp_path / "reports" / "trend.html").read_text()).all_text
    out = capsys.readouterr().out
    assert "report written to reports/r1.html" in out
    assert "report written to reports/trend.html" in out


def test_report_without_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error_line(capsys, "report", "--db", str(tmp_path / "none.db"))
    assert f"--db {tmp_path / 'none.db'}: no such database" in line
    assert not (tmp_path / "none.db").exists()


def test_report_into_a_path_under_a_regular_file(
    small_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    target = blocker / "sub" / "r.html"
    line = one_error_line(capsys, "report", "--db", str(small_db), "-o", str(target))
    assert line.startswith(f"shadowdiff: error: -o {target}: cannot write: ")
    line = one_error_line(capsys, "report", "--db", str(small_db), "-o", str(tmp_path))
    assert f"-o {tmp_path}: cannot write" in line


def test_ci_outputs_into_unwritable_paths(
    small_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = one_error_line(capsys, "gate", "--db", str(small_db), "--junit", str(blocker / "j.xml"))
    assert "--junit" in line and "cannot write" in line
    line = one_error_line(capsys, "gate", "--db", str(small_db), "--markdown", str(blocker / "m"))
    assert "--markdown" in line and "cannot write" in line


@pytest.mark.parametrize("since", ["yesterday", "24", "99999999999999d"])
def test_bad_since(small_db: Path, capsys: pytest.CaptureFixture[str], since: str) -> None:
    line = one_error_line(capsys, "report", "--db", str(small_db), "--trend", "--since", since)
    assert f"--since {since}:" in line


def test_unknown_run_and_empty_store(
    tmp_path: Path, small_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_error_line(capsys, "report", "--db", str(small_db), "--run", "nope")
    assert "--run nope: no such run" in line
    empty = tmp_path / "empty.db"
    open_store(empty).close()
    assert "no runs" in one_error_line(capsys, "report", "--db", str(empty))
    assert "no runs" in one_error_line(capsys, "report", "--db", str(empty), "--trend")


def test_bad_rules_dir_for_report(
    small_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["report", "--db", str(small_db), "--rules", str(tmp_path / "no-rules")])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "no-rules" in err and "Traceback" not in err


def test_a_lone_surrogate_in_a_body_does_not_stop_the_report(db: Database, tmp_path: Path) -> None:
    """JSON may escape half a surrogate pair; the page still gets written (as `?`)."""
    body = b'{"name": "\\ud800", "n": 1}'
    response = make_response(body=body, content_type="application/json")
    diff = Difference("$.n", "value_changed", 1, 2)
    store_run(db, "r", [result(baseline=response, candidate=response, differences=[diff])])
    path = write_report(db, None, GatePolicy(), tmp_path / "r.html")
    assert '"name": "?"' in read_page(path.read_text(encoding="utf-8")).all_text


def test_write_ci_outputs_without_files_writes_nothing(db: Database, tmp_path: Path) -> None:
    store_run(db, "r", [result()])
    write_ci_outputs(db, summarize_run(db, "r", GatePolicy()), None, None)
    assert all(p.name.startswith("shadowdiff.db") for p in tmp_path.iterdir())
