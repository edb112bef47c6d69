"""Issue 7's acceptance: on a service with injected regressions and injected noise, a
`--noise` run plus `rules suggest` gives rules under which every regression is still
reported and no noise field is, and the QA's comments survive. Real HTTP servers, real
subprocesses, a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from shadowdiff.gorfile import write_gor
from shadowdiff.testing import gor_records_for, make_exchange, make_request, make_response
from tests.conftest import run_cli
from tests.noisy_service import NOISE_FIELDS, REGRESSIONS, NoisyService, requests

QA_RULES = """\
# Shop API rules. Owned by QA: keep this header.
defaults:
  # a shadow run must be spotless
  max_diff_rate: 0.0

endpoints:
  # users: the profile service (ask #profile before changing)
  - match: GET /api/users/{id}
    assert:
      - {status: 200}  # it must answer
"""


def recording(tmp_path: Path) -> Path:
    """The traffic as a .gor file (the live --baseline answers it: the recorded responses
    are placeholders)."""
    exchanges = [
        make_exchange(make_request(target=target), make_response(json={})) for target in requests()
    ]
    path = tmp_path / "traffic.gor"
    write_gor(path, gor_records_for(exchanges))
    return path


def replay(tmp_path: Path, *extra: str) -> None:
    done = run_cli(
        "replay", str(tmp_path / "traffic.gor"), "--db", str(tmp_path / "s.db"),
        "--rules", str(tmp_path / "rules"), "--quiet", *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def gate(tmp_path: Path, run: str, *extra: str) -> dict[str, Any]:
    done = run_cli("gate", "--db", str(tmp_path / "s.db"), "--run", run, "--json", *extra)
    assert done.returncode in (0, 1), done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def reported(result: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(endpoint, field, kind) the gate reports as signal."""
    return {
        (e["endpoint"], f["path"], f["kind"])
        for e in result["endpoints"]
        for f in e["fields"]
        if f.get("noise", {}).get("signal", True)
    }


