"""Redaction end to end: secrets never reach the SQLite file, the HTML report or the logs,
and equal secrets still compare equal (the same keyed hash on both sides)."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

from shadowdiff.gorfile import write_gor
from shadowdiff.testing import gor_records_for, make_exchange, make_request, make_response
from tests.conftest import run_cli
from tests.servers import RawServer

SECRETS = ["Bearer SECRET-BEARER-4242", "SECRETSESSION77", "SETCOOKIESECRET88", "hunter2-SECRET"]


def candidate(_raw: bytes, conn: socket.socket) -> None:
    body = json.dumps({"user": "ann", "password": "other-SECRET-pw", "n": 2}).encode()
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Set-Cookie: sid=SETCOOKIESECRET88; Path=/\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def test_secrets_never_reach_the_store_the_report_or_the_logs(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "defaults.yaml").write_text(
        "defaults:\n  redact:\n    headers: [X-Api-Key]\n    paths: [$.password]\nendpoints: []\n"
    )
    request = make_request(
        target="/api/me",
        headers=[
            ("Authorization", SECRETS[0]),
            ("Cookie", f"session={SECRETS[1]}"),
            ("X-Api-Key", "APIKEY-SECRET-55"),
        ],
    )
    baseline = make_response(
        json={"user": "ann", "password": SECRETS[3], "n": 1},
        headers=[("Set-Cookie", f"sid={SECRETS[2]}; Path=/")],
    )
    write_gor(tmp_path / "t.gor", gor_records_for([make_exchange(request, baseline)]))
    db = tmp_path / "s.db"
    with RawServer(candidate) as server:
        replayed = run_cli(
            "-v", "replay", str(tmp_path / "t.gor"), "--target", server.url, "--db", str(db),
            "--rules", str(rules), "--run", "r",
        )  # fmt: skip
        sent = server.received[0]
    assert replayed.returncode == 0, replayed.stderr
    assert SECRETS[0].encode() in sent  # the target got the real request
    report = run_cli("-v", "report", "--db", str(db), "-o", str(tmp_path / "r.html"))
    gate = run_cli("-v", "gate", "--db", str(db), "--json")
    with sqlite3.connect(db) as conn:
        fields = conn.execute("SELECT field, baseline, candidate FROM differences").fetchall()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("s.db*") if "redact-key" not in p.name)
    texts = [
        stored,
        (tmp_path / "r.html").read_bytes(),
        (replayed.stdout + replayed.stderr + report.stderr + gate.stdout + gate.stderr).encode(),
    ]
    for secret in [*SECRETS, "APIKEY-SECRET-55", "other-SECRET-pw", "SECRET"]:
        assert all(secret.encode() not in text for text in texts), secret
    assert b"redacted:" in stored
    # the password differs on both sides: its difference shows two tokens; the cookie (equal
    # on both sides) does not differ at all
    (password,) = [f for f in fields if f[0] == "$.password"]
    assert all(json.loads(value).startswith("redacted:") for value in password[1:])
    assert not any("Set-Cookie" in f[0] for f in fields)


def _key_of(db: str) -> bytes:
    from shadowdiff.store.secrets import store_key

    return store_key(Path(db))


def test_processes_starting_together_share_one_whole_key(tmp_path: Path) -> None:
    """A worker pool starts its processes at once: none may read the key file half written
    (it once read an empty one), and all must end up with the same key."""
    import multiprocessing

    for attempt in range(5):
        db = str(tmp_path / f"s{attempt}.db")
        with multiprocessing.get_context("fork").Pool(8) as pool:
            keys = pool.map(_key_of, [db] * 16)
        assert len(set(keys)) == 1 and len(keys[0]) == 32
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f"s{attempt}")) == [
            f"s{attempt}.db.redact-key"
        ]  # no draft left behind
