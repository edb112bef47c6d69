"""Every GoReplay command line of the seed documents, run through `shadowdiff gor` with real
servers on 127.0.0.1, real captures on the machine, real files and real TCP links (hosts and
ports adapted to local ones; a capture ends with Ctrl-C, as GoReplay's users end it).

Live captures run side by side: each seed line gets its own origin server on its own port."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shadowdiff.gorfile import GorRecord, RecordSplitter, parse_record, read_gor, write_gor
from shadowdiff.testing import gor_records_for, make_exchange, make_request, make_response
from tests.capture.test_live import request, respond, talk, wait_for_line
from tests.conftest import run_cli
from tests.servers import RawServer

MIDDLEWARES = Path(__file__).parent.parent / "traffic" / "middlewares"
PY = sys.executable


def gor_process(argv: list[str], cwd: Path, *, capture: bool) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [PY, "-m", "shadowdiff", "gor", *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    if capture:
        wait_for_line(child, "capturing on", timeout=30)
    return child


def records_in(data: bytes) -> list[GorRecord]:
    splitter = RecordSplitter()
    return [parse_record(chunk) for _, chunk in splitter.feed(data)]


def runs_in(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT r.name, count(e.id) FROM runs r LEFT JOIN exchanges e ON e.run_id = r.id "
            "GROUP BY r.name"
        ).fetchall()
    return dict(rows)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Live:
    """One seed line on live traffic: its origin, its targets, its process and results."""

    argv: list[str]
    origin: RawServer
    targets: list[RawServer] = field(default_factory=list)
    paths: list[str] = field(default_factory=lambda: [f"/api/{i}" for i in range(6)])
    headers: tuple[str, ...] = ()
    child: subprocess.Popen[bytes] | None = None
    out: bytes = b""
    err: str = ""


PATHS_2 = ["/v2/robot/query", "/v2/robot/input_hint", "/v1/robot/intention", "/other"]


@contextmanager
def servers(count: int) -> Iterator[list[RawServer]]:
    with ExitStack() as stack:
        yield [stack.enter_context(RawServer(respond)) for _ in range(count)]


def seed_lines(o: list[RawServer], t: list[RawServer], tmp: Path, tcp: int) -> dict[str, Live]:
    """The seed documents' --input-raw lines; `:PORT` is each line's own origin."""

    def port(i: int) -> str:
        return f":{o[i].port}"

    mw_echo = f"{PY} {MIDDLEWARES / 'raw.py'} echo"
    compare = f"{PY} {MIDDLEWARES / 'gor_compare.py'}"
    return {
        "000 stdout": Live(["--input-raw", port(0), "--output-stdout"], o[0]),
        "000 forward": Live(["--input-raw", port(1), f"--output-http={t[0].url}"], o[1], [t[0]]),
        "000 split": Live(
            [
                "--input-raw",
                port(2),
                "--output-http",
                t[1].url,
                "--output-http",
                t[2].url,
                "--split-output",
                "true",
            ],
            o[2],
            [t[1], t[2]],
        ),
        "000 file": Live(["--input-raw", port(3), f"--output-file={tmp}/requests.gor"], o[3]),
        "000 hourly": Live(
            ["--input-raw", port(4), "--output-file", f"{tmp}/requests.gor-%Y-%m-%d-%H.log"], o[4]
        ),
        "000 header limiter to tcp": Live(
            [
                "--input-raw",
                port(5),
                "--output-tcp",
                f"http://127.0.0.1:{tcp}|100%",
                "--http-header-limiter",
                "X-API-KEY: 10%",
            ],
            o[5],
            headers=("X-API-KEY: k6",),  # FNV-1a("k6") % 100 < 10: kept by the 10% limiter
        ),
        "000 filters and rewrites": Live(
            [
                "--input-raw",
                port(6),
                "--output-http",
                t[3].url,
                "--http-allow-url",
                "/api",
                "--http-disallow-url",
                "/api/5",
                "--http-allow-header",
                r"api-version:^1\.0\d",
                "--http-allow-method",
                "GET",
                "--http-allow-method",
                "OPTIONS",
                "--http-rewrite-url",
                r"/api/([^\/]+):/v2/api/$1",
                "--http-set-param",
                "api_key=1",
                "--http-header",
                "User-Agent: Replayed by Gor",
                "--http-header",
                "Enable-Feature-X: true",
            ],
            o[6],
            [t[3]],
            headers=("api-version: 1.01",),
        ),
        "000 middleware": Live(
            ["--input-raw", port(7), "--middleware", mw_echo, "--output-http", t[4].url],
            o[7],
            [t[4]],
        ),
        "000 tracked to stdout": Live(
            [
                "--input-raw",
                port(8),
                f"--output-http={t[5].url}",
                "--output-stdout",
                "--input-raw-track-response",
                "--output-http-track-response",
            ],
            o[8],
            [t[5]],
        ),
        "000 prettify": Live(
            [
                "--input-raw",
                port(9),
                f"--output-http={t[6].url}",
                "--input-raw-track-response",
                "--output-http-track-response",
                "--prettify-http",
                "--middleware",
                mw_echo,
            ],
            o[9],
            [t[6]],
        ),
        "002 comparison middleware": Live(
            [
                "--input-raw",
                port(10),
                "--input-raw-track-response",
                "--output-http",
                t[7].url,
                "--output-http-track-response",
                "--middleware",
                compare,
                "--http-allow-url",
                "/v2/robot/query",
                "--http-allow-url",
                "/v2/robot/input_hint",
                "--http-allow-url",
                "/v1/robot/intention",
            ],
            o[10],
            [t[7]],
            paths=PATHS_2,
        ),
    }


def test_the_seed_documents_live_capture_lines(tmp_path: Path) -> None:
    tcp = free_port()
    with servers(11) as origins, servers(8) as targets:
        lines = seed_lines(origins, targets, tmp_path, tcp)
        # the replay host of seed 004 (`--input-tcp`), fed by the "header limiter" line
        replayer = subprocess.Popen(
            [
                PY,
                "-m",
                "shadowdiff",
                "gor",
                "--input-tcp",
                f":{tcp}",
                "--output-file",
                f"{tmp_path}/from-tcp.gor",
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for live in lines.values():
            live.child = subprocess.Popen(
                [PY, "-m", "shadowdiff", "gor", *live.argv, "--db", str(tmp_path / "s.db")],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={"SHADOWDIFF_COMPARE_LOG": str(tmp_path / "compare.log"), **os.environ},
            )
        for live in lines.values():
            _wait_capturing(live)
        for live in lines.values():
            port = live.origin.port
            talk(port, [request(p, *live.headers, port=port) for p in live.paths])
        time.sleep(1.5)  # the captures deliver, the middlewares echo
        for live in lines.values():
            assert live.child is not None
            live.child.send_signal(signal.SIGINT)
        for live in lines.values():
            assert live.child is not None
            out, err = live.child.communicate(timeout=60)
            live.out, live.err = out, err.decode(errors="replace")
            assert live.child.returncode == 0, (live.argv, live.err)
        replayer.send_signal(signal.SIGINT)
        _, replayer_err = replayer.communicate(timeout=60)
        assert replayer.returncode == 0, replayer_err
        check_seed_lines(lines, tmp_path)


def _wait_capturing(live: Live) -> None:
    assert live.child is not None and live.child.stderr is not None
    deadline, seen = time.monotonic() + 30, b""
    while time.monotonic() < deadline:
        line = live.child.stderr.readline()
        seen += line
        if b"capturing on" in line:
            return
        if not line and live.child.poll() is not None:
            break
    raise AssertionError(f"{live.argv}: no capture: {seen.decode(errors='replace')}")


def check_seed_lines(lines: dict[str, Live], tmp: Path) -> None:
    stdout = records_in(lines["000 stdout"].out)
    assert [r.type for r in stdout] == [1] * 6  # no --input-raw-track-response: requests only
    assert sorted(r.payload.split(b" ")[1] for r in stdout) == sorted(
        p.encode() for p in lines["000 stdout"].paths
    )
    assert len(lines["000 forward"].targets[0].received) == 6
    one, two = lines["000 split"].targets
    assert (len(one.received), len(two.received)) == (3, 3)
    (chunk,) = tmp.glob("requests_*.gor")
    assert chunk.name == "requests_0.gor"
    assert [r.type for r in read_gor(chunk, _fail)] == [1] * 6
    (hourly,) = tmp.glob("requests.gor-*.log")
    assert hourly.name.startswith(f"requests.gor-{time.strftime('%Y-%m-%d')}-")
    assert hourly.name.endswith("_0.log")
    via_tcp = list(read_gor(tmp / "from-tcp_0.gor", _fail))  # the capture host's requests
    assert sorted(r.payload.split(b" ")[1] for r in via_tcp) == sorted(
        p.encode() for p in lines["000 header limiter to tcp"].paths
    )
    filtered = lines["000 filters and rewrites"].targets[0]
    assert sorted(raw.split(b" ")[1] for raw in filtered.received) == [
        f"/v2/api/{i}?api_key=1".encode() for i in range(5)
    ]
    assert all(b"User-Agent: Replayed by Gor\r\n" in raw for raw in filtered.received)
    assert all(b"Enable-Feature-X: true\r\n" in raw for raw in filtered.received)
    assert len(lines["000 middleware"].targets[0].received) == 6
    tracked = records_in(lines["000 tracked to stdout"].out)
    assert sorted(r.type for r in tracked) == [1] * 6 + [2] * 6 + [3] * 6
    assert len(lines["000 prettify"].targets[0].received) == 6
    compared = (tmp / "compare.log").read_text().splitlines()
    assert sorted(line.split()[1] for line in compared) == sorted(PATHS_2[:3])


def _fail(problem: object) -> None:
    raise AssertionError(problem)


# --- recordings: --input-file ---------------------------------------------------------------


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    exchanges = [
        make_exchange(
            make_request(target=f"/r/{i}"), make_response(json={"i": i}), timestamp=i * 20_000_000
        )
        for i in range(10)
    ]  # 10 requests, 20 ms apart
    path = tmp_path / "requests.gor"
    write_gor(path, gor_records_for(exchanges))
    return path


def gor(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    done = run_cli("gor", *argv, "--db", str(tmp_path / "s.db"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done


def test_seed_file_lines(tmp_path: Path, recording: Path) -> None:
    second = tmp_path / "requests.gor2"
    second.write_bytes(recording.read_bytes())
    with RawServer(respond) as target:
        gor(tmp_path, "--input-file", str(recording), f"--output-http={target.url}")
        assert len(target.received) == 10
        gor(
            tmp_path,
            "--input-file",
            str(recording),
            "--input-file",
            str(second),
            f"--output-http={target.url}",
        )
        assert len(target.received) == 30
        started = time.monotonic()
        gor(tmp_path, "--input-file", f"{recording}|200%", "--output-http", target.url)
        assert len(target.received) == 40 and time.monotonic() - started >= 0.09  # 180 ms / 2
        gor(
            tmp_path,
            "--input-file",
            str(recording),
            "--output-http",
            target.url,
            "--input-file-loop",
            "--exit-after",
            "1s",
        )
        assert len(target.received) >= 40 + 20  # at least two passes
        before = len(target.received)
        gor(
            tmp_path,
            "--input-file",
            f"{recording}|300%",
            f"--output-http={target.url}",
            "--input-file-loop",
            "--exit-after",
            "1s",
        )
        assert len(target.received) - before >= 20
    with RawServer(respond) as halved:
        for _ in range(6):
            gor(tmp_path, "--input-file", f"{recording}|1000%", f"--output-http={halved.url}|50%")
        assert 10 < len(halved.received) < 50  # 60 sent, each kept with probability 1/2
    assert len(runs_in(tmp_path / "s.db")) == 11


def test_recorded_files_written_by_gor_parse_as_goreplay_framing(
    tmp_path: Path, recording: Path
) -> None:
    done = gor(tmp_path, "--input-file", f"{recording}|1000%", "--output-stdout")
    assert sorted(r.type for r in records_in(done.stdout.encode())) == [1] * 10 + [2] * 10
    gor(
        tmp_path,
        "--input-file",
        f"{recording}|1000%",
        "--output-file",
        f"{tmp_path}/out.gor",
        "--output-file-queue-limit",
        "4",
    )
    chunks = sorted(tmp_path.glob("out_*.gor"), key=lambda p: int(p.stem.split("_")[1]))
    assert [p.name for p in chunks] == [f"out_{i}.gor" for i in range(5)]  # 20 records, 4 each
    assert sum(len(list(read_gor(p, _fail))) for p in chunks) == 20


# --- TCP: --input-tcp fed by --output-tcp (seed 004) ------------------------------------------


def test_seed_004_capture_hosts_feed_one_replayer(tmp_path: Path, recording: Path) -> None:
    tcp = free_port()
    with RawServer(respond) as staging, RawServer(respond) as dev:
        replayer = subprocess.Popen(
            [
                PY,
                "-m",
                "shadowdiff",
                "gor",
                "--input-tcp",
                f":{tcp}",
                "--output-http",
                staging.url,
                "--output-http",
                dev.url,
                "--db",
                str(tmp_path / "s.db"),
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for_line(replayer, "listening on", timeout=30)
        for _ in range(2):  # two capture hosts
            gor(tmp_path, "--input-file", f"{recording}|1000%", "--output-tcp", f"127.0.0.1:{tcp}")
        time.sleep(1.0)
        replayer.send_signal(signal.SIGINT)
        out, err = replayer.communicate(timeout=60)
        assert replayer.returncode == 0, err
        assert len(staging.received) == len(dev.received) == 20
    runs = runs_in(tmp_path / "s.db")
    assert sorted(runs.values())[-2:] == [20, 20]
    assert out.count("finished: 20 exchanges") == 2


# --- what shadowdiff does not do -------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            [
                "--input-raw",
                ":8000",
                "--output-http",
                "http://staging.cm",
                "--output-http-elasticsearch",
                "localhost:9200/gor",
            ],
            "report",
        ),
        (["--input-kafka-host", "k:9092", "--input-kafka-topic", "t", "--output-stdout"], "Redis"),
        (["--input-raw", "k8s://default/deployment/api:80", "--output-stdout"], "sidecar"),
        (["--input-raw", ":8000", "--output-nowhere"], "unknown GoReplay flag"),
    ],
)
def test_unsupported_lines_say_what_instead_in_one_line(argv: list[str], says: str) -> None:
    done = run_cli("gor", *argv)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("shadowdiff: error: ") and says in line


def test_gor_help_lists_the_flags() -> None:
    done = run_cli("gor", "--help")
    assert done.returncode == 0 and "--input-raw" in done.stdout and "--output-http" in done.stdout


def test_gor_json_of_a_run(tmp_path: Path, recording: Path) -> None:
    with RawServer(respond) as target:
        gor(
            tmp_path,
            "--input-file",
            f"{recording}|1000%",
            "--output-http",
            target.url,
            "--run",
            "g",
        )
    gate = run_cli("gate", "--db", str(tmp_path / "s.db"), "--run", "g", "--json")
    assert json.loads(gate.stdout)["exchanges"] == 10


def test_input_file_max_wait_caps_the_recorded_pauses(tmp_path: Path) -> None:
    exchanges = [
        make_exchange(make_request(target=f"/{i}"), make_response(), timestamp=i * 3_000_000_000)
        for i in range(3)
    ]  # 3 s apart: 6 s at the recorded pace
    write_gor(tmp_path / "slow.gor", gor_records_for(exchanges))
    with RawServer(respond) as target:
        started = time.monotonic()
        gor(tmp_path, "--input-file", str(tmp_path / "slow.gor"), "--output-http", target.url,
            "--input-file-max-wait", "100ms")  # fmt: skip
        assert len(target.received) == 3
    assert time.monotonic() - started < 5.0


def test_input_file_takes_a_glob(tmp_path: Path, recording: Path) -> None:
    for n in (1, 2):
        (tmp_path / f"logs-{n}.gor").write_bytes(recording.read_bytes())
    with RawServer(respond) as target:
        gor(tmp_path, "--input-file", f"{tmp_path}/logs-*|1000%", "--output-http", target.url)
        assert len(target.received) == 20
    done = run_cli("gor", "--input-file", f"{tmp_path}/none-*", "--output-stdout")
    assert done.returncode == 2 and "no file matches" in done.stderr


def test_prettify_decodes_bodies_before_the_middleware(tmp_path: Path) -> None:
    body = b'{"plain": "text"}'
    zipped = make_response(
        body=gzip.compress(body, mtime=0),
        headers=[("Content-Encoding", "gzip")],
        content_type="application/json",
    )
    write_gor(tmp_path / "z.gor", gor_records_for([make_exchange(make_request(), zipped)]))
    echo = f"{PY} {MIDDLEWARES / 'raw.py'} echo"
    done = gor(tmp_path, "--input-file", f"{tmp_path}/z.gor|1000%", "--middleware", echo,
               "--prettify-http", "--output-stdout")  # fmt: skip
    (_, response) = records_in(done.stdout.encode())
    assert b"Content-Encoding" not in response.payload
    # (run_cli reads stdout as text: its CRLFs come back as LFs)
    assert response.payload.endswith(b"\nContent-Length: 17\n\n" + body)


def test_a_listener_stopped_by_ctrl_c_replays_everything_it_received(tmp_path: Path) -> None:
    exchanges = [make_exchange(make_request(target=f"/{i}"), make_response()) for i in range(20)]
    write_gor(tmp_path / "twenty.gor", gor_records_for(exchanges))
    tcp = free_port()
    with RawServer(respond, delay=0.05) as slow:
        replayer = subprocess.Popen(
            [PY, "-m", "shadowdiff", "gor", "--input-tcp", f":{tcp}", "--output-http", slow.url,
             "--output-http-workers", "1", "--db", str(tmp_path / "s.db")],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_for_line(replayer, "listening on", timeout=30)
        gor(tmp_path, "--input-file", f"{tmp_path}/twenty.gor|1000%", "--output-tcp", f":{tcp}")
        time.sleep(0.3)
        replayer.send_signal(signal.SIGINT)  # while most are still waiting for the target
        out, err = replayer.communicate(timeout=60)
        assert replayer.returncode == 0, err
        assert len(slow.received) == 20
    assert "finished: 20 exchanges" in out


def test_an_output_http_url_with_a_path_gets_every_request_as_goreplay_sends_it(
    tmp_path: Path, recording: Path
) -> None:
    with RawServer(respond) as target:
        gor(
            tmp_path,
            "--input-file",
            f"{recording}|1000%",
            "--output-http",
            f"{target.url}/ping?x=1",
        )
        assert {raw.split(b" ")[1] for raw in target.received} == {b"/ping?x=1"}


def test_interface_overrides_where_input_raw_captures(tmp_path: Path) -> None:
    with RawServer(respond) as origin:
        child = subprocess.Popen(
            [PY, "-m", "shadowdiff", "gor", "--input-raw", f"10.255.255.1:{origin.port}",
             "--interface", "lo", "--output-stdout"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_for_line(child, "capturing on lo", timeout=60)
            talk(origin.port, [request("/via-lo", port=origin.port)])
            time.sleep(1.0)
            child.send_signal(signal.SIGINT)
            out, err = child.communicate(timeout=60)
        finally:  # a failure here must not leave the capture running into the next tests
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert child.returncode == 0, err
    assert [r.payload.split(b" ")[1] for r in records_in(out.encode())] == [b"/via-lo"]
