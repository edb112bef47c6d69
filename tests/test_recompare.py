"""`shadowdiff recompare`: a stored run judged again under other rules, without replaying."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from shadowdiff.gorfile import write_gor
from shadowdiff.testing import gor_records_for, make_exchange, make_request, make_response
from tests.conftest import run_cli
from tests.servers import RawServer, answer


def test_a_rule_change_is_checked_without_replaying(tmp_path: Path) -> None:
    db, rules = tmp_path / "s.db", tmp_path / "rules"
    rules.mkdir()
    exchanges = [
        make_exchange(
            make_request(target=f"/api/users/{i}"),
            make_response(json={"id": i, "generated_at": "yesterday"}),
        )
        for i in range(20)
    ]
    write_gor(tmp_path / "t.gor", gor_records_for(exchanges))
    body = b'{"id": 0, "generated_at": "today"}'
    with RawServer(answer(body)) as server:
        replayed = run_cli(
            "replay", str(tmp_path / "t.gor"), "--target", server.url, "--db", str(db),
            "--rules", str(rules), "--run", "nightly", "--quiet",
        )  # fmt: skip
        assert replayed.returncode == 0, replayed.stderr
        sent = len(server.received)
    (rules / "users.yaml").write_text(
        "endpoints:\n  - match: GET /api/users/{id}\n    ignore: [$.generated_at]\n"
    )
    done = run_cli("recompare", "--db", str(db), "--rules", str(rules), "--run", "nightly",
                   "--as", "nightly-2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "run nightly-2 finished: 20 exchanges (differs 19, same 1) recompared from nightly" in (
        done.stdout
    )
    assert sent == 20  # nothing was sent again
    with sqlite3.connect(db) as conn:
        source, settings = conn.execute(
            "SELECT source, settings FROM runs WHERE name = 'nightly-2'"
        ).fetchone()
        fields = conn.execute(
            "SELECT DISTINCT d.field FROM differences d JOIN runs r ON r.id = d.run_id "
            "WHERE r.name = 'nightly-2'"
        ).fetchall()
    assert json.loads(source) == ["nightly"] and json.loads(settings)["recompare_of"] == "nightly"
    assert fields == [("$.id",)]  # generated_at is ignored now; the ids still differ
    gate = json.loads(run_cli("gate", "--db", str(db), "--json").stdout)
    assert gate["run"] == "nightly-2" and gate["exchanges"] == 20


def test_recompare_of_an_unknown_run_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sqlite3.connect(db).close()
    done = run_cli("recompare", "--db", str(db), "--run", "nope", "--rules", str(tmp_path))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