def noise_in(found: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    return {f for f in found if any(f[1].startswith(n) for n in NOISE_FIELDS)}


def test_noise_run_and_rules_suggest_keep_every_regression_and_drop_all_noise(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "shop.yaml").write_text(QA_RULES)
    recording(tmp_path)
    with NoisyService(candidate=False) as base, NoisyService(candidate=True) as cand:
        replay(tmp_path, "--target", cand.url, "--baseline", base.url, "--noise", "--run", "n")
        before = gate(tmp_path, "n", "--count-noise")
        assert reported(before) >= REGRESSIONS
        assert noise_in(reported(before))  # without rules, the noise is all over the run

        shown = run_cli("rules", "suggest", "--db", str(tmp_path / "s.db"), "--run", "n",
                        "--rules", str(rules), "--dry-run")  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert (rules / "shop.yaml").read_text() == QA_RULES  # a dry run writes nothing
        assert "preview: this hides" in shown.stdout and "warning" not in shown.stdout

        done = run_cli("rules", "suggest", "--db", str(tmp_path / "s.db"), "--run", "n",
                       "--rules", str(rules))  # fmt: skip
        assert done.returncode == 0, done.stderr
        for line in QA_RULES.splitlines():  # every comment and line of the QA's survives
            assert line in (rules / "shop.yaml").read_text()
        assert run_cli("rules", "check", str(rules)).returncode == 0

        again = run_cli("recompare", "--db", str(tmp_path / "s.db"), "--run", "n",
                        "--rules", str(rules), "--as", "n-tuned")  # fmt: skip
        assert again.returncode == 0, again.stderr
        after = gate(tmp_path, "n-tuned", "--count-noise")
        assert reported(after) == REGRESSIONS

        # a new replay under the suggested rules, without --noise: the same verdict
        replay(tmp_path, "--target", cand.url, "--baseline", base.url, "--run", "fresh")
        assert reported(gate(tmp_path, "fresh", "--count-noise")) == REGRESSIONS
        # and against its own build, the baseline is spotless
        replay(tmp_path, "--target", base.url, "--baseline", base.url, "--run", "self")
        assert gate(tmp_path, "self")["passed"]


def test_what_suggest_wrote(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "shop.yaml").write_text(QA_RULES)
    recording(tmp_path)
    base, cand = NoisyService(False, structural_noise=True), NoisyService(True, True)
    with base, cand:
        replay(tmp_path, "--target", cand.url, "--baseline", base.url, "--noise", "--run", "n")
    done = run_cli("rules", "suggest", "--db", str(tmp_path / "s.db"), "--run", "n",
                   "--rules", str(rules))  # fmt: skip
    assert done.returncode == 0, done.stderr
    shop = (rules / "shop.yaml").read_text()
    # the users rule was edited in place, under the QA's comment, before its assertions
    assert shop.index("# users: the profile service") < shop.index("array_keys: {$.friends: id}")
    assert "tolerance: {$.score: " in shop and shop.index("tolerance") < shop.index("assert:")
    assert "unordered: [$.tags]" in shop
    assert "ignore: ['$.friends[*].seen_at', $.generated_at, $.request_id]" in shop
    assert "headers: {ignore: [x-shop-nonce]}" in shop
    # the orders endpoint had no rule: a new one, in suggested.yaml, without its regressions
    suggested = (rules / "suggested.yaml").read_text()
    assert "match: GET /api/orders/{id}" in suggested and "$.total" not in suggested
    assert "$.count" not in suggested
    assert "not missing at $.promo: a structural change is never suggested" in done.stdout
    assert "$.promo" not in shop and "nickname" not in shop
    # running it again finds nothing more to write
    twice = run_cli("rules", "suggest", "--db", str(tmp_path / "s.db"), "--run", "n",
                    "--rules", str(rules))  # fmt: skip
    assert (rules / "shop.yaml").read_text() == shop and "wrote" not in twice.stdout


def test_a_later_run_without_noise_reads_the_history(tmp_path: Path) -> None:
    """No rules at all: the --noise run's evidence makes the next plain run's gate count
    only the signal, and name which run the evidence came from."""
    (tmp_path / "rules").mkdir()
    recording(tmp_path)
    with NoisyService(candidate=False) as base, NoisyService(candidate=True) as cand:
        replay(tmp_path, "--target", cand.url, "--baseline", base.url, "--noise", "--run", "n")
        replay(tmp_path, "--target", cand.url, "--baseline", base.url, "--run", "later")
    result = gate(tmp_path, "later")
    users = next(e for e in result["endpoints"] if e["endpoint"] == "GET /api/users/{id}")
    noisy = {f["path"]: f["noise"] for f in users["fields"]}
    assert noisy["$.request_id"]["signal"] is False and noisy["$.request_id"]["runs"] == ["n"]
    assert noisy["$.profile.nickname"]["signal"] is True
    with sqlite3.connect(tmp_path / "s.db") as conn:
        own = conn.execute(
            "SELECT count(*) FROM noise_samples s JOIN runs r ON r.id = s.run_id "
            "WHERE r.name = 'later'"
        ).fetchone()[0]
    assert own == 0  # the later run measured nothing itself
    # its orders and searches still fail (regressions); the noise alone fails nothing
    counted = gate(tmp_path, "later", "--count-noise")
    assert users["noise"] == 0 and users["differs"] == 40  # every user lacks its nickname
    assert not counted["passed"]
    # margins from the rules: nothing can be 100% above its noise, so nothing is signal
    lenient = tmp_path / "lenient"
    lenient.mkdir()
    (lenient / "all.yaml").write_text("defaults:\n  noise: {relative: 1.0}\n")
    relaxed = gate(tmp_path, "later", "--rules", str(lenient))
    assert relaxed["passed"] and not reported(relaxed)


def test_ci_outputs_and_the_report_show_severity_and_noise(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    recording(tmp_path)
    with NoisyService(candidate=False) as base, NoisyService(candidate=True) as cand:
        replay(tmp_path, "--target", cand.url, "--baseline", base.url, "--noise", "--run", "n")
    md, junit, html = tmp_path / "gate.md", tmp_path / "gate.xml", tmp_path / "r.html"
    gated = run_cli("gate", "--db", str(tmp_path / "s.db"), "--markdown", str(md),
                    "--junit", str(junit))  # fmt: skip
    assert gated.returncode == 1
    assert "missing         $.profile.nickname  x40" in gated.stdout
    assert "  note: noise evidence from run(s) n; " in gated.stdout
    assert "value_changed   $.request_id  x30  (noise: 100% of 30 sent twice)" in gated.stdout
    table = md.read_text()
    assert "| `GET /api/users/{id}` | **FAIL** | high |" in table
    assert "`$.profile.nickname` missing (40) [high]" in table
    xml = junit.read_text()
    assert "missing $.profile.nickname in 40 exchange(s) [high]" in xml
    assert "$.request_id in 30 exchange(s) [medium; noise: 100% when sent twice]" in xml
    reported_ = run_cli("report", "--db", str(tmp_path / "s.db"), "-o", str(html))
    assert reported_.returncode in (0, 1), reported_.stderr
    assert 'class="noise"' in html.read_text() and "noise 100.0" in html.read_text()


def test_rules_check_against_a_run(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "shop.yaml").write_text(
        "endpoints:\n"
        "  - match: GET /api/users/{id}\n"
        "    ignore: [$.request_id, $.nowhere]\n"
        "    headers: {ignore: [X-Shop-Nonce, Content-Type, X-Request-Id]}\n"
        "  - match: GET /api/gone\n"
    )
    recording(tmp_path)
    with NoisyService(candidate=False) as base, NoisyService(candidate=True) as cand:
        replay(tmp_path, "--target", cand.url, "--baseline", base.url, "--run", "n")
    done = run_cli("rules", "check", str(rules), "--db", str(tmp_path / "s.db"), "--run", "n")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning: ")]
    shop = rules / "shop.yaml"
    assert warnings == [
        f"warning: {shop}:5: GET /api/gone matched no exchange of run n",
        f"warning: {shop}:2: headers.ignore x-request-id is ignored anyway (a volatile header)",
        f"warning: {shop}:2: ignore $.nowhere hid nothing in 40 exchange(s) of run n",
        f"warning: {shop}:2: headers.ignore content-type hid nothing in 40 exchange(s) of run n",
        "warning: GET /api/orders/{id}: 30 exchange(s) of run n, no rule (the defaults apply)",
        "warning: GET /api/search: 10 exchange(s) of run n, no rule (the defaults apply)",
    ]
    assert done.stdout.splitlines()[-1] == "run n: 6 warning(s)"
    unknown = run_cli("rules", "check", str(rules), "--db", str(tmp_path / "s.db"), "--run", "x")
    assert unknown.returncode == 2 and unknown.stderr.strip() == (
        "shadowdiff: error: --run x: no such run in this database"
    )


def test_with_noise_evidence_a_build_against_itself_passes_without_any_rule(
    tmp_path: Path,
) -> None:
    (tmp_path / "rules").mkdir()
    recording(tmp_path)
    with NoisyService(candidate=False) as base, NoisyService(candidate=False) as same:
        replay(tmp_path, "--target", same.url, "--baseline", base.url, "--noise", "--run", "n")
    counted = gate(tmp_path, "n", "--count-noise")
    assert not counted["passed"]  # every answer differs somewhere
    judged = gate(tmp_path, "n")
    assert not reported(judged)  # even the elements of shuffled arrays, paired by index
    orders = next(e for e in judged["endpoints"] if e["endpoint"] == "GET /api/orders/{id}")
    assert orders["passed"] and orders["noise"] == 30 and orders["diff_rate"] == 0
