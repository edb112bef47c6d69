"""`shadowdiff record` with real tshark capturing real traffic on `lo` (CI runs as root and
installs tshark: a missing tshark fails these tests, it does not skip them)."""

from __future__ import annotations

import gzip
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import h11
import pytest

from shadowdiff.gorfile import read_gor
from tests.servers import RawServer

LARGE = b'{"blob": "' + b"x" * 250_000 + b'"}'
GZIPPED = gzip.compress(b'{"items": [1, 2, 3]}' * 50, mtime=0)
Recorder = tuple[RawServer, Path, "subprocess.Popen[str]"]


def respond(raw: bytes, conn: socket.socket) -> None:
    """Answers by path: chunked, gzip, large, or a small JSON body."""
    path = raw.split(b" ", 2)[1]
    if path.startswith(b"/chunked"):
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b'Transfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
        )
    elif path.startswith(b"/gzip"):
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip"
            b"\r\nContent-Length: %d\r\n\r\n%s" % (len(GZIPPED), GZIPPED)
        )
    elif path.startswith(b"/large"):
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(LARGE), LARGE)
        )
    else:
        body = b'{"path": "%s"}' % path
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )


def request(path: str, *headers: str, body: bytes = b"", port: int) -> bytes:
    lines = [
        f"{'POST' if body else 'GET'} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "User-Agent: live-test/1.0",
        *headers,
    ]
    if body and not any(h.lower().startswith("transfer-encoding") for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_responses(sock: socket.socket, count: int) -> None:
    """Read `count` whole responses (h11 finds their ends; bytes past one are the next's)."""
    leftover = b""
    for _ in range(count):
        parser = h11.Connection(h11.CLIENT)
        parser.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        parser.send(h11.EndOfMessage())
        if leftover:  # (empty bytes would mean end of stream to h11)
            parser.receive_data(leftover)
        while not isinstance(event := parser.next_event(), h11.EndOfMessage):
            if event is h11.NEED_DATA:
                parser.receive_data(sock.recv(65536))
        leftover = bytes(parser.trailing_data[0])


def talk(port: int, requests: list[bytes], pipelined: bool = False) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        if pipelined:
            sock.sendall(b"".join(requests))
            read_responses(sock, len(requests))
            return
        for raw in requests:
            sock.sendall(raw)
            read_responses(sock, 1)


def expect_continue(port: int) -> bytes:
    """A request sent as a client waiting for `100 Continue` sends it; its bytes."""
    body = b'{"upload": "' + b"y" * 5000 + b'"}'
    head = (
        f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nExpect: 100-continue\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        read_responses(sock, 1)
    return head + body


def wait_for_line(child: subprocess.Popen[str], text: str, timeout: float) -> None:
    assert child.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([child.stderr], [], [], 0.2)
        if ready:
            line = child.stderr.readline()
            seen.append(line)
            if text in line:
                return
            if not line and child.poll() is not None:
                break
    raise AssertionError(f"no {text!r} from record: {''.join(seen)}")


def start_record(port: int, out: Path, *flags: str) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "shadowdiff",
        "record",
        "-i",
        "lo",
        "-p",
        str(port),
        "-o",
        str(out),
        *flags,
    ]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_line(child, "capturing on lo", timeout=30)
    return child


@pytest.fixture(params=["dumpcap", "tshark"])
def recorder(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Recorder]:
    out = tmp_path / "live.gor"
    with RawServer(respond) as server:
        child = start_record(server.port, out, "--engine", request.param)
        yield server, out, child
        if child.poll() is None:
            child.kill()
            child.wait()


def test_recorded_bytes_equal_sent_bytes_and_every_request_has_its_response(
    recorder: Recorder,
) -> None:
    server, out, child = recorder
    port = server.port
    fresh = request("/fresh", "Connection: close", port=port)
    talk(port, [fresh])
    keep_alive = [request(f"/keep/{i}", port=port) for i in range(5)]
    talk(port, keep_alive)
    pipelined = [request(f"/pipe/{i}", port=port) for i in range(3)]
    talk(port, pipelined, pipelined=True)
    chunked = request(
        "/chunked",
        "Transfer-Encoding: chunked",
        body=b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        port=port,
    )
    gz = request("/gzip", "Accept-Encoding: gzip", port=port)
    large_post = request("/large", body=b"z" * 300_000, port=port)
    talk(port, [chunked, gz, large_post])
    sent = [fresh, *keep_alive, *pipelined, chunked, gz, large_post, expect_continue(port)]
    child.send_signal(signal.SIGINT)  # right away: record drains what is still on its way
    stdout, stderr = child.communicate(timeout=30)
    assert child.returncode == 0, stderr
    assert f"recorded {len(sent)} exchanges" in stdout
    assert "lost 0" in stderr

    records = list(read_gor(out, on_problem=lambda p: pytest.fail(str(p))))
    requests = {r.id: r.payload for r in records if r.type == 1}
    responses = {r.id: r.payload for r in records if r.type == 2}
    assert sorted(requests.values()) == sorted(sent)
    assert sorted(server.received) == sorted(sent)
    assert requests.keys() == responses.keys()
    by_request = {requests[i]: responses[i] for i in requests}
    assert by_request[large_post].endswith(LARGE)
    assert by_request[gz].endswith(GZIPPED)
    assert by_request[sent[-1]].startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")


def run_record(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`shadowdiff record ARGS` to the end, in a child process."""
    command = [sys.executable, "-m", "shadowdiff", "record", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def test_record_stops_after_duration_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    out, scratch = tmp_path / "idle.gor", tmp_path / "scratch"
    scratch.mkdir()
    done = run_record(
        "-i",
        "lo",
        "-p",
        "9",
        "-o",
        str(out),
        "--duration",
        "3",
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert done.returncode == 0, done.stderr
    assert "capturing on lo" in done.stderr and "recorded 0 exchanges" in done.stdout
    assert out.exists() and out.read_bytes() == b""
    assert list(scratch.iterdir()) == []  # tshark's capture file is gone


@pytest.mark.parametrize(
    ("engine", "message"),
    [
        ("dumpcap", "dumpcap not found: install tshark, which brings it (Debian/Ubuntu: "),
        ("tshark", "tshark not found: install it (Debian/Ubuntu: "),
    ],
)
def test_without_tshark_record_exits_3_with_what_to_install(
    tmp_path: Path, engine: str, message: str
) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # neither tshark nor dumpcap on this PATH
    out = str(tmp_path / "x.gor")
    done = run_record("-i", "lo", "-p", "80", "-o", out, "--engine", engine, env=env)
    assert done.returncode == 3
    assert done.stderr.strip() == f"shadowdiff: error: {message}apt-get install tshark)"


def test_without_capture_permission_record_exits_3_naming_the_capabilities(
    tmp_path: Path,
) -> None:
    """Root without CAP_NET_RAW/CAP_NET_ADMIN (dropped from the bounding set by setpriv, so
    dumpcap cannot regain them) is refused the capture socket, as an ordinary user is."""
    command = [
        "setpriv",
        "--bounding-set=-net_raw,-net_admin",
        "--inh-caps=-net_raw,-net_admin",
        sys.executable,
        "-m",
        "shadowdiff",
        "record",
        "-i",
        "lo",
        "-p",
        "80",
        "-o",
        str(tmp_path / "x.gor"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "no permission to capture" in lines[0] and "cap_net_raw,cap_net_admin" in lines[0]
    assert not (tmp_path / "x.gor").exists() or (tmp_path / "x.gor").read_bytes() == b""


def test_an_invalid_capture_filter_exits_2_with_dumpcaps_reason(tmp_path: Path) -> None:
    done = run_record("-i", "lo", "-p", "80", "--bpf", "port nonsense", "-o", "-")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shadowdiff: error: --bpf/--port: Invalid")


def test_unknown_interface_exits_3(tmp_path: Path) -> None:
    done = run_record("-i", "nosuchif0", "-p", "80", "-o", str(tmp_path / "x.gor"))
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--interface nosuchif0" in lines[0]


def test_ipv6_and_several_ports_are_captured(tmp_path: Path) -> None:
    """Two servers, one on ::1 and one on 127.0.0.1, captured by one record with two ports."""
    out = tmp_path / "two.gor"
    with V6Server() as six, RawServer(respond) as four:
        child = start_record(six.port, out, "-p", str(four.port))
        sent6 = request("/v6", port=six.port).replace(b"127.0.0.1", b"[::1]")
        with socket.create_connection(("::1", six.port), timeout=10) as sock:
            sock.sendall(sent6)
            read_responses(sock, 1)
        sent4 = request("/v4", port=four.port)
        talk(four.port, [sent4])
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    requests = sorted(r.payload for r in read_gor(out, lambda p: None) if r.type == 1)
    assert requests == sorted([sent6, sent4])


class V6Server(RawServer):
    """RawServer listening on ::1."""

    def __init__(self) -> None:
        super().__init__(respond)
        self._sock.close()
        self._sock = socket.create_server(("::1", 0), family=socket.AF_INET6, backlog=16)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://[::1]:{self.port}"
