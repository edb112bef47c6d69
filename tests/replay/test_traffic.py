"""Traffic shaping in `shadowdiff replay`, end to end with real servers on 127.0.0.1:
GoReplay's filters, rewrites, limiters, rates, speed, loop, exit-after, several targets,
split output and the safe-method policy."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from shadowdiff.exchange import Request
from shadowdiff.gorfile import write_gor
from shadowdiff.testing import gor_records_for, make_exchange, make_request, make_response
from tests.conftest import run_cli
from tests.servers import RawServer, answer

SECOND = 1_000_000_000


def recording(tmp_path: Path, requests: Iterable[Request], gap_ns: int = 0) -> Path:
    exchanges = [
        make_exchange(request, make_response(json={"ok": True}), timestamp=i * gap_ns)
        for i, request in enumerate(requests)
    ]
    path = tmp_path / "t.gor"
    write_gor(path, gor_records_for(exchanges))
    return path


def replay(tmp_path: Path, gor: Path | str, *flags: str) -> tuple[str, str]:
    done = run_cli(
        "replay", str(gor), "--db", str(tmp_path / "s.db"), "--run", "r", "--quiet", *flags
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def targets_of(server: RawServer) -> list[str]:
    return [raw.split(b" ")[1].decode() for raw in server.received]


def run_row(tmp_path: Path, name: str = "r") -> dict[str, object]:
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM runs WHERE name = ?", [name]).fetchone()
    return dict(row)


def verdicts(tmp_path: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(tmp_path / "s.db") as conn:
        return conn.execute(
            "SELECT r.name, e.verdict, e.error FROM exchanges e JOIN runs r ON r.id = e.run_id "
            "ORDER BY e.id"
        ).fetchall()


def paths(*targets: str, method: str = "GET") -> list[Request]:
    return [make_request(method, target) for target in targets]


# --- filters and rewrites -----------------------------------------------------------------


def test_url_and_method_filters_replay_only_what_they_allow(tmp_path: Path) -> None:
    requests = [
        *paths("/api/a", "/api/b?x=1", "/static/c", "/api/internal/d"),
        make_request("POST", "/api/e", body=b"{}"),
    ]
    with RawServer(answer()) as server:
        _, err = replay(
            tmp_path,
            recording(tmp_path, requests),
            "--target",
            server.url,
            "--http-allow-url",
            "^/api/",
            "--http-disallow-url",
            "internal",
            "--http-allow-method",
            "GET",
        )
    assert targets_of(server) == ["/api/a", "/api/b?x=1"]
    filtered = json.loads(str(run_row(tmp_path)["traffic"]))["filtered"]
    assert filtered == {
        "--http-allow-method: not GET": 1,
        "--http-allow-url: no pattern matched": 1,
        "--http-disallow-url: matched internal": 1,
    }
    assert "not replayed: 1 (--http-allow-url: no pattern matched)" in err
    gate = run_cli("gate", "--db", str(tmp_path / "s.db"))
    assert (
        json.loads(run_cli("gate", "--db", str(tmp_path / "s.db"), "--json").stdout)["filtered"]
        == filtered
    )
    assert "note: not replayed by choice: 3 (" in gate.stdout


def test_header_filters(tmp_path: Path) -> None:
    requests = [
        make_request(target="/1", headers=[("api-version", "1.01")]),
        make_request(target="/2", headers=[("api-version", "2.0")]),
        make_request(
            target="/3", headers=[("api-version", "1.02"), ("User-Agent", "Replayed by Gor")]
        ),
        make_request(target="/4"),
    ]
    with RawServer(answer()) as server:
        replay(
            tmp_path,
            recording(tmp_path, requests),
            "--target",
            server.url,
            "--http-allow-header",
            r"api-version:^1\.0\d",
            "--http-disallow-header",
            "User-Agent: Replayed by Gor",
        )
    assert targets_of(server) == ["/1"]


def test_rewrites_reach_the_target_as_rewritten_bytes(tmp_path: Path) -> None:
    requests = paths("/v1/user/42/ping", "/v1/user/7/ping?a=b")
    with RawServer(answer()) as server:
        replay(
            tmp_path,
            recording(tmp_path, requests),
            "--target",
            server.url,
            "--http-rewrite-url",
            r"/v1/user/([^\/]+)/ping:/v2/user/$1/ping",
            "--http-set-param",
            "api_key=1",
            "--http-set-header",
            "User-Agent: Replayed by shadowdiff",
        )
    assert targets_of(server) == ["/v2/user/42/ping?api_key=1", "/v2/user/7/ping?a=b&api_key=1"]
    assert all(b"\r\nUser-Agent: Replayed by shadowdiff\r\n" in raw for raw in server.received)


def test_header_limiter_keeps_whole_users(tmp_path: Path) -> None:
    users = [f"key-{n}" for n in range(40)]
    requests = [
        make_request(target=f"/{user}/{i}", headers=[("X-API-KEY", user)])
        for user in users
        for i in range(3)
    ]
    with RawServer(answer()) as server:
        replay(
            tmp_path,
            recording(tmp_path, requests),
            "--target",
            server.url,
            "--http-header-limiter",
            "X-API-KEY: 50%",
        )
    kept = [t.split("/")[1] for t in targets_of(server)]
    assert 0 < len(set(kept)) < len(users)
    assert all(kept.count(user) == 3 for user in set(kept))  # a user is all in or all out


# --- rates, speed, loop, exit-after --------------------------------------------------------


def test_a_sampled_target_gets_about_its_share(tmp_path: Path) -> None:
    gor = recording(tmp_path, paths(*(f"/{i}" for i in range(400))))
    with RawServer(answer()) as server:
        _, err = replay(tmp_path, gor, "--target", f"{server.url}|25%")
    assert 60 < len(server.received) < 140
    assert "sampled out" in err


def test_a_capped_target_takes_n_a_second(tmp_path: Path) -> None:
    gor = recording(tmp_path, paths(*(f"/{i}" for i in range(30))), gap_ns=SECOND // 20)
    with RawServer(answer()) as server:
        replay(tmp_path, f"{gor}|100%", "--target", f"{server.url}|4")
    # 30 requests paced over 1.5 s: at most 4 in each second it touches (2 or 3 seconds)
    assert 4 <= len(server.received) <= 12


def test_speed_scales_the_recorded_gaps(tmp_path: Path) -> None:
    gor = recording(tmp_path, paths("/0", "/1", "/2"), gap_ns=SECOND // 2)
    with RawServer(answer()) as server:
        replay(tmp_path, f"{gor}|200%", "--target", server.url, "--concurrency", "1")
    gaps = [b - a for a, b in zip(server.arrived, server.arrived[1:], strict=False)]
    assert all(0.18 < gap < 0.45 for gap in gaps), gaps  # 0.5 s recorded, twice as fast


def test_loop_goes_on_until_exit_after(tmp_path: Path) -> None:
    gor = recording(tmp_path, paths("/0", "/1"), gap_ns=SECOND // 10)
    with RawServer(answer()) as server:
        out, _ = replay(
            tmp_path, f"{gor}|100%", "--target", server.url, "--loop", "--exit-after", "1s"
        )
    assert len(server.received) >= 6  # two requests every ~0.1 s, for a second
    assert run_row(tmp_path)["status"] == "finished"
    assert "run r finished" in out


# --- several targets -----------------------------------------------------------------------


def test_each_request_goes_to_every_target_each_its_own_run(tmp_path: Path) -> None:
    gor = recording(tmp_path, paths(*(f"/{i}" for i in range(10))))
    with RawServer(answer()) as one, RawServer(answer(b'{"ok": false}')) as two:
        out, _ = replay(tmp_path, gor, "--target", one.url, "--target", two.url)
        assert len(one.received) == len(two.received) == 10
        names = [f"r@127.0.0.1:{one.port}", f"r@127.0.0.1:{two.port}"]
    runs = {name: verdict for name, verdict, _ in verdicts(tmp_path)}
    assert set(runs) == set(names)
    assert [name for name, verdict, _ in verdicts(tmp_path) if verdict == "differs"] == [
        names[1]
    ] * 10
    for name in names:
        assert f"run {name} finished: 10 exchanges" in out
        gate = run_cli("gate", "--db", str(tmp_path / "s.db"), "--run", name, "--json")
        assert json.loads(gate.stdout)["exchanges"] == 10


def test_split_output_sends_each_request_to_one_target_in_turn(tmp_path: Path) -> None:
    gor = recording(tmp_path, paths(*(f"/{i}" for i in range(10))))
    with RawServer(answer()) as one, RawServer(answer()) as two:
        replay(
            tmp_path,
            gor,
            "--target",
            one.url,
            "--target",
            two.url,
            "--split-output",
            "--concurrency",
            "1",
        )
        assert sorted(targets_of(one)) == sorted(f"/{i}" for i in range(0, 10, 2))
        assert sorted(targets_of(two)) == sorted(f"/{i}" for i in range(1, 10, 2))


# --- safe methods ----------------------------------------------------------------------------


def test_only_safe_methods_holds_back_and_stores_the_reason(tmp_path: Path) -> None:
    requests = [
        make_request("GET", "/a"),
        make_request("POST", "/b", body=b"{}"),
        make_request("DELETE", "/c"),
        make_request("HEAD", "/d"),
    ]
    with RawServer(answer()) as server:
        replay(
            tmp_path, recording(tmp_path, requests), "--target", server.url, "--only-safe-methods"
        )
    assert sorted(targets_of(server)) == ["/a", "/d"]
    skipped = [(v, e) for _, v, e in verdicts(tmp_path) if v == "skipped"]
    assert len(skipped) == 2
    assert all(e is not None and "not a safe method (--only-safe-methods)" in e for _, e in skipped)
    gate = json.loads(run_cli("gate", "--db", str(tmp_path / "s.db"), "--json").stdout)
    assert gate["skipped"] == 2


def test_a_rule_holds_an_endpoint_back(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "orders.yaml").write_text("endpoints:\n  - match: POST /orders\n    replay: false\n")
    requests = [
        make_request("POST", "/orders", body=b"{}"),
        make_request("POST", "/carts", body=b"{}"),
    ]
    with RawServer(answer()) as server:
        replay(
            tmp_path, recording(tmp_path, requests), "--target", server.url, "--rules", str(rules)
        )
    assert targets_of(server) == ["/carts"]
    (reason,) = [e for _, v, e in verdicts(tmp_path) if v == "skipped"]
    assert reason is not None and "replay: false" in reason and "orders.yaml:2" in reason


# --- bad flags -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--http-rewrite-url", "/v1(:/v2"], "--http-rewrite-url"),
        (["--http-header-limiter", "X-API-KEY"], "--http-header-limiter"),
        (["--exit-after", "5x"], "--exit-after '5x'"),
        (["--workers", "2", "--http-allow-url", "/api"], "--workers"),
    ],
)
def test_bad_traffic_flags_are_one_line_and_exit_2(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    gor = recording(tmp_path, paths("/a"))
    with RawServer(answer()) as server:
        done = run_cli(
            "replay", str(gor), "--target", server.url, "--db", str(tmp_path / "s.db"), *flags
        )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("shadowdiff: error: ") and message in line


def test_a_bad_rate_suffix_is_one_line(tmp_path: Path) -> None:
    gor = recording(tmp_path, paths("/a"))
    done = run_cli(
        "replay", f"{gor}|fast", "--target", "http://127.0.0.1:9", "--db", str(tmp_path / "s.db")
    )
    assert done.returncode == 2
    assert "after '|' expected N" in done.stderr


# --- middleware ------------------------------------------------------------------------------

MIDDLEWARES = Path(__file__).parent.parent / "traffic" / "middlewares"


def middleware(script: str, *args: str) -> str:
    """A --middleware command line (split on spaces, as GoReplay does)."""
    return " ".join([sys.executable, str(MIDDLEWARES / script), *args])


def test_a_middleware_drops_what_it_does_not_echo(tmp_path: Path) -> None:
    gor = recording(tmp_path, paths("/a", "/skip/b", "/c", "/skip/d"))
    with RawServer(answer()) as server:
        _, err = replay(
            tmp_path, gor, "--target", server.url, "--middleware", middleware("raw.py", "skip")
        )
    assert sorted(targets_of(server)) == ["/a", "/c"]
    filtered = json.loads(str(run_row(tmp_path)["traffic"]))["filtered"]
    assert list(filtered.values()) == [2] and "not echoed" in next(iter(filtered))
    assert "not replayed: 2 (--middleware" in err


def test_what_a_middleware_changes_is_what_the_target_gets(tmp_path: Path) -> None:
    gor = recording(tmp_path, paths("/a", "/b"))
    with RawServer(answer()) as server:
        replay(
            tmp_path, gor, "--target", server.url, "--middleware", middleware("raw.py", "header")
        )
    assert len(server.received) == 2
    assert all(b"\r\nX-Middleware: raw\r\n" in raw for raw in server.received)


def test_seed_002_comparison_middleware_sees_request_response_and_replay(tmp_path: Path) -> None:
    """The gor 0.2.3 package's chain (request -> response#id -> replay#id), unchanged."""
    log = tmp_path / "compare.log"
    gor = recording(tmp_path, paths(*(f"/item/{i}" for i in range(5))))
    command = ["replay", str(gor), "--db", str(tmp_path / "s.db"), "--quiet", "--track-response"]
    with RawServer(answer(status=201)) as server:
        done = run_cli(
            *command, "--target", server.url, "--middleware", middleware("gor_compare.py"),
            env_extra={"SHADOWDIFF_COMPARE_LOG": str(log)},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = sorted(line.split()[1:] for line in log.read_text().splitlines())
    assert lines == [[f"/item/{i}", "differs", "200", "201"] for i in range(5)]


def test_a_middleware_that_crashes_stops_the_run_and_keeps_what_was_done(tmp_path: Path) -> None:
    gor = recording(tmp_path, paths(*(f"/{i}" for i in range(10))))
    with RawServer(answer()) as server:
        done = run_cli(
            "replay", str(gor), "--target", server.url, "--db", str(tmp_path / "s.db"),
            "--run", "r", "--quiet", "--middleware", middleware("exit_after.py", "4", "3"),
        )  # fmt: skip
    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("shadowdiff: error: --middleware") and "exited with status 3" in last
    assert run_row(tmp_path)["status"] == "failed"
    assert 1 <= len(verdicts(tmp_path)) <= 2  # 4 messages echoed: 2 requests and 2 responses


def test_a_loop_that_filters_everything_still_ends_at_exit_after(tmp_path: Path) -> None:
    """Nothing reaches a queue, so nothing waits: the exit-after timer must still run."""
    gor = recording(tmp_path, paths(*(f"/{i}" for i in range(50))))
    with RawServer(answer()) as server:
        done = run_cli(
            "replay", str(gor), "--target", server.url, "--db", str(tmp_path / "s.db"),
            "--loop", "--exit-after", "1s", "--http-allow-url", "nothing-matches", timeout=30,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert server.received == []
    assert "not replayed: " in done.stderr


# --- endpoints without rules -------------------------------------------------------------------


def test_without_rules_user_ids_form_one_templated_endpoint(tmp_path: Path) -> None:
    requests = [*paths(*(f"/api/users/{n}" for n in (17, 42, 7, 1000))), *paths("/api/users/me")]
    no_rules = tmp_path / "no-rules"
    no_rules.mkdir()
    with RawServer(answer()) as server:
        replay(
            tmp_path,
            recording(tmp_path, requests),
            "--target",
            server.url,
            "--rules",
            str(no_rules),
        )
    gate = json.loads(run_cli("gate", "--db", str(tmp_path / "s.db"), "--json").stdout)
    assert {e["endpoint"]: e["exchanges"] for e in gate["endpoints"]} == {
        "GET /api/users/{id}": 4,
        "GET /api/users/me": 1,
    }


def test_a_replay_learns_the_recording_first_so_slugs_form_one_endpoint(tmp_path: Path) -> None:
    slugs = [f"post-about-{word}" for word in "abcdefghijklmnopqrstuvwxyzABCD"]
    no_rules = tmp_path / "no-rules"
    no_rules.mkdir()
    with RawServer(answer()) as server:
        replay(
            tmp_path,
            recording(tmp_path, paths(*(f"/blog/{slug}" for slug in slugs))),
            "--target",
            server.url,
            "--rules",
            str(no_rules),
        )
    gate = json.loads(run_cli("gate", "--db", str(tmp_path / "s.db"), "--json").stdout)
    assert [(e["endpoint"], e["exchanges"]) for e in gate["endpoints"]] == [
        ("GET /blog/{param}", 30)
    ]
